"""The converged SCF density as a differentiable function: implicit differentiation.

``converged_density(config, model, overlap, guess)`` runs the SCF to convergence
(a ``lax.while_loop``, so it jits and vmaps) and returns the spin densities D*
(2, nao, nao). Its derivative comes from the implicit function theorem at the fixed
point, never from differentiating the loop or the eigenvectors (docs/design.md §9).

Parametrisation. Around the converged orbitals C0 (2, nao, nmo) with occupations n, the
orbitals for an overlap S and a real occupied-virtual rotation kappa are

    C(kappa, S) = C0 T(S) U(kappa),  T = (C0^T S C0)^(-1/2),  U = exp(K),
    K_ai = kappa_ai, K_ia = -kappa_ai  (a virtual, i occupied),

and D(kappa, S) = C n C^T. T keeps the orbitals orthonormal when S moves with the
atoms; both T and U are used through their Taylor series to second order, exact for
first and second derivatives at kappa = 0, C0^T S C0 = 1 (the only place they are
evaluated). The SCF solution kappa*(theta, S) makes the orbital gradient
g = dE(D(kappa, S); theta)/dkappa vanish, so for a cotangent Dbar of D*:

    kappa_bar = (dD/dkappa)^T Dbar,     H lambda = kappa_bar   (H = d^2E/dkappa^2),
    (theta_bar, S_bar) = d/d(theta, S) [ <Dbar, D(0, S)> - <lambda, g(0; theta, S)> ].

H is the orbital Hessian (the coupled-perturbed HF/KS matrix, XC kernel included by
autodiff); its products with vectors are forward-over-reverse derivatives of E, and the
linear system is solved by preconditioned conjugate gradients (preconditioner the
orbital-energy gaps). Restricted calculations rotate both spins together.

The solve is checked: its residual |H lambda - kappa_bar|, computed anew after the
conjugate gradients stop (:func:`conjugate_gradients`), must be below
``cg_check_rtol |kappa_bar| + cg_check_atol`` (:func:`cpks_multipliers` returns it).
Through ``jax.grad`` a failed solve gives NaN cotangents and a RuntimeWarning, never a
silently wrong derivative; :mod:`dftjax.train` calls the pieces itself to retry or leave
out the sample.
"""

import dataclasses
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from .driver import make_settings, scf_solve
from .occupations import aufbau_occupations


@dataclasses.dataclass(frozen=True)
class SolveConfig:
    """Static settings of the differentiable SCF (hashable). ``nalpha`` and ``nbeta`` may
    be None where every call passes them in its traced settings (training samples, so
    that molecules with different electron counts share compiled programs)."""

    nalpha: int
    nbeta: int
    restricted: bool
    conv_tol: float = 1e-11
    conv_tol_grad: float = 1e-7
    max_cycle: int = 100
    diis_space: int = 8
    cg_tol: float = 1e-12          # relative residual of the CPHF/CPKS solve
    cg_maxiter: int = 200
    # Acceptance of the solve: 1e4 above the CG target, so only a real failure (stagnation,
    # an indefinite Hessian, NaN) trips it; the absolute part (orbital-gradient units,
    # Hartree) covers a right-hand side that vanishes, as for an energy loss.
    cg_check_rtol: float = 1e-8
    cg_check_atol: float = 1e-14


def symmetric_orthogonalizer(overlap):
    """S^(-1/2) (nao, nao) by eigh; the traced path keeps every basis direction."""
    values, vectors = jnp.linalg.eigh(overlap)
    return (vectors / jnp.sqrt(values)) @ vectors.T


def solve_scf(config, model, overlap, guess, settings=None):
    """The forward SCF (``scf_solve``, a lax.while_loop) from ``guess`` (2, nao, nao);
    ``settings`` (damping, level shift: the retry ladder) default to plain DIIS.
    Returns (final SCFState, converged as a bool array)."""
    X = symmetric_orthogonalizer(overlap)
    if settings is None:
        if config.nalpha is None or config.nbeta is None:
            raise ValueError("a SolveConfig without electron counts needs the SCF settings "
                             "(make_settings(nalpha, nbeta))")
        settings = make_settings(config.nalpha, config.nbeta)
    state, converged = scf_solve(
        model, overlap, X, guess, settings, restricted=config.restricted,
        occupations=aufbau_occupations, conv_tol=config.conv_tol,
        conv_tol_grad=config.conv_tol_grad, max_cycle=config.max_cycle,
        diis_space=config.diis_space)
    return state, converged


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def converged_scf(config, model, overlap, guess):
    """(D* (2, nao, nao), mo_energy (2, nmo), mo_coeff (2, nao, nmo), mo_occ (2, nmo),
    converged) for an :class:`~dftjax.scf.energy.EnergyModel` and overlap (nao, nao).

    Only D* carries derivatives (with respect to ``model``'s params and ``overlap``);
    the orbitals are returned for convenience and are constants to autodiff.
    """
    state, converged = solve_scf(config, model, overlap, guess)
    return state.density, state.mo_energy, state.mo_coeff, state.mo_occ, converged


def _fwd(config, model, overlap, guess):
    state, converged = solve_scf(config, model, overlap, guess)
    out = (state.density, state.mo_energy, state.mo_coeff, state.mo_occ, converged)
    return out, (model, overlap, guess, state.mo_coeff, state.mo_occ, state.mo_energy)


def rotation_mask(mo_occ):
    """(2, nmo, nmo) bool: True at [s, a, i] for a virtual and i occupied in spin s."""
    occupied = mo_occ > 0.5
    return ~occupied[:, :, None] & occupied[:, None, :]


def rotated_density(kappa, overlap, mo_coeff, mo_occ, restricted):
    """D(kappa, S) (2, nao, nao); kappa (nmo, nmo) restricted or (2, nmo, nmo), used
    only where :func:`rotation_mask` is True."""
    mask = rotation_mask(mo_occ)
    kappa = jnp.broadcast_to(kappa, mask.shape) if restricted else kappa
    k = jnp.where(mask, kappa, 0.0)
    k = k - jnp.swapaxes(k, -1, -2)
    eye = jnp.eye(mask.shape[-1])
    delta = jnp.swapaxes(mo_coeff, -1, -2) @ overlap @ mo_coeff - eye
    t = eye - 0.5 * delta + 0.375 * delta @ delta
    u = eye + k + 0.5 * k @ k
    c = mo_coeff @ t @ u
    return jnp.einsum("sim,sm,sjm->sij", c, mo_occ, c)


def _kappa_zeros(mo_occ, restricted):
    return jnp.zeros(mo_occ.shape[-1:] * 2) if restricted else jnp.zeros(mo_occ.shape + mo_occ.shape[-1:])


def cpks_multipliers(config, model, overlap, mo_coeff, mo_occ, mo_energy, d_bar):
    """Solve H lambda = kappa_bar for a density cotangent ``d_bar`` (2, nao, nao) at the
    converged orbitals. Returns (lambda, residual norm |H lambda - kappa_bar|, |kappa_bar|,
    ok): ``ok`` (bool array) when the residual passes the config's check."""
    restricted = config.restricted
    mask = rotation_mask(mo_occ)
    if restricted:
        mask = mask[0]
    zero = _kappa_zeros(mo_occ, restricted)
    _, density_pullback = jax.vjp(
        lambda k: rotated_density(k, overlap, mo_coeff, mo_occ, restricted), zero)
    kappa_bar = jnp.where(mask, density_pullback(d_bar)[0], 0.0)

    def hessian_product(v):
        return jax.jvp(lambda k: _orbital_gradient(k, model, overlap, mo_coeff, mo_occ, restricted),
                       (zero,), (v,))[1]

    gap = mo_energy[:, :, None] - mo_energy[:, None, :]
    gap = gap[0] if restricted else gap
    preconditioner = jnp.where(mask, 1.0 / jnp.maximum(gap, 1e-2), 0.0)
    lam, residual = conjugate_gradients(hessian_product, kappa_bar, preconditioner,
                                        config.cg_tol, config.cg_maxiter)
    rhs = jnp.linalg.norm(kappa_bar)
    ok = residual <= config.cg_check_rtol * rhs + config.cg_check_atol  # False for NaN
    return lam, residual, rhs, ok


def conjugate_gradients(matvec, b, preconditioner, tol, maxiter):
    """Solve ``matvec(x) = b`` (a symmetric positive definite operator on arrays of b's
    shape) by conjugate gradients preconditioned by the array ``preconditioner``, from
    x = 0, until |r| <= tol |b| or ``maxiter`` steps (as ``jax.scipy.sparse.linalg.cg``).

    Returns (x, |matvec(x) - b|): the residual computed anew, not the recursion's. One
    ``lax.while_loop`` makes every product, the check's in a last pass, so a compiled
    program holds one copy of ``matvec`` (for a Kohn-Sham orbital Hessian, a second
    derivative of the functional on the grid: the costliest code to compile).
    """
    def body(carry):
        x, r, p, rz, k, checking, _, residual = carry
        q = matvec(jnp.where(checking, x, p))
        alpha = rz / jnp.vdot(p, q)
        x_new, r_new = x + alpha * p, r - alpha * q
        z = preconditioner * r_new
        rz_new = jnp.vdot(r_new, z)
        p_new = z + (rz_new / rz) * p
        stop = (jnp.vdot(r_new, r_new) <= bound) | (k + 1 >= maxiter)
        keep = lambda old, new: jnp.where(checking, old, new)
        return (keep(x, x_new), keep(r, r_new), keep(p, p_new), keep(rz, rz_new),
                keep(k, k + 1), checking | stop, checking,
                jnp.where(checking, jnp.linalg.norm(q - b), residual))

    bound = (tol * jnp.linalg.norm(b)) ** 2
    z = preconditioner * b
    start = (jnp.zeros_like(b), b, z, jnp.vdot(b, z), jnp.zeros((), jnp.int32),
             (jnp.vdot(b, b) <= bound) | (maxiter <= 0), jnp.zeros((), bool),
             jnp.full((), jnp.nan, b.dtype))
    carry = jax.lax.while_loop(lambda carry: ~carry[6], body, start)
    return carry[0], carry[7]


def _orbital_gradient(kappa, model, overlap, mo_coeff, mo_occ, restricted):
    """dE(D(kappa, S))/dkappa on the rotation mask."""
    mask = rotation_mask(mo_occ)
    mask = mask[0] if restricted else mask
    grad = jax.grad(lambda k: model.energy_fn(
        rotated_density(k, overlap, mo_coeff, mo_occ, restricted), model.params))(kappa)
    return jnp.where(mask, grad, 0.0)


def implicit_objective(config, model, overlap, mo_coeff, mo_occ, lam, d_bar):
    """<Dbar, D(0, S)> - <lambda, g(0; model, S)>: its gradient with respect to the model's
    parameters and the overlap is the pullback of ``d_bar`` through D*."""
    restricted = config.restricted
    zero = _kappa_zeros(mo_occ, restricted)
    return (jnp.vdot(d_bar, rotated_density(zero, overlap, mo_coeff, mo_occ, restricted))
            - jnp.vdot(lam, _orbital_gradient(zero, model, overlap, mo_coeff, mo_occ, restricted)))


def _warn_failed_solve(ok, residual, rhs):
    """Host side of the check (arrays, batched under vmap)."""
    ok, residual, rhs = np.asarray(ok), np.asarray(residual), np.asarray(rhs)
    if not ok.all():
        worst = np.unravel_index(np.argmax(np.where(ok, -np.inf, np.nan_to_num(residual, nan=np.inf))), ok.shape)
        warnings.warn(f"coupled-perturbed solve failed (residual {float(residual[worst]):.3e} for "
                      f"a right-hand side of norm {float(rhs[worst]):.3e}): the derivative is NaN",
                      RuntimeWarning, stacklevel=2)


def _bwd(config, residuals, cotangents):
    model, overlap, guess, mo_coeff, mo_occ, mo_energy = residuals
    d_bar = cotangents[0]
    lam, residual, rhs, ok = cpks_multipliers(config, model, overlap, mo_coeff, mo_occ,
                                              mo_energy, d_bar)
    jax.debug.callback(_warn_failed_solve, ok, residual, rhs)
    # allow_int: integer leaves of the params (if any) get float0 cotangents.
    model_bar, overlap_bar = jax.grad(
        lambda m, s: implicit_objective(config, m, s, mo_coeff, mo_occ, lam, d_bar),
        argnums=(0, 1), allow_int=True)(model, overlap)
    nan_if_failed = lambda x: jnp.where(ok, x, jnp.nan) if jnp.issubdtype(x.dtype, jnp.floating) else x
    model_bar, overlap_bar = jax.tree_util.tree_map(nan_if_failed, (model_bar, overlap_bar))
    return model_bar, overlap_bar, jnp.zeros_like(guess)


converged_scf.defvjp(_fwd, _bwd)
