"""Pulay DIIS (direct inversion in the iterative subspace) over a fixed-size history.

The error of a Fock matrix F built from a density D is the commutator
e = X^T (F D S - S D F) X, per spin, in the orthogonal basis given by X; it
vanishes at self-consistency. DIIS keeps the last ``space`` pairs (F_i, e_i) and
extrapolates F = sum_i c_i F_i with the c minimising |sum_i c_i e_i|^2 under
sum_i c_i = 1 (Pulay, Chem. Phys. Lett. 73, 393 (1980); J. Comput. Chem. 3, 556
(1982)). For UHF the alpha and beta errors form one vector.

All functions are pure over ``DIISState``, whose arrays are sized ``space``
whatever the number of stored pairs, so they jit and vmap. Shapes: fock
(2, nao, nao), error (2, nmo, nmo). ``host_*`` are their NumPy twins (the SCF's host
loop on a CPU: nothing to compile), the same formulas on host arrays.
"""

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

# Eigenvalues of the (scaled) DIIS matrix below this fraction of the largest are
# treated as zero: near convergence the error vectors become linearly dependent.
_SINGULAR_THRESHOLD = 1e-14


class DIISState(NamedTuple):
    focks: jnp.ndarray     # (space, 2, nao, nao), a ring buffer
    errors: jnp.ndarray    # (space, 2, nmo, nmo)
    overlaps: jnp.ndarray  # (space, space), B_ij = <e_i, e_j>
    count: jnp.ndarray     # int scalar: pairs pushed so far (slot = count % space)


def diis_init(space, nao, nmo, xp=jnp):
    """An empty DIIS history for ``space`` pairs (``xp=np``: host arrays)."""
    return DIISState(
        focks=xp.zeros((space, 2, nao, nao)),
        errors=xp.zeros((space, 2, nmo, nmo)),
        overlaps=xp.zeros((space, space)),
        count=xp.zeros((), xp.int32),
    )


def commutator_error(fock, density, overlap, X, xp=jnp):
    """X^T (F_s D_s S - S D_s F_s) X for each spin; (2, nao, nao) -> (2, nmo, nmo).
    ``xp=np`` for host arrays."""
    fds = fock @ density @ overlap
    return xp.swapaxes(X, 0, 1) @ (fds - xp.swapaxes(fds, -1, -2)) @ X


def diis_update(state, fock, error):
    """Store (fock, error), replacing the oldest pair once the history is full."""
    space = state.overlaps.shape[0]
    slot = state.count % space
    errors = state.errors.at[slot].set(error)
    row = jnp.einsum("kspq,spq->k", errors, error)
    overlaps = state.overlaps.at[slot, :].set(row).at[:, slot].set(row)
    return DIISState(state.focks.at[slot].set(fock), errors, overlaps, state.count + 1)


def diis_coefficients(state):
    """Solve the bordered system [[B, -1], [-1^T, 0]] [c, l] = [0, -1] for c (space,).

    Unused slots get a unit diagonal, no constraint and a zero coefficient. B is
    scaled by its largest diagonal element and the system solved by an eigenvalue
    pseudo-inverse, so a singular B (linearly dependent errors) is harmless.
    """
    space = state.overlaps.shape[0]
    used = jnp.arange(space) < jnp.minimum(state.count, space)
    scale = jnp.max(jnp.where(used, jnp.diag(state.overlaps), 0.0))
    scale = jnp.where(scale > 0.0, scale, 1.0)
    both_used = used[:, None] & used[None, :]
    b = jnp.where(both_used, state.overlaps / scale, jnp.diag(jnp.where(used, 0.0, 1.0)))
    border = -used.astype(b.dtype)
    matrix = jnp.block([[b, border[:, None]], [border[None, :], jnp.zeros((1, 1))]])
    rhs = jnp.zeros(space + 1).at[space].set(-1.0)
    values, vectors = jnp.linalg.eigh(matrix)
    keep = jnp.abs(values) > _SINGULAR_THRESHOLD * jnp.max(jnp.abs(values))
    projected = vectors.T @ rhs
    solution = vectors @ jnp.where(keep, projected / jnp.where(keep, values, 1.0), 0.0)
    return jnp.where(used, solution[:space], 0.0)


def diis_extrapolate(state):
    """The extrapolated Fock matrices sum_i c_i F_i, (2, nao, nao)."""
    return jnp.einsum("k,k...->...", diis_coefficients(state), state.focks)


def host_diis_update(state, fock, error):
    """:func:`diis_update` in NumPy (new arrays: ``state`` is left as it was)."""
    space = state.overlaps.shape[0]
    count = int(state.count)
    slot = count % space
    focks, errors, overlaps = (np.array(x) for x in (state.focks, state.errors, state.overlaps))
    errors[slot] = error
    row = np.einsum("kspq,spq->k", errors, error)
    overlaps[slot, :] = row
    overlaps[:, slot] = row
    focks[slot] = fock
    return DIISState(focks, errors, overlaps, np.asarray(count + 1, np.int32))


def host_diis_extrapolate(state):
    """:func:`diis_extrapolate` in NumPy."""
    overlaps = np.asarray(state.overlaps)
    space = overlaps.shape[0]
    used = np.arange(space) < min(int(state.count), space)
    scale = np.max(np.where(used, np.diag(overlaps), 0.0))
    scale = scale if scale > 0.0 else 1.0
    matrix = np.zeros((space + 1, space + 1))
    matrix[:space, :space] = np.where(used[:, None] & used[None, :], overlaps / scale,
                                      np.diag(np.where(used, 0.0, 1.0)))
    matrix[:space, space] = matrix[space, :space] = -used.astype(np.float64)
    rhs = np.zeros(space + 1)
    rhs[space] = -1.0
    values, vectors = np.linalg.eigh(matrix)
    keep = np.abs(values) > _SINGULAR_THRESHOLD * np.max(np.abs(values))
    projected = vectors.T @ rhs
    solution = vectors @ np.where(keep, projected / np.where(keep, values, 1.0), 0.0)
    coefficients = np.where(used, solution[:space], 0.0)
    return np.einsum("k,k...->...", coefficients, np.asarray(state.focks))
