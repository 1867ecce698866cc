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
    npts, nao = phi.shape
    # One (npts, nao) x (nao, 2 nao) product for both spins, then element-wise
    # reductions: several times faster on CPU than the equivalent batched einsums.
    phi_d = (phi @ jnp.concatenate([density[0], density[1]], axis=1))
    phi_d = jnp.moveaxis(phi_d.reshape(npts, 2, nao), 1, 0)
    rho = jnp.sum(phi_d * phi, axis=-1)
    sigma = tau = None
    if "sigma" in needs or "tau" in needs:
        grad_phi = ao[1:4]
        if "sigma" in needs:
            grad = 2.0 * jnp.sum(phi_d[:, None] * grad_phi[None], axis=-1)
            sigma = jnp.stack([jnp.sum(grad[0] * grad[0], axis=0),
                               jnp.sum(grad[0] * grad[1], axis=0),
                               jnp.sum(grad[1] * grad[1], axis=0)])
        if "tau" in needs:
            grad_flat = grad_phi.reshape(3 * npts, nao)
            grad_d = (grad_flat @ jnp.concatenate([density[0], density[1]], axis=1))
            grad_d = jnp.moveaxis(grad_d.reshape(3, npts, 2, nao), 2, 0)
            tau = 0.5 * jnp.sum(grad_d * grad_phi[None], axis=(1, 3))
    return Features(rho=rho, sigma=sigma, tau=tau)


def xc_energy(functional, params, ao, weights, density):
    """E_xc = sum_g w_g e_xc(g) (Hartree) for spin densities (2, nao, nao)."""
    features = density_features(ao, density, functional.needs)
    return jnp.sum(weights * functional.energy_density(params, features))
