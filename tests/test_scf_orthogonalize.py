"""Orthogonalisation: symmetric when S is well conditioned, canonical when not."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.scf import hf_fock_and_energy, run_scf
from dftjax.scf.orthogonalize import orthogonalizer

DATA = np.load(Path(__file__).parent / "data" / "scf_reference.npz")


def redundant_basis(name="h2o_631g", duplicate=3, scale=0.7):
    """Append `scale` times AO `duplicate` as an extra function: M (nao, nao + 1)."""
    nao = DATA[f"{name}_S"].shape[0]
    transform = np.hstack([np.eye(nao), scale * np.eye(nao)[:, [duplicate]]])
    return transform


def test_symmetric_when_well_conditioned():
    overlap = jnp.asarray(DATA["h2o_631g_S"])
    X, n_dropped = orthogonalizer(overlap)
    assert n_dropped == 0 and X.shape == overlap.shape
    np.testing.assert_allclose(X, X.T, atol=1e-12)
    np.testing.assert_allclose(X.T @ overlap @ X, np.eye(overlap.shape[0]), atol=1e-10)


def test_canonical_drops_linear_dependency():
    transform = redundant_basis()
    overlap = jnp.asarray(transform.T @ DATA["h2o_631g_S"] @ transform)
    assert float(jnp.linalg.eigvalsh(overlap)[0]) < 1e-8
    X, n_dropped = orthogonalizer(overlap)
    assert n_dropped == 1 and X.shape == (14, 13)
    np.testing.assert_allclose(X.T @ overlap @ X, np.eye(13), atol=1e-10)


def test_scf_in_redundant_basis_gives_same_energy():
    # The extra function lies in the span of the others: the variational space and
    # hence the energy are unchanged once the dependency is dropped.
    M = redundant_basis()
    h_core = M.T @ (DATA["h2o_631g_T"] + DATA["h2o_631g_V"]) @ M
    eri = np.einsum("pqrs,pi,qj,rk,sl->ijkl", DATA["h2o_631g_eri"], M, M, M, M, optimize=True)
    result = run_scf(hf_fock_and_energy(h_core, eri), M.T @ DATA["h2o_631g_S"] @ M, h_core,
                     DATA["h2o_631g_e_nuc"], 5, 5, True, None)
    assert result.converged and result.n_dropped == 1
    assert result.mo_coeff.shape == (14, 13)
    assert abs(float(result.energy) - float(DATA["h2o_631g_e_tot"])) < 1e-8


def test_matches_eigh_in_jax():
    # X is built in NumPy (nothing to compile); jnp's eigh gives the same X to round-off
    overlap = DATA["h2o_631g_S"]
    transform = redundant_basis()
    for matrix in (overlap, transform.T @ overlap @ transform):
        host = orthogonalizer(matrix)
        assert isinstance(host.X, jax.Array)
        values, vectors = jnp.linalg.eigh(jnp.asarray(matrix))
        keep = values >= 1e-8
        reference = (vectors[:, keep] / jnp.sqrt(values[keep]))
        if host.n_dropped == 0:
            reference = reference @ vectors.T
            np.testing.assert_allclose(host.X, reference, atol=1e-12)
        else:  # canonical: columns fixed up to sign
            signs = np.sign(np.sum(np.asarray(host.X) * np.asarray(reference), axis=0))
            np.testing.assert_allclose(host.X, reference * signs, atol=1e-12)
