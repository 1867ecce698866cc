"""The second-order rung of the SCF retry ladder (dftjax/scf/second_order.py).

Energies against PySCF's second-order SCF (``mf.newton()``, tests/data/
make_second_order_reference.py) to 1e-8 Ha: exact integrals, no grid, converged to
conv_tol 1e-9 in the energy (the error is quadratic in the remaining orbital gradient).
Runs with a grid or density fitting have no PySCF number of their own here; they must
reach the state the first-order ladder reaches with the same model, to the same 1e-8.
A small ``max_cycle`` makes every first-order rung fail, so the last rung does the work.
"""

import json
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.benchmarks import load_g2
from dftjax.scf import hf_fock_and_energy
from dftjax.scf.driver import density_from_orbitals, diagonalize
from dftjax.scf.occupations import aufbau_occupations
from dftjax.scf.orthogonalize import orthogonalizer
from dftjax.scf.second_order import _gradient_and_diagonal, rotation_mask, truncated_cg
from dftjax.scf.rotations import rotated_density

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "second_order_reference.json").read_text())
SCF_DATA = np.load(Path(__file__).parent / "data" / "scf_reference.npz")
G2 = {m["name"]: m for m in load_g2()["molecules"]}


def g2_molecule(name):
    entry = G2[name]
    return dftjax.Molecule(entry["symbols"], np.array(entry["positions_angstrom"]),
                           charge=entry["charge"], multiplicity=entry["multiplicity"])


def test_truncated_cg_newton_step_boundary_and_negative_curvature():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    hessian = a @ a.T + 6 * np.eye(6)
    gradient = rng.normal(size=6)
    newton = -np.linalg.solve(hessian, gradient)
    step, predicted = truncated_cg(lambda v: hessian @ v, gradient, 10.0, 1e-12)
    assert np.allclose(step, newton, atol=1e-10)  # CG is exact in n steps
    assert abs(predicted - (gradient @ newton + 0.5 * newton @ hessian @ newton)) < 1e-12
    radius = 0.1 * np.linalg.norm(newton)
    step, predicted = truncated_cg(lambda v: hessian @ v, gradient, radius, 1e-12)
    assert abs(np.linalg.norm(step) - radius) < 1e-12 and predicted < 0
    indefinite = hessian - 20 * np.eye(6)  # negative curvature: go to the boundary
    step, predicted = truncated_cg(lambda v: indefinite @ v, gradient, 0.5, 1e-12)
    assert abs(np.linalg.norm(step) - 0.5) < 1e-12
    assert abs(predicted - (gradient @ step + 0.5 * step @ indefinite @ step)) < 1e-12


@pytest.mark.parametrize("name", ["h2o_631g", "oh_631g"])
def test_orbital_gradient_is_the_derivative_of_the_energy(name):
    # At the core-guess orbitals (far from convergence), the gradient from the Fock
    # matrix equals autodiff of E(D(x)) at x = 0, restricted and unrestricted.
    ref = {key[len(name) + 1:]: SCF_DATA[key]
           for key in SCF_DATA.files if key.startswith(name + "_")}
    nalpha, nbeta = int(ref["nalpha"]), int(ref["nbeta"])
    restricted = nalpha == nbeta
    h_core = ref["T"] + ref["V"]
    model = hf_fock_and_energy(h_core, ref["eri"])
    X, _ = orthogonalizer(jnp.asarray(ref["S"]), 1e-8)
    mo_energy, mo_coeff = diagonalize(jnp.stack([h_core, h_core]), X, restricted=True)
    mo_occ = aufbau_occupations(mo_energy, nalpha, nbeta)
    fock, _ = model(density_from_orbitals(mo_coeff, mo_occ))
    mask = rotation_mask(mo_occ, restricted)
    gradient, _ = _gradient_and_diagonal(fock, mo_coeff, jnp.asarray(mask))
    # restricted: one x rotates both spins
    spins = lambda x: jnp.broadcast_to(x, (2,) + x.shape[1:])
    along = lambda x: model(rotated_density(mo_coeff, mo_occ, spins(x), exact=False))[1]
    expected = jax.grad(along)(jnp.zeros(mask.shape)) * mask
    assert float(jnp.abs(expected).max()) > 1e-2  # far from stationary
    assert np.allclose(gradient, expected, atol=1e-10)  # 1e-10: both exact, double rounding


@pytest.mark.parametrize("name, molecule, max_cycle", [
    ("hco_uhf_sto3g", "HCO", 8), ("h2co_rhf_sto3g", "H2CO", 3)])
def test_second_order_rung_converges_to_pyscf(name, molecule, max_cycle):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converged: no SCFNotConvergedWarning
        result = dftjax.scf(g2_molecule(molecule), basis="sto-3g", stability=False,
                            max_cycle=max_cycle)
    assert result.converged and result.converged_settings == "second-order"
    assert result.attempts == 5 and result.iterations > 4 * max_cycle
    assert float(result.gradient_norm) < 3 * np.sqrt(1e-9)
    assert abs(float(result.energy) - REFERENCE[name]["energy"]) < 1e-8


@pytest.mark.parametrize("molecule, options, max_cycle", [
    ("H2CO", dict(xc="svwn"), 4), ("HCO", dict(density_fit=True), 8)])
def test_second_order_rung_for_kohn_sham_and_density_fitting(molecule, options, max_cycle):
    # the rung on a Kohn-Sham and a density-fitted model (both padded: nao 12 -> 12, 11 -> 12)
    calculation = lambda **more: dftjax.scf(g2_molecule(molecule), basis="sto-3g",
                                            stability=False, **options, **more)
    result = calculation(max_cycle=max_cycle)
    first_order = calculation()
    assert result.converged and result.converged_settings == "second-order"
    assert first_order.converged and first_order.converged_settings != "second-order"
    assert abs(float(result.energy) - float(first_order.energy)) < 1e-8


def test_energy_changes_below_rounding_are_judged_by_the_gradient():
    # conv_tol 1e-16 Ha is below the rounding error of water's -75 Ha (~1e-13): a Newton
    # step there changes E by noise of either sign, so it is accepted when it lowers |g|
    # and its energy change counts as zero; the run converges on |g| < 1e-10 alone
    # instead of rejecting every step until max_cycle.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # converged: no SCFNotConvergedWarning
        result = dftjax.scf(g2_molecule("H2CO"), basis="sto-3g", stability=False,
                            max_cycle=6, conv_tol=1e-16, conv_tol_grad=1e-10)
    assert result.converged and result.converged_settings == "second-order"
    assert float(result.gradient_norm) < 3e-10
    assert abs(float(result.energy) - REFERENCE["h2co_rhf_sto3g"]["energy"]) < 1e-8


def test_hco_converges_whatever_the_chaos():
    # UHF HCO/STO-3G at the G2 geometry: first-order SCF is chaotic (1e-12 A of geometry
    # decides whether a rung converges). With default settings every perturbation must
    # reach PySCF's state (1e-8 A moves the energy by ~2e-11 Ha, far inside 1e-8 Ha).
    entry = G2["HCO"]
    rng = np.random.default_rng(0)
    for eps in (0.0, 1e-12, 1e-10, 1e-8):
        positions = np.array(entry["positions_angstrom"]) + eps * rng.standard_normal((3, 3))
        molecule = dftjax.Molecule(entry["symbols"], positions, multiplicity=2)
        result = dftjax.scf(molecule, basis="sto-3g", stability=False)
        assert result.converged, eps
        assert abs(float(result.energy) - REFERENCE["hco_uhf_sto3g"]["energy"]) < 1e-8, eps
