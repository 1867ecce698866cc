"""Orthogonalisation of the AO basis: a matrix X with X^T S X = 1.

S is the AO overlap matrix (nao, nao). X is (nao, nmo) with nmo <= nao:

* symmetric (Löwdin) orthogonalisation X = S^(-1/2) when every eigenvalue of S
  is at least ``lindep_threshold`` (nmo = nao);
* canonical orthogonalisation X = U s^(-1/2) over the eigenvectors of S whose
  eigenvalue s is at least the threshold otherwise: the near linear
  dependencies are dropped from the variational space (nmo < nao).

The threshold 1e-8 is absolute, as PySCF's default linear-dependency threshold
(``scf.addons.remove_linear_dep_``). Which branch runs changes the shape of X,
so it is decided on the host, once per basis; X itself is built with jnp.
Reference: Szabo & Ostlund, Modern Quantum Chemistry, §3.4.5.
"""

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

LINDEP_THRESHOLD = 1e-8


class Orthogonalizer(NamedTuple):
    """X (nao, nmo) with X^T S X = 1, and how many directions of S were dropped."""

    X: jnp.ndarray
    n_dropped: int


def orthogonalizer(overlap, lindep_threshold=LINDEP_THRESHOLD):
    """Return an ``Orthogonalizer`` for the overlap matrix (nao, nao). A concrete overlap
    is decomposed in NumPy (X then goes to the device): nothing compiles per basis size;
    a traced one (derivatives) by jnp."""
    traced = isinstance(overlap, jax.core.Tracer)
    if traced:
        overlap = jnp.asarray(overlap, dtype=jnp.float64)
        eigenvalues, eigenvectors = _eigh(overlap)
    else:
        eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(overlap, dtype=np.float64))
    keep = np.asarray(eigenvalues) >= lindep_threshold
    n_dropped = int(keep.size - keep.sum())
    kept = None if n_dropped == 0 else tuple(int(k) for k in np.flatnonzero(keep))
    if traced:
        return Orthogonalizer(_from_eigenpairs_program(eigenvalues, eigenvectors, kept), n_dropped)
    return Orthogonalizer(jax.device_put(_from_eigenpairs(np, eigenvalues, eigenvectors, kept)),
                          n_dropped)


_eigh = jax.jit(jnp.linalg.eigh)


def _from_eigenpairs(xp, eigenvalues, eigenvectors, kept):
    """X from the eigenpairs of S: symmetric when ``kept`` is None, else canonical over
    the eigenvectors numbered in ``kept``; ``xp`` is np or jnp."""
    if kept is None:
        return (eigenvectors / xp.sqrt(eigenvalues)) @ eigenvectors.T
    kept = np.asarray(kept)
    return eigenvectors[:, kept] / xp.sqrt(eigenvalues[kept])


_from_eigenpairs_program = jax.jit(partial(_from_eigenpairs, jnp), static_argnums=2)
