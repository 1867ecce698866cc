"""Density features on grid points from AO values and spin density matrices.

With phi (npts, nao) the AO values, grad phi (3, npts, nao) their gradients and D_s
(2, nao, nao) the (symmetric) spin density matrices, libxc conventions:

    rho_s      = sum_mn phi_m D_s,mn phi_n
    grad rho_s = 2 sum_mn phi_m D_s,mn grad phi_n
    sigma      = (grad rho_a . grad rho_a, grad rho_a . grad rho_b, grad rho_b . grad rho_b)
    tau_s      = 1/2 sum_mn grad phi_m . grad phi_n D_s,mn

Everything is a differentiable function of D, so the XC potential matrix is
dE_xc/dD by autodiff.
"""

import jax.numpy as jnp

from .functional import Features


def density_features(ao, density, needs=("rho", "sigma", "tau")) -> Features:
    """Features of spin densities ``density`` (2, nao, nao) on points.

    ``ao`` is (1 or 4, npts, nao): values, then d/dx, d/dy, d/dz when sigma or tau is needed.
    """
    phi = ao[0]
    phi_d = jnp.einsum("gm,smn->sgn", phi, density)
    rho = jnp.einsum("sgn,gn->sg", phi_d, phi)
    sigma = tau = None
    if "sigma" in needs or "tau" in needs:
        grad_phi = ao[1:4]
        if "sigma" in needs:
            grad = 2.0 * jnp.einsum("sgn,xgn->sxg", phi_d, grad_phi)
            sigma = jnp.stack([jnp.sum(grad[0] * grad[0], axis=0),
                               jnp.sum(grad[0] * grad[1], axis=0),
                               jnp.sum(grad[1] * grad[1], axis=0)])
        if "tau" in needs:
            tau = 0.5 * jnp.einsum("xgm,smn,xgn->sg", grad_phi, density, grad_phi)
    return Features(rho=rho, sigma=sigma, tau=tau)


def xc_energy(functional, params, ao, weights, density):
    """E_xc = sum_g w_g e_xc(g) (Hartree) for spin densities (2, nao, nao)."""
    features = density_features(ao, density, functional.needs)
    return jnp.sum(weights * functional.energy_density(params, features))
