"""Tests of geometry optimisation (dftjax/optimize.py).

The optimiser's machinery (convergence criteria, trajectory, warnings, no drift) is
tested on a model energy, a sum of harmonic springs between atoms whose minimum is known,
patched in for the SCF, so those tests take milliseconds. The real optimisations start
from the distorted geometries of tests/data/gradient_reference.json and end at geomeTRIC's
minima there (PySCF analytic gradients, converged to |g| < 1e-6 Ha/Bohr; see
tests/data/make_gradient_references.py); every interatomic distance is compared, so the
test does not depend on orientation. Harmonic frequencies from finite differences of
dftjax's analytic gradients are compared with PySCF's analytic Hessian.
"""

import json
import math
import types
import warnings

import numpy as np
import pytest

import dftjax
import dftjax.api
from dftjax import vibrations
from dftjax.elements import ANGSTROM_TO_BOHR, BOHR_TO_ANGSTROM
from dftjax.optimize import (GEOMETRIC_DEFAULTS, OptimizationResult, _aligned_displacement,
                             convergence_criteria, optimize)

@pytest.fixture(scope="module")
def reference(data_dir):
    with open(data_dir / "gradient_reference.json") as handle:
        return json.load(handle)


# --------------------------------------------------------------------------- model energy

# A triangle of springs (Bohr, Ha/Bohr^2): O-H 1.8, H-H 2.9 at the minimum.
SPRINGS = {(0, 1): (1.8, 0.5), (0, 2): (1.8, 0.5), (1, 2): (2.9, 0.1)}
ANGLE = 2 * math.asin(2.9 / 2 / 1.8)  # H-O-H at the minimum
START = np.array([[0.0, 0.1, 0.2], [0.1, 1.6, -1.0], [-0.1, -1.4, -0.8]])


def spring_energy_and_gradient(coordinates):
    energy, gradient = 0.0, np.zeros_like(coordinates)
    for (i, j), (r0, k) in SPRINGS.items():
        bond = coordinates[i] - coordinates[j]
        r = np.linalg.norm(bond)
        energy += k * (r - r0) ** 2
        gradient[i] += 2 * k * (r - r0) * bond / r
        gradient[j] -= 2 * k * (r - r0) * bond / r
    return energy, gradient


@pytest.fixture
def springs(monkeypatch):
    """dftjax.scf replaced by the spring model; returns the list of SCF calls."""
    calls = []

    def fake_scf(molecule, **options):
        calls.append(options)
        energy, _ = spring_energy_and_gradient(np.asarray(molecule.coordinates))
        return types.SimpleNamespace(molecule=molecule, energy=energy, converged=True,
                                     restricted=True)

    monkeypatch.setattr(dftjax.api, "scf", fake_scf)
    return calls


def spring_gradient(calc):
    return spring_energy_and_gradient(np.asarray(calc.molecule.coordinates))[1]


def water_model():
    return dftjax.Molecule(["O", "H", "H"], START, unit="bohr")


def distances(coordinates):
    coordinates = np.asarray(coordinates)
    return np.linalg.norm(coordinates[:, None] - coordinates[None], axis=-1)


@pytest.mark.parametrize("method", ["BFGS", "L-BFGS-B"])
def test_model_minimum_is_found(springs, method, caplog):
    steps_seen = []
    result = optimize(water_model(), basis="sto-3g", gradient=spring_gradient, method=method,
                      gtol=1e-6, callback=steps_seen.append, grid_level=1)
    assert isinstance(result, OptimizationResult)
    assert result.converged and result.steps >= 3
    d = distances(result.molecule.coordinates)
    assert d[0, 1] == pytest.approx(1.8, abs=1e-6) and d[0, 2] == pytest.approx(1.8, abs=1e-6)
    assert d[1, 2] == pytest.approx(2.9, abs=1e-6)
    assert np.max(np.abs(result.gradient)) <= 1e-6
    # the trajectory: start first, final last, one entry per step, energy going down
    assert len(result.trajectory) == result.steps + 1 and result.evaluations >= result.steps
    assert [s.step for s in result.trajectory] == list(range(result.steps + 1))
    assert np.allclose(result.trajectory[0].molecule.coordinates, START)
    assert result.trajectory[-1].molecule is result.molecule
    energies = [s.energy for s in result.trajectory]
    assert all(later <= earlier + 1e-12 for earlier, later in zip(energies, energies[1:]))
    assert steps_seen == list(result.trajectory)
    # the net force is projected out: the centre of the atoms does not move
    assert np.allclose(np.mean(result.molecule.coordinates, axis=0), START.mean(axis=0),
                       atol=1e-10)
    # the SCF options are passed on, with the optimiser's tighter conv_tol
    assert springs[0] == {"basis": "sto-3g", "xc": "hf", "conv_tol": 1e-10, "verbose": False,
                          "grid_level": 1}
    # progress logged (dftjax.log), one line per step
    lines = [r.getMessage() for r in caplog.records if r.name == "dftjax.optimize"]
    assert sum(line.startswith("  step ") for line in lines) == result.steps + 1
    assert lines[-1].startswith("geometry converged")
    # XYZ output of the final geometry and of the trajectory, in Angstrom
    xyz = result.to_xyz()
    assert xyz.splitlines()[0] == "3" and "E = " in xyz.splitlines()[1]
    assert np.allclose(dftjax.Molecule.from_xyz(xyz).coordinates, result.molecule.coordinates,
                       atol=1e-10)
    assert result.trajectory_xyz().count("\n3\n") == result.steps
    assert np.allclose(result.coordinates_angstrom,
                       np.asarray(result.molecule.coordinates) * BOHR_TO_ANGSTROM)


def test_default_criteria_reach_the_minimum_to_1e_4_angstrom(springs):
    result = optimize(water_model(), gradient=spring_gradient, verbose=False)
    assert result.converged
    error = np.abs(distances(result.molecule.coordinates) - distances(
        [[0, 0, 0], [1.8, 0, 0], [1.8 * math.cos(ANGLE), 1.8 * math.sin(ANGLE), 0]]))
    assert np.max(error) * BOHR_TO_ANGSTROM < 1e-4


def test_not_converged_is_loud(springs, caplog):
    with pytest.warns(RuntimeWarning, match="did not converge in 2 steps"):
        result = optimize(water_model(), gradient=spring_gradient, max_steps=2)
    assert not result.converged and result.steps == 2
    assert "reached max_steps" in result.message
    assert any(r.levelname == "WARNING" and "geometry optimisation did not converge" in r.getMessage()
               for r in caplog.records if r.name == "dftjax.optimize")
    # the lowest-energy geometry is returned
    assert result.energy == min(s.energy for s in result.trajectory)


def test_start_at_the_minimum_takes_no_step(springs):
    minimum = [[0, 0, 0], [1.8, 0, 0], [1.8 * math.cos(ANGLE), 1.8 * math.sin(ANGLE), 0]]
    molecule = dftjax.Molecule(["O", "H", "H"], minimum, unit="bohr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = optimize(molecule, gradient=spring_gradient, verbose=False)
    assert result.converged and result.steps == 0 and result.evaluations == 1
    assert result.molecule is result.trajectory[0].molecule


def test_bad_arguments(springs):
    with pytest.raises(ValueError, match="unknown method"):
        optimize(water_model(), gradient=spring_gradient, method="CG")
    with pytest.raises(ValueError, match="max_steps"):
        optimize(water_model(), gradient=spring_gradient, max_steps=0)
    with pytest.raises(ValueError, match="unknown convergence criterion"):
        optimize(water_model(), gradient=spring_gradient, convergence={"gnorm": 1.0})
    with pytest.raises(TypeError, match="Molecule"):
        optimize("O 0 0 0; H 0 0 1", gradient=spring_gradient)
    assert springs == []


def test_convergence_criteria_scale_like_geometric():
    assert convergence_criteria(gtol=4.5e-4, conv_tol=1e-10) == pytest.approx(GEOMETRIC_DEFAULTS)
    criteria = convergence_criteria(gtol=1e-4, conv_tol=1e-10)
    assert criteria["gmax"] == 1e-4 and criteria["grms"] == pytest.approx(1e-4 * 2 / 3)
    assert criteria["dmax"] == pytest.approx(4e-4) and criteria["drms"] == pytest.approx(8e-4 / 3)
    assert criteria["energy"] == pytest.approx(1e-6 * (1e-4 / 4.5e-4) ** 2)
    # the energy criterion never drops below what the SCF can resolve
    assert convergence_criteria(gtol=1e-7, conv_tol=1e-10)["energy"] == pytest.approx(1e-9)
    assert convergence_criteria(convergence={"dmax": 1e-2})["dmax"] == 1e-2
    with pytest.raises(ValueError):
        convergence_criteria(gtol=0.0)


def test_displacement_ignores_rigid_motion():
    rng = np.random.default_rng(1)
    coordinates = rng.normal(size=(5, 3))
    angle = 0.7
    rotation = np.array([[math.cos(angle), -math.sin(angle), 0],
                         [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    moved = coordinates @ rotation.T + np.array([1.0, -2.0, 0.5])
    assert np.max(_aligned_displacement(coordinates, moved)) < 1e-12
    moved[2, 0] += 0.01
    assert 0.005 < np.max(_aligned_displacement(coordinates, moved)) < 0.01


# --------------------------------------------------------------------------- real SCF

def start_molecule(entry):
    return dftjax.Molecule(entry["symbols"], entry["coords_start"])


def check_against_geometric(result, entry, length_tol=1e-4, energy_tol=1e-8):
    assert result.converged
    final = np.asarray(result.molecule.coordinates) * BOHR_TO_ANGSTROM
    error = np.abs(distances(final) - np.asarray(entry["distances"]))
    assert np.max(error) < length_tol, f"distances off by {np.max(error):.2e} Angstrom"
    for i, j, length in entry["bonds"]:
        assert distances(final)[i, j] == pytest.approx(length, abs=length_tol)
    assert result.energy == pytest.approx(entry["energy"], abs=energy_tol)


def test_water_sto3g_matches_geometric(reference):
    entry = reference["optimizations"]["water_sto3g_rhf"]
    result = optimize(start_molecule(entry), basis="sto-3g")
    check_against_geometric(result, entry)
    assert result.steps <= 15


@pytest.mark.slow
@pytest.mark.parametrize("name", ["water_def2svp_rhf", "nh3_def2svp_rhf", "hf_def2svp_rhf",
                                  "ch4_def2svp_rhf"])
def test_rhf_def2svp_matches_geometric(reference, name):
    entry = reference["optimizations"][name]
    result = optimize(start_molecule(entry), basis=entry["basis"])
    check_against_geometric(result, entry)


@pytest.mark.slow
def test_water_b3lyp_matches_geometric(reference):
    """The grid moves with the atoms: PySCF's gradient with grid response is the exact
    derivative of the energy on that grid, so the two minima agree."""
    entry = reference["optimizations"]["water_def2svp_b3lyp"]
    result = optimize(start_molecule(entry), basis="def2-svp", xc="b3lyp", grid_level=3)
    check_against_geometric(result, entry, energy_tol=1e-7)


@pytest.mark.slow
def test_lbfgsb_reaches_the_same_minimum(reference):
    entry = reference["optimizations"]["water_sto3g_rhf"]
    result = optimize(start_molecule(entry), basis="sto-3g", method="L-BFGS-B")
    check_against_geometric(result, entry)


# --------------------------------------------------------------------------- frequencies

def harmonic_frequencies(hessian, masses, coordinates):
    """dftjax.hessian.harmonic_frequencies for bare arrays (coordinates in Bohr)."""
    molecule = types.SimpleNamespace(coordinates=coordinates, atomic_numbers=None)
    return vibrations.harmonic_frequencies(hessian, molecule, masses)


def finite_difference_hessian(molecule, basis, conv_tol):
    return vibrations.hessian(molecule, basis, conv_tol=conv_tol)


def test_harmonic_analysis_reproduces_pyscf_from_its_hessian(reference):
    """The frequency helper itself, on PySCF's own Hessian: the same numbers."""
    for entry in reference["frequencies"].values():
        natom = len(entry["symbols"])
        hessian = np.asarray(entry["hessian"]).transpose(0, 2, 1, 3).reshape(3 * natom, -1)
        coordinates = np.asarray(entry["coords"]) * ANGSTROM_TO_BOHR
        frequencies = harmonic_frequencies(hessian, entry["masses"], coordinates)
        # 1e-5 cm^-1 apart at most: the geometry's residual gradient (5e-7 Ha/Bohr) leaves
        # the rigid-body projection slightly method dependent
        assert frequencies == pytest.approx(entry["frequencies_cm1"], abs=1e-3)


@pytest.mark.parametrize("name", ["water_sto3g_rhf",
                                  pytest.param("water_def2svp_rhf", marks=pytest.mark.slow)])
def test_water_frequencies_match_pyscf_hessian(reference, name):
    entry = reference["frequencies"][name]
    molecule = dftjax.Molecule(entry["symbols"], entry["coords"])
    hessian = finite_difference_hessian(molecule, basis=entry["basis"], conv_tol=1e-11)
    frequencies = harmonic_frequencies(hessian, entry["masses"],
                                       np.asarray(molecule.coordinates))
    assert frequencies == pytest.approx(entry["frequencies_cm1"], abs=0.5)
