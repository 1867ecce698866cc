"""Orbital rotations of a single determinant and the energy along them.

C_s -> C_s exp(K_s), K_s = kappa_s - kappa_s^T with kappa_s (nmo, nmo) nonzero only in the
virtual-occupied block; D_s(kappa) = C_s exp(K_s) n_s exp(-K_s) C_s^T. The stability
analysis (:mod:`dftjax.scf.stability`) and the second-order solver
(:mod:`dftjax.scf.second_order`) both work in these variables: Hessian-vector products
d^2 E(D(kappa)) / d kappa^2 v come from forward-over-reverse autodiff of the energy
model's own E(D) (:func:`_hessian_vector`: the RHF -> UHF analysis, traced orbitals), or
from central differences of the orbital gradient, two Fock builds in the SCF's own
compiled step (:func:`finite_difference_hessian_vector`: the internal analyses and the
descent). The two agree where the orbital gradient vanishes; elsewhere the differences
leave out the Hessian's terms in it (see :func:`_rotated_gradient`).
"""

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.scf.driver import _evaluated_state_jit, density_from_orbitals, empty_state
from dftjax.scf.energy import EnergyModel


def _energy_function(model):
    """E(D) of a model: its ``energy_fn``, or the energy half of a plain ``fock_and_energy``."""
    if isinstance(model, EnergyModel):
        return lambda density: model.energy_fn(density, model.params)
    return lambda density: model(density)[1]


def rotated_orbitals(mo_coeff, kappa, exact=True, xp=jnp):
    """C_s U_s, U_s = exp(kappa_s - kappa_s^T); (2, nao, nmo).

    kappa (2, nmo, nmo) nonzero only in the virtual-occupied block. ``exact=False`` takes
    U to second order, 1 + K + K^2 / 2, which has the same derivatives up to second order
    at kappa = 0 and differentiates cheaply. ``xp=numpy``: host arrays, nothing compiled
    (the second-order form; the exact one is JAX's expm).
    """
    generator = kappa - xp.swapaxes(kappa, -1, -2)
    if exact:
        rotation = jax.vmap(jax.scipy.linalg.expm)(generator)
    else:
        rotation = xp.eye(kappa.shape[-1]) + generator + 0.5 * generator @ generator
    return mo_coeff @ rotation


def rotated_density(mo_coeff, mo_occ, kappa, exact=True):
    """D_s = C_s U_s n_s U_s^T C_s^T with the rotation of :func:`rotated_orbitals`;
    (2, nao, nao)."""
    return density_from_orbitals(rotated_orbitals(mo_coeff, kappa, exact), mo_occ)


def _kappa(x, signs, xp=jnp):
    return xp.asarray(signs)[:, None, None] * x  # (1 or 2, nmo, nmo) -> (2, nmo, nmo)


@jax.jit
def _hessian_vector(model, mo_coeff, mo_occ, signs, mask, x):
    energy = _energy_function(model)
    along = lambda y: energy(rotated_density(mo_coeff, mo_occ, _kappa(y, signs), exact=False))
    _, product = jax.jvp(jax.grad(along), (jnp.zeros_like(x),), (x,))
    return product * mask


@jax.jit
def _energy_along(model, mo_coeff, mo_occ, signs, x):
    return _energy_function(model)(rotated_density(mo_coeff, mo_occ, _kappa(x, signs)))


def _rotated_gradient(model, mo_coeff, mo_occ, signs, mask, x, restricted, diis_space):
    """The orbital gradient at the rotated orbitals C' = C U(kappa), kappa_s = sign_s x:
    g_s[a, i] = 2 (C'^T F_s C')_ai (n_i - n_a), F_s = dE/dD_s the model's Fock matrix at
    D(C'), summed over spins when x has one (chain rule through kappa_s = sign_s x);
    (1 or 2, nmo, nmo) NumPy, masked. ``restricted``: the model is a restricted SCF's
    (so D_a = D_b must hold: not for the external rotations).

    The Fock build is the SCF's own compiled step (:func:`~dftjax.scf.driver.evaluated_state`
    on a state shaped as the SCF's, ``diis_space`` its DIIS length), so nothing new
    compiles; the rotation and the products around it are host work (nmo^3).

    It is the gradient in the rotated orbitals' own coordinates, C' exp(K'), not d E / d x;
    the two differ by a linear map 1 + O(x) applied to it, so where the gradient vanishes
    (a converged SCF) their derivatives agree: d g(t v) / dt at t = 0 is the Hessian times
    v (:func:`finite_difference_hessian_vector`). Elsewhere d g(t v) / dt is
    2 (F_vv v - v F_oo + response)(n_i - n_a): the Hessian less its terms in the gradient
    F_vo, still a symmetric operator (the approximate Hessian of PySCF's Newton solver).
    """
    occ = np.asarray(mo_occ)
    coeff = rotated_orbitals(np.asarray(mo_coeff), _kappa(np.asarray(x), signs, np),
                             exact=False, xp=np)
    density = density_from_orbitals(coeff, occ, xp=np)
    state = empty_state(density, coeff.shape[-1], diis_space, xp=np)
    update = (state.fock_used, state.diis, state.mo_energy, coeff, occ, density)
    fock = np.asarray(_evaluated_state_jit(model, state, update, restricted=restricted).fock)
    fock_mo = np.swapaxes(coeff, -1, -2) @ fock @ coeff
    gradient = 2.0 * fock_mo * (occ[:, None, :] - occ[:, :, None])
    gradient = np.asarray(signs)[:, None, None] * gradient
    if np.shape(x)[0] == 1:
        gradient = gradient.sum(axis=0, keepdims=True)
    return gradient * np.asarray(mask)


#: Step (rad, along a unit vector) of :func:`finite_difference_hessian_vector`: its
#: truncation error is O(step^2) ~ 1e-8 relative, its rounding error ~1e-16 / step.
HESSIAN_STEP = 1e-4


def finite_difference_hessian_vector(model, mo_coeff, mo_occ, signs, mask, x, restricted,
                                     diis_space=8):
    """The orbital Hessian times ``x`` (1 or 2, nmo, nmo) by central differences of
    :func:`_rotated_gradient`: two Fock builds in the SCF's own compiled step, so nothing
    compiles, where forward-over-reverse autodiff through E (:func:`_hessian_vector`)
    compiles a program of its own (~4 s for a B3LYP radical in def2-SVP) and runs ~1.5x
    slower (CH3 B3LYP/def2-SVP: 0.30 s against 0.20 s a product). Exact to
    O(HESSIAN_STEP^2) and to the residual orbital gradient of the converged SCF (see
    :func:`_rotated_gradient`). Not for restricted models rotated apart in spin (the
    RHF -> UHF analysis): their Fock build assumes D_a = D_b.
    ``diis_space``: the SCF's DIIS length (its step program's shapes). NumPy out."""
    x = np.asarray(x)
    scale = float(np.linalg.norm(x))
    if scale == 0.0:
        return np.zeros_like(x)
    step = HESSIAN_STEP / scale
    gradient = lambda y: _rotated_gradient(model, mo_coeff, mo_occ, signs, mask, y, restricted,
                                           diis_space)
    return (gradient(step * x) - gradient(-step * x)) / (2.0 * step)
