"""Initial guesses: superposition of atomic densities (SAD) and core Hamiltonian."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np

from dftjax.scf import hf_fock_and_energy
from dftjax.scf.driver import core_density, iterate, make_settings
from dftjax.scf.guess import atomic_density, core_guess, sad_density
from dftjax.scf.occupations import fractional_occupations
from dftjax.scf.orthogonalize import orthogonalizer

DATA = np.load(Path(__file__).parent / "data" / "scf_reference.npz")
NAME = "h2o_631g"


def atom_integrals(symbol, calls=None):
    if calls is not None:
        calls.append(symbol)
    return {key: DATA[f"{NAME}_atom_{symbol}_{key}"] for key in ("S", "T", "V", "eri")}


def water_sad(calls=None):
    symbols = [str(s) for s in DATA[f"{NAME}_symbols"]]
    return sad_density(DATA[f"{NAME}_ao_ranges"], symbols, lambda s: atom_integrals(s, calls))


def test_sad_is_block_diagonal_neutral_and_each_element_computed_once():
    calls = []
    density = water_sad(calls)
    assert sorted(calls) == ["H", "O"]
    assert density.shape == (2, 13, 13)
    np.testing.assert_array_equal(density[0], density[1])
    oxygen, hydrogen = DATA[f"{NAME}_ao_ranges"][:2]
    assert float(jnp.abs(density[0, oxygen[0]:oxygen[1], hydrogen[0]:hydrogen[1]]).max()) == 0.0
    electrons = float(jnp.vdot(density.sum(axis=0), DATA[f"{NAME}_S"]))
    assert abs(electrons - 10.0) < 1e-10


def test_atomic_density_is_spherical():
    # O/6-31g: AOs 1s 2s 3s 2p(x, y, z) 3p(x, y, z); 2p4 shared equally over x, y, z.
    density = np.asarray(atomic_density(atom_integrals("O"), 8))
    np.testing.assert_allclose(np.diag(density)[3:6], density[3, 3], atol=1e-8)
    np.testing.assert_allclose(np.diag(density)[6:9], density[6, 6], atol=1e-8)
    assert abs(np.vdot(density, DATA[f"{NAME}_atom_O_S"]) - 8.0) < 1e-10


def test_sad_energy_closer_to_converged_than_core():
    overlap = DATA[f"{NAME}_S"]
    h_core = DATA[f"{NAME}_T"] + DATA[f"{NAME}_V"]
    model = hf_fock_and_energy(h_core, DATA[f"{NAME}_eri"])
    converged = float(DATA[f"{NAME}_e_tot"] - DATA[f"{NAME}_e_nuc"])
    sad_error = abs(float(model(water_sad())[1]) - converged)
    core_error = abs(float(model(core_guess(overlap, h_core, 5, 5))[1]) - converged)
    assert sad_error < 0.1 * core_error


def test_atomic_density_matches_the_compiled_driver():
    # The atoms' SCF runs in NumPy; the same fractional-occupation RHF through the SCF
    # driver (DIIS, jitted steps) lands on the same density. Both converged to 1e-11 Ha:
    # densities agree to ~1e-6 (the error of a density goes as the square root of the
    # energy's).
    ints = atom_integrals("O")
    host = atomic_density(ints, 8, conv_tol=1e-11, max_cycle=200)
    overlap, h_core = jnp.asarray(ints["S"]), jnp.asarray(ints["T"] + ints["V"])
    X = orthogonalizer(overlap).X
    start = core_density(h_core, X, 4.0, 4.0, occupations=fractional_occupations)
    state, _ = iterate(hf_fock_and_energy(h_core, jnp.asarray(ints["eri"])), overlap, X,
                       start, make_settings(4.0, 4.0), restricted=True,
                       occupations=fractional_occupations, conv_tol=1e-11,
                       conv_tol_grad=1e-7, max_cycle=200, diis_space=8)
    assert np.max(np.abs(host - np.asarray(state.density).sum(axis=0))) < 1e-6
