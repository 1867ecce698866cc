"""Aufbau and fractional (spherical-atom) occupations."""

import jax.numpy as jnp
import numpy as np

from dftjax.scf.occupations import aufbau_occupations, fractional_occupations


def test_aufbau_fills_lowest_orbitals_per_spin():
    energies = jnp.asarray([[0.3, -1.0, -0.2, 0.1], [0.3, -1.0, -0.2, 0.1]])
    occupations = aufbau_occupations(energies, 2, 1)
    np.testing.assert_array_equal(occupations, [[0, 1, 1, 0], [0, 1, 0, 0]])


def test_fractional_shares_degenerate_open_shell():
    # Oxygen-like: 1s2 2s2 2p4, the three 2p (within 1e-3 Ha) share 4 electrons.
    energies = jnp.asarray([-20.0, -1.2, -0.5, -0.5004, -0.4998, 0.8])
    occupations = fractional_occupations(jnp.stack([energies, energies]), 4, 4)
    np.testing.assert_allclose(occupations[0], [1, 1, 2 / 3, 2 / 3, 2 / 3, 0], atol=1e-14)
    np.testing.assert_array_equal(occupations[0], occupations[1])


def test_fractional_odd_electron_count():
    # Hydrogen: one electron, half per spin in the lowest orbital.
    energies = jnp.asarray([-0.5, 0.4, 1.1])
    occupations = fractional_occupations(jnp.stack([energies, energies]), 0.5, 0.5)
    np.testing.assert_allclose(occupations, [[0.5, 0, 0], [0.5, 0, 0]], atol=1e-14)
