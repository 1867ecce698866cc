"""HF energy model: the hand-written Fock matrix is the gradient of the energy."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.scf.energy import (
    EnergyModel, autodiff_fock_and_energy, coulomb, exchange, hf_energy, hf_fock, hf_fock_and_energy)

DATA = np.load(Path(__file__).parent / "data" / "scf_reference.npz")


def integrals():
    return {"h_core": jnp.asarray(DATA["oh_631g_T"] + DATA["oh_631g_V"]),
            "eri": jnp.asarray(DATA["oh_631g_eri"])}


def random_spin_densities(nao, seed=0):
    """Two different symmetric matrices, the scale of a density in a small basis."""
    a = np.random.default_rng(seed).normal(size=(2, nao, nao)) * 0.3
    return jnp.asarray(a + a.transpose(0, 2, 1))


def test_fock_is_gradient_of_energy():
    # 1e-10: both are exact linear algebra on the same eri, differing by rounding.
    ints = integrals()
    density = random_spin_densities(ints["h_core"].shape[0])
    gradient = jax.grad(hf_energy)(density, ints)
    np.testing.assert_allclose(hf_fock(density, ints), gradient, atol=1e-10, rtol=0)


def test_autodiff_model_matches_hand_written_model():
    ints = integrals()
    density = random_spin_densities(ints["h_core"].shape[0], seed=1)
    fock_hand, energy_hand = hf_fock_and_energy(ints["h_core"], ints["eri"])(density)
    fock_auto, energy_auto = autodiff_fock_and_energy(hf_energy, ints)(density)
    np.testing.assert_allclose(fock_auto, fock_hand, atol=1e-10, rtol=0)
    assert abs(float(energy_auto - energy_hand)) < 1e-10


def test_restricted_energy_is_textbook_rhf():
    # E = tr(h D) + tr(J D) / 2 - tr(K D) / 4 with D the total density (Szabo & Ostlund 3.184).
    ints = integrals()
    total = random_spin_densities(ints["h_core"].shape[0], seed=2)[0]
    expected = (jnp.vdot(ints["h_core"], total) + 0.5 * jnp.vdot(coulomb(ints["eri"], total), total)
                - 0.25 * jnp.vdot(exchange(ints["eri"], total), total))
    energy = hf_energy(jnp.stack([0.5 * total, 0.5 * total]), ints)
    assert abs(float(energy - expected)) < 1e-10


def test_energy_model_is_a_pytree_with_traced_integrals():
    ints = integrals()
    model = hf_fock_and_energy(ints["h_core"], ints["eri"])
    # leaves: h_core and eri, traced (a new geometry reuses the compiled step)
    assert len(jax.tree_util.tree_leaves(model)) == 2
    density = random_spin_densities(ints["h_core"].shape[0], seed=3)
    fock, energy = jax.jit(lambda model, density: model(density))(model, density)
    assert isinstance(model, EnergyModel)
    assert abs(float(energy - hf_energy(density, ints))) < 1e-10
    assert float(jnp.abs(fock - hf_fock(density, ints)).max()) < 1e-10


def test_pair_and_exchange_matrices_give_the_same_j_and_k():
    # The SCF's fast forms of the ERIs (pair matrix for J, exchange matrix for K) against
    # the full tensor: the same sums in another order, so agreement to rounding (1e-12).
    from dftjax.scf.energy import coulomb_and_exchange, exchange_matrix
    ints = integrals()
    eri = np.asarray(ints["eri"])
    nao = eri.shape[0]
    i, j = np.tril_indices(nao)
    pairs = jnp.asarray(eri[i, j][:, i, j])  # (ij|kl) for i >= j, k >= l
    density = random_spin_densities(nao, seed=4)
    j_full, k_full = coulomb_and_exchange(ints["eri"], density)
    j_pairs, k_pairs = coulomb_and_exchange(ints["eri"], density, pairs,
                                            exchange_matrix(pairs, nao))
    np.testing.assert_allclose(j_pairs, j_full, atol=1e-12, rtol=0)
    np.testing.assert_allclose(k_pairs, k_full, atol=1e-12, rtol=0)
    # the traced gather (inside jit), the host's and the stored program's, element for element
    from dftjax.scf import energy
    traced = jax.jit(exchange_matrix, static_argnums=1)(pairs, nao)
    host = exchange_matrix(pairs, nao)
    assert nao <= energy.HOST_GATHER_NAO
    energy.HOST_GATHER_NAO, kept = 0, energy.HOST_GATHER_NAO
    try:
        stored = exchange_matrix(pairs, nao)
    finally:
        energy.HOST_GATHER_NAO = kept
    assert np.array_equal(np.asarray(traced), np.asarray(host))
    assert np.array_equal(np.asarray(stored), np.asarray(host))
    # J alone
    j_only, no_k = coulomb_and_exchange(None, density, pairs, exchange=False)
    assert no_k is None
    np.testing.assert_allclose(j_only, j_full, atol=1e-12, rtol=0)
    # and the model built with them, with K from the exchange matrix or the full tensor
    for too in (True, False):
        model = hf_fock_and_energy(ints["h_core"], ints["eri"], eri_pairs=pairs,
                                   exchange_matrix_too=too)
        assert ("eri_exchange" in model.params) == too
        fock, energy = model(density)
        np.testing.assert_allclose(fock, hf_fock(density, ints), atol=1e-12, rtol=0)
        assert abs(float(energy - hf_energy(density, ints))) < 1e-12
