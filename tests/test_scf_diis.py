"""Pulay DIIS over a fixed-size history."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.scf.diis import (
    commutator_error, diis_coefficients, diis_extrapolate, diis_init, diis_update)
from dftjax.scf.guess import core_guess
from dftjax.scf.orthogonalize import orthogonalizer

DATA = np.load(Path(__file__).parent / "data" / "scf_reference.npz")
rng = np.random.default_rng(0)


def random_pair(n=3):
    fock = jnp.asarray(rng.normal(size=(2, n, n)))
    error = jnp.asarray(rng.normal(size=(2, n, n)))
    return fock, error


def test_coefficients_sum_to_one_and_cancel_opposite_errors():
    state = diis_init(4, 3, 3)
    fock_a, error = random_pair()
    fock_b, _ = random_pair()
    state = diis_update(diis_update(state, fock_a, error), fock_b, -error)
    coefficients = diis_coefficients(state)
    np.testing.assert_allclose(coefficients, [0.5, 0.5, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(diis_extrapolate(state), 0.5 * (fock_a + fock_b), atol=1e-12)


def test_singular_history_is_harmless():
    # Identical errors make B singular; any coefficients summing to 1 give the same Fock.
    state = diis_init(8, 3, 3)
    fock, error = random_pair()
    for _ in range(3):
        state = diis_update(state, fock, error)
    coefficients = diis_coefficients(state)
    assert np.all(np.isfinite(coefficients))
    assert abs(float(coefficients.sum()) - 1.0) < 1e-10
    np.testing.assert_allclose(diis_extrapolate(state), fock, atol=1e-10)


def test_ring_buffer_keeps_overlaps_consistent():
    update = jax.jit(diis_update)
    state = diis_init(3, 3, 3)
    for _ in range(5):
        state = update(state, *random_pair())
    assert int(state.count) == 5
    expected = jnp.einsum("ispq,jspq->ij", state.errors, state.errors)
    np.testing.assert_allclose(state.overlaps, expected, atol=1e-12)


def test_commutator_vanishes_for_eigenvector_density():
    # D built from the eigenvectors of F commutes with it in the metric S.
    overlap = jnp.asarray(DATA["h2o_631g_S"])
    h_core = jnp.asarray(DATA["h2o_631g_T"] + DATA["h2o_631g_V"])
    density = core_guess(overlap, h_core, 5, 5)
    error = commutator_error(jnp.stack([h_core, h_core]), density, overlap, orthogonalizer(overlap).X)
    assert float(jnp.abs(error).max()) < 1e-10
