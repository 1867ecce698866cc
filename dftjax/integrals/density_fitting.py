"""Density-fitted electron repulsion: the Cholesky-whitened three-centre tensor B.

Robust density fitting in the Coulomb metric (Whitten 1973; Vahtras, Almlof & Feyereisen
1993; Weigend 2002) approximates

    (ij|kl) ~ sum_PQ (ij|P) [(P|Q)^-1]_PQ (Q|kl) = sum_R B_ij,R B_kl,R,

with B = (ij|P) L^-T and L L^T = (P|Q) the Cholesky factor of the metric, as PySCF's
``df.incore.cholesky_eri`` does. When the Cholesky factorisation fails (a numerically
singular metric: always so for the long-range metric of erf(omega r12)/r12, whose
compact auxiliary functions look alike from afar), the metric is diagonalised and
eigenvalues at or below ``LINEAR_DEP_THRESHOLD`` (PySCF's ``df.incore.LINEAR_DEP_THR``,
1e-7) are dropped: B = (ij|P) V w^-1/2 over the kept eigenpairs, again as PySCF does. The
long-range metric always goes this way here; PySCF tries Cholesky first, which on that
metric fails by rounding for most molecules and succeeds for some (CH4), where the two
decompositions give energies 3e-9 to 6e-9 Ha apart (measured: wB97X, CAM-B3LYP with
def2-SVP, def2-TZVP).

B is returned as (nao, nao, naux): memory naux nao^2 doubles, never nao^4. Everything
here is a pure function of the coordinates once the decomposition is chosen, so it is
differentiable (the choice itself is made on the host from the metric's values).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .three_center import (df_plan, pair_rows, stack_three_center, stack_two_center,
                           three_center_blocks, two_center_blocks)

LINEAR_DEP_THRESHOLD = 1e-7


@partial(jax.jit, static_argnums=(0, 1))
def _metric(basis, auxbasis, blocks):
    """(P|Q) (naux, naux) in the fitted tensor's auxiliary order."""
    plan = df_plan(basis, auxbasis)
    metric = stack_two_center(plan.metric_groups, blocks)
    return metric[plan.metric_order][:, plan.metric_order]


@jax.jit
def _cholesky(metric):
    return jnp.linalg.cholesky(metric)


@partial(jax.jit, static_argnums=(0, 1))
def _stack(basis, auxbasis, blocks):
    return stack_three_center(basis, auxbasis, blocks)


@partial(jax.jit, donate_argnums=(0,))
def _solve_cholesky(stacked, lower):
    """stacked L^-T, (nrow, naux)."""
    return jax.lax.linalg.triangular_solve(lower, stacked, left_side=False, lower=True,
                                           transpose_a=True)


@jax.jit
def _eig_whitener(metric):
    """V w^-1/2 with the columns of eigenvalues <= LINEAR_DEP_THRESHOLD zeroed, (naux, naux)."""
    w, v = jnp.linalg.eigh(metric)
    keep = w > LINEAR_DEP_THRESHOLD
    return v * jnp.where(keep, 1.0 / jnp.sqrt(jnp.where(keep, w, 1.0)), 0.0)


@partial(jax.jit, donate_argnums=(0,))
def _whiten(stacked, whitener):
    return stacked @ whitener


@partial(jax.jit, static_argnums=(0,))
def _unpack(nao, fitted, rows):
    """(nao, nao, naux) from the stacked rows of unique AO pairs."""
    return jnp.take(fitted, rows, axis=0).reshape(nao, nao, fitted.shape[1])


def choose_decomposition(metric, omega=0.0) -> str:
    """"cholesky", or "eig" when the Cholesky factorisation of ``metric`` fails (or, for
    the long-range metric, always: it is singular to working precision)."""
    return _decompose(metric, omega)[0]


def _decompose(metric, omega=0.0, decomposition=None):
    """(decomposition, Cholesky factor or None), deciding on the host when not given."""
    if decomposition is None and omega > 0.0:
        decomposition = "eig"
    if decomposition in (None, "cholesky"):
        lower = _cholesky(metric)
        if decomposition == "cholesky" or bool(jnp.all(jnp.isfinite(lower))):
            return "cholesky", lower
        decomposition = "eig"
    if decomposition != "eig":
        raise ValueError(f"decomposition must be 'cholesky' or 'eig', not {decomposition!r}")
    return "eig", None


def fitted_tensor(basis, auxbasis, pairs, coords, omega=0.0, decomposition=None):
    """B (nao, nao, naux) with (ij|kl) ~ sum_R B_ijR B_klR; and the decomposition used.

    ``pairs``: per pair class (p, P, E) from :func:`~dftjax.integrals.one_electron.pair_data`;
    ``coords`` (natom, 3) Bohr; ``omega`` > 0 fits erf(omega r12)/r12 (three-centre and
    metric integrals both long-range, as PySCF's ``range_coulomb``); ``decomposition``
    "cholesky" or "eig" (None: :func:`choose_decomposition`; give it to trace the whole
    function, e.g. under ``jax.grad``).
    """
    coords = jnp.asarray(coords, dtype=jnp.float64)
    metric = _metric(basis, auxbasis, two_center_blocks(auxbasis, coords, omega, basis=basis))
    decomposition, lower = _decompose(metric, omega, decomposition)
    stacked = _stack(basis, auxbasis, three_center_blocks(basis, auxbasis, pairs, coords, omega))
    if decomposition == "cholesky":
        fitted = _solve_cholesky(stacked, lower)
    else:
        fitted = _whiten(stacked, _eig_whitener(metric))
    return _unpack(basis.nao, fitted, pair_rows(basis)[2]), decomposition


def coulomb_metric(basis, auxbasis, coords, omega=0.0):
    """(P|Q) (naux, naux) in the fitted tensor's auxiliary order; traceable in ``coords``."""
    coords = jnp.asarray(coords, dtype=jnp.float64)
    return _metric(basis, auxbasis, two_center_blocks(auxbasis, coords, omega, basis=basis))


def three_center_tensor(basis, auxbasis, pairs, coords, omega=0.0):
    """(ij|P) (nao, nao, naux), unwhitened, in the fitted tensor's auxiliary order.

    Traceable in ``pairs`` and ``coords`` (traced pair data skip the Schwarz screening, so
    every primitive pair is computed): what the density-fitted gradients differentiate.
    """
    stacked = _stack(basis, auxbasis, three_center_blocks(basis, auxbasis, pairs, coords, omega))
    return _unpack(basis.nao, stacked, pair_rows(basis)[2])


@jax.jit
def inverse_cholesky_whitener(metric):
    """W = L^-T (naux, naux) with L L^T = (P|Q): B = (ij|P) W and W W^T = (P|Q)^-1."""
    lower = jnp.linalg.cholesky(metric)
    eye = jnp.eye(metric.shape[0], dtype=metric.dtype)
    return jax.lax.linalg.triangular_solve(lower, eye, left_side=True, lower=True,
                                           transpose_a=True)


def naux_of(basis, auxbasis) -> int:
    """Number of auxiliary functions."""
    return df_plan(basis, auxbasis).naux


def fitted_eri(factor):
    """(ij|kl) from B, (nao,)*4: for tests and small systems only (nao^4 memory)."""
    return jnp.einsum("ijp,klp->ijkl", factor, factor)


def atom_eri_blocks(factor, start, stop):
    """Fitted (ij|kl) of one atom's AO block [start, stop), e.g. for the SAD guess."""
    block = np.asarray(factor[start:stop, start:stop])
    return np.einsum("ijp,klp->ijkl", block, block)
