"""Orbital rotations of a single determinant and the energy along them.

C_s -> C_s exp(K_s), K_s = kappa_s - kappa_s^T with kappa_s (nmo, nmo) nonzero only in the
virtual-occupied block; D_s(kappa) = C_s exp(K_s) n_s exp(-K_s) C_s^T. The stability
analysis (:mod:`dftjax.scf.stability`) and the second-order solver
(:mod:`dftjax.scf.second_order`) both work in these variables: Hessian-vector products
d^2 E(D(kappa)) / d kappa^2 v come from forward-over-reverse autodiff of the energy
model's own E(D).
"""

import jax
import jax.numpy as jnp

from dftjax.scf.driver import density_from_orbitals
from dftjax.scf.energy import EnergyModel


def _energy_function(model):
    """E(D) of a model: its ``energy_fn``, or the energy half of a plain ``fock_and_energy``."""
    if isinstance(model, EnergyModel):
        return lambda density: model.energy_fn(density, model.params)
    return lambda density: model(density)[1]


def rotated_orbitals(mo_coeff, kappa, exact=True):
    """C_s U_s, U_s = exp(kappa_s - kappa_s^T); (2, nao, nmo).

    kappa (2, nmo, nmo) nonzero only in the virtual-occupied block. ``exact=False`` takes
    U to second order, 1 + K + K^2 / 2, which has the same derivatives up to second order
    at kappa = 0 and differentiates cheaply.
    """
    generator = kappa - jnp.swapaxes(kappa, -1, -2)
    if exact:
        rotation = jax.vmap(jax.scipy.linalg.expm)(generator)
    else:
        rotation = jnp.eye(kappa.shape[-1]) + generator + 0.5 * generator @ generator
    return mo_coeff @ rotation


def rotated_density(mo_coeff, mo_occ, kappa, exact=True):
    """D_s = C_s U_s n_s U_s^T C_s^T with the rotation of :func:`rotated_orbitals`;
    (2, nao, nao)."""
    return density_from_orbitals(rotated_orbitals(mo_coeff, kappa, exact), mo_occ)


def _kappa(x, signs):
    return jnp.asarray(signs)[:, None, None] * x  # (1 or 2, nmo, nmo) -> (2, nmo, nmo)


@jax.jit
def _hessian_vector(model, mo_coeff, mo_occ, signs, mask, x):
    energy = _energy_function(model)
    along = lambda y: energy(rotated_density(mo_coeff, mo_occ, _kappa(y, signs), exact=False))
    _, product = jax.jvp(jax.grad(along), (jnp.zeros_like(x),), (x,))
    return product * mask


@jax.jit
def _energy_along(model, mo_coeff, mo_occ, signs, x):
    return _energy_function(model)(rotated_density(mo_coeff, mo_occ, _kappa(x, signs)))
