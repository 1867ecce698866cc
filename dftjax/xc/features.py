"""Density features on grid points from AO values and spin density matrices.

With phi (npts, nao) the AO values, grad phi (3, npts, nao) their gradients and D_s
(2, nao, nao) the (symmetric) spin density matrices, libxc conventions:

    rho_s      = sum_mn phi_m D_s,mn phi_n
    grad rho_s = 2 sum_mn phi_m D_s,mn grad phi_n
    sigma      = (grad rho_a . grad rho_a, grad rho_a . grad rho_b, grad rho_b . grad rho_b)
    tau_s      = 1/2 sum_mn grad phi_m . grad phi_n D_s,mn

Everything is a differentiable function of D. :func:`density_features` is the dense
form (every point, every AO: training and density plots); the XC energy itself, for the
SCF and the nuclear gradients alike, is evaluated only on screened blocks
(:mod:`dftjax.xc.blocked`).

:func:`block_density` and :func:`block_potential` are the two contractions of the blocked
XC path (:mod:`dftjax.xc.blocked`) on one block of points: the features of a density
matrix, and the potential matrix of given per-point coefficients. On a GPU or TPU they
run as Pallas kernels (``dftjax_kernels``, from the repository's ``kernels/`` folder)
when that package is installed; these plain-JAX forms are their reference twins. The
choice: ``DFTJAX_KERNELS=pallas`` or ``=jax`` forces one, the default (``auto``) takes
the kernels only on a "gpu" or "tpu" backend.
"""

import os
from functools import partial

import jax
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


def block_density_jax(ao, density, with_grad, with_tau):
    """rho_s, grad rho_s, tau_s on a block of points: (S, 1 + 3 with_grad + with_tau, B).

    ``ao`` (ncomp, B, n): AO values, then d/dx, d/dy, d/dz (ncomp = 4) when a gradient or
    tau is asked for; ``density`` (S, n, n) symmetric. Rows: rho, then grad rho (x, y, z),
    then tau, as in the module docstring.
    """
    ncomp, npoint, nao = ao.shape
    nspin = density.shape[0]
    # phi D and (for tau) grad phi D as one (k B, n) x (n, S n) product
    k = 4 if with_tau else 1
    products = jnp.dot(ao[:k].reshape(k * npoint, nao), jnp.concatenate(list(density), axis=1))
    products = products.reshape(k, npoint, nspin, nao)
    rows = [jnp.einsum("bsn,bn->sb", products[0], ao[0])[:, None]]
    if with_grad:
        rows.append(2.0 * jnp.einsum("bsn,xbn->sxb", products[0], ao[1:4]))
    if with_tau:
        rows.append(0.5 * jnp.einsum("xbsn,xbn->sb", products[1:], ao[1:4])[:, None])
    return jnp.concatenate(rows, axis=1)


def block_potential_jax(ao, v_rho, g=None, v_tau=None):
    """V_s = Y_s + Y_s^T, Y_s = phi^T (v_rho phi + g . grad phi) + grad phi^T (v_tau grad phi).

    ``ao`` (ncomp, B, n); ``v_rho`` (S, B); ``g`` (S, 3, B) or None; ``v_tau`` (S, B) or None.
    Returns (S, n, n). With v_rho = 1/2 w de/drho_s, g = w de/d(grad rho_s) and v_tau =
    1/4 w de/dtau_s this is the XC potential matrix of the block.
    """
    # Written as elementwise sums and one plain product per spin: the einsums of the
    # same (with the spin and gradient axes as batch dimensions) ran 1.6x slower on
    # XLA:CPU (benzene/6-31G*, B3LYP potential: 125 -> 76 ms per SCF step).
    mixed = v_rho[:, :, None] * ao[0]
    if g is not None:
        mixed = mixed + sum(g[:, x, :, None] * ao[1 + x] for x in range(3))
    if v_tau is None:
        left, rights, contract = ao[0], [mixed[s] for s in range(len(mixed))], ((0,), (0,))
    else:  # one product over the stacked (value, gradient) rows
        left, contract = ao[:4], ((0, 1), (0, 1))
        rights = [jnp.concatenate([mixed[s][None], v_tau[s][None, :, None] * ao[1:4]])
                  for s in range(len(mixed))]
    y = jnp.stack([jax.lax.dot_general(left, right, (contract, ((), ()))) for right in rights])
    return y + jnp.swapaxes(y, -1, -2)


def use_kernels():
    """Whether :func:`block_density` and :func:`block_potential` take the Pallas kernels."""
    choice = os.environ.get("DFTJAX_KERNELS", "auto").lower()
    if choice not in ("auto", "pallas", "jax"):
        raise ValueError(f"DFTJAX_KERNELS must be auto, pallas or jax, not {choice!r}")
    if choice == "jax" or (choice == "auto" and jax.default_backend() not in ("gpu", "tpu")):
        return False
    try:
        import dftjax_kernels  # noqa: F401
    except ImportError:
        if choice == "pallas":
            raise
        return False
    return True


def block_density(ao, density, with_grad, with_tau):
    """:func:`block_density_jax`, or its Pallas kernel where :func:`use_kernels` says so."""
    if use_kernels():
        return _density_kernel(ao, density, with_grad, with_tau)
    return block_density_jax(ao, density, with_grad, with_tau)


def block_potential(ao, v_rho, g=None, v_tau=None):
    """:func:`block_potential_jax`, or its Pallas kernel where :func:`use_kernels` says so."""
    if use_kernels():
        return _potential_kernel(ao, v_rho, g, v_tau)
    return block_potential_jax(ao, v_rho, g, v_tau)


# Pallas calls have no derivative rules of their own. The kernels compute the same
# functions as their plain-JAX twins, so their derivatives are the twins' (forward mode
# here; reverse mode transposes it): the XC energy and potential stay differentiable
# (forces, implicit derivatives, training) where the kernels run.
@partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def _density_kernel(ao, density, with_grad, with_tau):
    from dftjax_kernels import block_density as kernel
    return kernel(ao, density, with_grad, with_tau)


@_density_kernel.defjvp
def _density_kernel_jvp(with_grad, with_tau, primals, tangents):
    twin = lambda ao, density: block_density_jax(ao, density, with_grad, with_tau)
    return _density_kernel(*primals, with_grad, with_tau), jax.jvp(twin, primals, tangents)[1]


@jax.custom_jvp
def _potential_kernel(ao, v_rho, g, v_tau):
    from dftjax_kernels import block_potential as kernel
    return kernel(ao, v_rho, g, v_tau)


@_potential_kernel.defjvp
def _potential_kernel_jvp(primals, tangents):
    return _potential_kernel(*primals), jax.jvp(block_potential_jax, primals, tangents)[1]
