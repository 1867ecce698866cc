"""Orthogonalisation of the AO basis: a matrix X with X^T S X = 1.

S is the AO overlap matrix (nao, nao). X is (nao, nmo) with nmo <= nao:

* symmetric (Löwdin) orthogonalisation X = S^(-1/2) when every eigenvalue of S
  is at least ``lindep_threshold`` (nmo = nao);
* canonical orthogonalisation X = U s^(-1/2) over the eigenvectors of S whose
  eigenvalue s is at least the threshold otherwise: the near linear
  dependencies are dropped from the variational space (nmo < nao).

The threshold 1e-8 is absolute, as PySCF's default linear-dependency threshold
(``scf.addons.remove_linear_dep_``). Which branch runs changes the shape of X,
so it is decided on the host, once per basis; X is built there too (NumPy).
Reference: Szabo & Ostlund, Modern Quantum Chemistry, §3.4.5.
"""

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
    """Return an ``Orthogonalizer`` for the overlap matrix (nao, nao), concrete (which
    directions are dropped decides X's shape). Decomposed in NumPy, then X goes to the
    device: nothing compiles per basis size."""
    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(overlap, dtype=np.float64))
    keep = eigenvalues >= lindep_threshold
    n_dropped = int(keep.size - keep.sum())
    if n_dropped == 0:  # symmetric
        X = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T
    else:  # canonical
        X = eigenvectors[:, keep] / np.sqrt(eigenvalues[keep])
    return Orthogonalizer(jax.device_put(X), n_dropped)
