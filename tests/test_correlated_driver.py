"""MP2, CCSD and CCSD(T) energies against PySCF, and relaxed dipoles against finite fields.

tests/data/correlated_reference.json is made by tests/data/make_correlated_reference.py
(PySCF RHF/UHF at conv_tol 1e-12, amplitudes to 1e-11 Ha, same basis-set-exchange data
and geometry).
"""

import json
import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.correlated import energy_function, run

from conftest import DATA_DIR

# 1e-8 Ha, the no-grid tolerance: both codes use exact integrals (~1e-13); what is left
# is convergence. The SCF runs at 1e-12 Ha with an orbital gradient below 1e-9 (the
# correlation energy is first order in the orbitals: at 1e-7, MP2 of NO moved 2e-7 Ha)
# and the amplitudes at 1e-10 Ha with step norms below 1e-8.
E_TOL = 1e-8
# Relaxed dipoles against a four-point central difference of the energy in a field
# F = +-5e-4, +-1e-3 a.u. (truncation O(F^4) ~ 1e-12; energies converged to ~1e-11 Ha
# give 1e-11 / 5e-4 ~ 2e-8 a.u. of noise): 1e-6 a.u., the acceptance number.
DIPOLE_TOL = 1e-6

REFERENCE = json.loads((DATA_DIR / "correlated_reference.json").read_text())
FAST = {"h2o_sto3g", "o_631g"}
CASES = [name if name in FAST else pytest.param(name, marks=pytest.mark.slow)
         for name in REFERENCE]


def molecule(ref):
    return dftjax.Molecule(ref["symbols"], ref["coords"], charge=ref["charge"],
                           multiplicity=ref["multiplicity"])


@pytest.mark.parametrize("name", CASES)
def test_energies_match_pyscf(name):
    ref = REFERENCE[name]
    mol = molecule(ref)
    triples = run(mol, basis=ref["basis"], method="ccsd(t)", frozen_core=ref["frozen_core"])
    mp2 = run(mol, method="mp2", frozen_core=ref["frozen_core"], reference=triples.scf)
    assert triples.converged and mp2.converged
    assert triples.ncore == ref["ncore"]
    assert triples.scf.restricted == (ref["reference"] == "rhf")
    assert abs(triples.scf_energy - ref["e_scf"]) < E_TOL
    assert abs(mp2.energy - ref["e_mp2"]) < E_TOL
    assert abs(triples.scf_energy + triples.components["ccsd"] - ref["e_ccsd"]) < E_TOL
    assert abs(triples.energy - ref["e_ccsd_t"]) < E_TOL
    assert abs(triples.correlation_energy - (triples.energy - triples.scf_energy)) < 1e-12


def finite_field_dipole(result, direction, spin_adapted=None):
    """mu . d from (E(-2F) - 8 E(-F) + 8 E(F) - E(2F)) / 12F, F = 5e-4 a.u."""
    function = energy_function(result.scf, result.method, result.ncore,  # jitted
                               spin_adapted=spin_adapted)
    energy = lambda h: function(h)[0]  # noqa: E731
    ints = result.scf.integrals
    perturbation = jnp.einsum("x,xij->ij", direction, ints.dipole)
    step = 5e-4
    e = {k: float(energy(ints.h_core + k * step * perturbation)) for k in (-2, -1, 1, 2)}
    slope = (e[-2] - 8 * e[-1] + 8 * e[1] - e[2]) / (12 * step)
    mol = result.scf.molecule
    return direction @ (mol.atomic_numbers @ mol.coordinates) - slope


WATER = {"symbols": ["O", "H", "H"], "coords": REFERENCE["h2o_sto3g"]["coords"],
         "charge": 0, "multiplicity": 1}
METHYLENE = {"symbols": ["C", "H", "H"], "coords": REFERENCE["ch2_631g"]["coords"],
             "charge": 0, "multiplicity": 3}
# Water runs the closed-shell (spin-adapted) equations, methylene the spin-orbital ones;
# the last case keeps the spin-orbital code's relaxed density tested on a closed shell.
DIPOLE_CASES = [
    ("ccsd(t)", WATER, False, None),
    pytest.param("ccsd(t)", METHYLENE, False, None, marks=pytest.mark.slow),
    pytest.param("ccsd", WATER, False, None, marks=pytest.mark.slow),
    pytest.param("ccsd", WATER, True, None, marks=pytest.mark.slow),
    pytest.param("ccsd", METHYLENE, True, None, marks=pytest.mark.slow),
    pytest.param("ccsd(t)", WATER, True, None, marks=pytest.mark.slow),
    pytest.param("mp2", WATER, True, None, marks=pytest.mark.slow),
    pytest.param("mp2", METHYLENE, False, None, marks=pytest.mark.slow),
    pytest.param("ccsd(t)", WATER, False, False, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("method,geometry,frozen_core,spin_adapted", DIPOLE_CASES)
def test_relaxed_dipole_is_finite_field_derivative(method, geometry, frozen_core, spin_adapted):
    # STO-3G: the field derivative checks the same code at any basis size. The
    # direction is off every symmetry axis so all three components count.
    mol = molecule(geometry)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = run(mol, basis="sto-3g", method=method, frozen_core=frozen_core,
                     relaxed_density=True, spin_adapted=spin_adapted)
    assert result.converged
    direction = np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8])
    assert abs(finite_field_dipole(result, direction, spin_adapted)
               - direction @ result.dipole) < DIPOLE_TOL
    # The relaxed density integrates to the electron count and is symmetric.
    overlap = np.asarray(result.scf.integrals.overlap)
    assert abs(np.sum(result.density * overlap) - mol.nelectron) < 1e-8
    np.testing.assert_allclose(result.density, result.density.T, atol=1e-12)


def test_bad_method_is_a_clear_error():
    mol = molecule(WATER)
    with pytest.raises(ValueError, match="unknown correlated method 'cisd'"):
        run(mol, basis="sto-3g", method="cisd")


def test_memory_estimate_refuses_before_the_transformation():
    from dftjax.correlated.driver import check_memory, memory_estimate
    with pytest.raises(MemoryError, match="virtual spin orbitals.*needs about"):
        check_memory(200, 20, 380, relaxed=True, available=2**30)
    with pytest.raises(MemoryError, match="virtual spatial orbitals.*needs about"):
        check_memory(200, 10, 190, relaxed=True, available=2**30, spin_adapted=True)
    check_memory(7, 10, 4, relaxed=False, available=2**30)
    # The same molecule in spatial orbitals (half of each count): the v^4 terms are 16
    # times smaller; H2O/cc-pVTZ (58 functions, 5 + 53 spatial orbitals per spin).
    ratio = memory_estimate(58, 10, 106, False) / memory_estimate(58, 5, 53, False, True)
    assert 6 < ratio < 16
