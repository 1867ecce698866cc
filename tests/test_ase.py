"""Tests of the ASE calculator (dftjax/ase.py); skipped when ASE is not installed.

Unit conversions and error handling are checked with a fake SCF and gradient; the real
calculation is checked against PySCF's energy and analytic gradient frozen in
tests/data/gradient_reference.json, and an ASE optimisation against geomeTRIC's minimum.
"""

import json
import types

import numpy as np
import pytest

ase = pytest.importorskip("ase")

import dftjax  # noqa: E402
from ase.calculators.calculator import SCFError  # noqa: E402
from ase.units import Hartree  # noqa: E402
from dftjax.ase import DFTJaxCalculator  # noqa: E402
from dftjax.elements import BOHR_TO_ANGSTROM  # noqa: E402

POSITIONS = [[0.0, 0.02, 0.12], [0.03, 0.80, -0.47], [-0.02, -0.74, -0.44]]  # Angstrom
GRADIENT = np.array([[0.01, -0.02, 0.03], [-0.005, 0.01, -0.02], [-0.005, 0.01, -0.01]])


def water():
    return ase.Atoms("OH2", positions=POSITIONS)


@pytest.fixture
def fakes(monkeypatch):
    """dftjax.scf and dftjax.gradient replaced by fakes that record their calls."""
    calls = {"scf": [], "gradient": []}

    def fake_scf(molecule, **options):
        calls["scf"].append((molecule, options))
        return types.SimpleNamespace(energy=-75.5, converged=options.get("max_cycle") != 1,
                                     iterations=7, dipole=np.array([0.0, 0.0, 0.7]))

    def fake_gradient(result):
        calls["gradient"].append(result)
        return GRADIENT

    monkeypatch.setattr(dftjax, "scf", fake_scf)
    monkeypatch.setattr(dftjax, "gradient", fake_gradient, raising=False)
    return calls


def test_units_and_options(fakes):
    atoms = water()
    atoms.calc = DFTJaxCalculator(basis="6-31g", xc="pbe", grid_level=2)
    assert atoms.get_potential_energy() == pytest.approx(-75.5 * Hartree, rel=1e-15)  # eV
    assert fakes["gradient"] == []  # forces only when asked for
    forces = atoms.get_forces()  # eV/Angstrom, minus the gradient
    assert forces == pytest.approx(-GRADIENT * Hartree / BOHR_TO_ANGSTROM, rel=1e-15)
    assert atoms.get_dipole_moment() == pytest.approx([0.0, 0.0, 0.7 * BOHR_TO_ANGSTROM])
    molecule, options = fakes["scf"][-1]
    assert options == {"basis": "6-31g", "xc": "pbe", "grid_level": 2, "conv_tol": 1e-10}
    assert molecule.symbols == ("O", "H", "H")
    assert (molecule.charge, molecule.multiplicity) == (0, 1)
    assert np.asarray(molecule.coordinates) * BOHR_TO_ANGSTROM == pytest.approx(np.array(POSITIONS))
    # same positions: cached, no new SCF
    count = len(fakes["scf"])
    atoms.get_potential_energy()
    assert len(fakes["scf"]) == count
    atoms.positions[0, 2] += 0.01
    atoms.get_potential_energy()
    assert len(fakes["scf"]) == count + 1


def test_charge_and_multiplicity(fakes):
    atoms = ase.Atoms("OH", positions=[[0, 0, 0], [0, 0, 0.97]])
    atoms.calc = DFTJaxCalculator(basis="6-31g", multiplicity=2, conv_tol=1e-8)
    atoms.get_potential_energy()
    molecule, options = fakes["scf"][-1]
    assert molecule.multiplicity == 2 and options["conv_tol"] == 1e-8
    atoms.calc = DFTJaxCalculator(basis="6-31g", charge=1)  # OH+, a singlet
    atoms.get_potential_energy()
    assert (fakes["scf"][-1][0].charge, fakes["scf"][-1][0].multiplicity) == (1, 1)
    atoms.calc = DFTJaxCalculator(basis="6-31g")  # neutral OH cannot be a singlet
    with pytest.raises(ValueError, match="multiplicity 1 impossible"):
        atoms.get_potential_energy()


def test_unconverged_scf_raises(fakes):
    atoms = water()
    atoms.calc = DFTJaxCalculator(basis="sto-3g", max_cycle=1)
    with pytest.raises(SCFError, match="did not converge"):
        atoms.get_potential_energy()


def test_periodic_atoms_are_rejected(fakes):
    atoms = water()
    atoms.pbc = True
    atoms.cell = [10.0, 10.0, 10.0]
    atoms.calc = DFTJaxCalculator(basis="sto-3g")
    with pytest.raises(NotImplementedError, match="molecules only"):
        atoms.get_potential_energy()
    assert fakes["scf"] == []


@pytest.fixture(scope="module")
def reference(data_dir):
    with open(data_dir / "gradient_reference.json") as handle:
        return json.load(handle)


def test_energy_and_forces_match_pyscf(reference):
    entry = reference["gradients"]["water_sto3g_rhf"]
    atoms = ase.Atoms(entry["symbols"], positions=entry["coords"])
    atoms.calc = DFTJaxCalculator(basis="sto-3g", conv_tol=1e-11)
    assert atoms.get_potential_energy() / Hartree == pytest.approx(entry["energy"], abs=1e-8)
    gradient = -atoms.get_forces() * BOHR_TO_ANGSTROM / Hartree  # back to Ha/Bohr
    assert gradient == pytest.approx(np.array(entry["gradient"]), abs=1e-6)


def test_ase_optimisation_reaches_the_geometric_minimum(reference):
    from ase.optimize import BFGS

    entry = reference["optimizations"]["water_sto3g_rhf"]
    atoms = ase.Atoms(entry["symbols"], positions=entry["coords_start"])
    atoms.calc = DFTJaxCalculator(basis="sto-3g")
    assert BFGS(atoms, logfile=None).run(fmax=1e-3, steps=50)  # eV/Angstrom
    distances = atoms.get_all_distances()
    assert np.max(np.abs(distances - np.array(entry["distances"]))) < 1e-3
