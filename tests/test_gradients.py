"""Analytic nuclear gradients (dftjax.gradient) against PySCF, and the other first derivatives.

References: tests/data/gradient_reference.json, made by
tests/data/make_gradient_references.py (PySCF analytic gradients on basis-set-exchange
data, DFT with grid response on, same grid level). The SCF here is converged to 1e-12 Ha so
the comparison measures the gradient code, not the SCF.
"""

import json

import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.gradients import gradient

from conftest import DATA_DIR

REF = json.loads((DATA_DIR / "gradient_reference.json").read_text())["gradients"]
# The acceptance figure: forces to 1e-6 Ha/Bohr. Exact-ERI HF agrees to ~1e-10 and
# DFT with grid response to ~1e-8 (both codes differentiate the same quadrature).
FORCE_ATOL = 1e-6
# Larger bases/molecules compile for a minute or more on two cores: slow marker.
# The default run keeps one closed-shell HF, one UHF, one UKS hybrid, and restricted GGA
# and meta-GGA, all DFT with grid response.
DEFAULT = {"water_sto3g_rhf", "oh_631g_uhf", "oh_631g_b3lyp_uks", "nh3_def2svp_pbe",
           "water_def2svp_r2scan"}


def _calc(case):
    mol = dftjax.Molecule(case["symbols"], case["coords"], charge=case["charge"],
                          multiplicity=case["multiplicity"])
    return dftjax.scf(mol, case["basis"], xc=case["xc"], conv_tol=1e-12,
                      unrestricted=case["unrestricted"], grid_level=case["grid_level"] or 3)


@pytest.mark.parametrize("name", [n if n in DEFAULT else pytest.param(n, marks=pytest.mark.slow)
                                  for n in REF])
def test_forces_match_pyscf(name):
    case = REF[name]
    calc = _calc(case)
    assert calc.converged
    # Same SCF state as the reference? Open-shell radicals on a grid (OH) have near-degenerate
    # orientations of the pi hole a few 1e-7 Ha apart (see test_ks_energies); 1e-6 accepts
    # those and rejects a different electronic state.
    assert abs(float(calc.energy) - case["energy"]) < 1e-6, "not the reference SCF state"
    g = gradient(calc)
    assert g.shape == (len(case["symbols"]), 3)
    np.testing.assert_allclose(g, case["gradient"], rtol=0, atol=FORCE_ATOL)
    # Translational invariance: the forces sum to zero (grid response included).
    np.testing.assert_allclose(g.sum(axis=0), 0.0, atol=1e-8)


@pytest.fixture(scope="module")
def water_hf():
    case = REF["water_sto3g_rhf"]
    return _calc(case)


def test_field_gradient_is_minus_dipole(water_hf):
    np.testing.assert_allclose(gradient(water_hf, wrt="field"), -water_hf.dipole, atol=1e-10)


def test_forces_match_finite_differences(water_hf):
    mol = water_hf.molecule
    g = gradient(water_hf)
    h = 1e-4  # Bohr; central differences, error O(h^2) ~ 1e-9 relative
    for atom, axis in [(0, 2), (1, 1), (2, 2)]:
        energies = []
        for sign in (1, -1):
            coords = np.array(mol.coordinates)
            coords[atom, axis] += sign * h
            moved = dftjax.Molecule(mol.symbols, coords, unit="bohr")
            energies.append(float(dftjax.scf(moved, "sto-3g", conv_tol=1e-12).energy))
        fd = (energies[0] - energies[1]) / (2 * h)
        assert abs(g[atom, axis] - fd) <= 1e-6 * max(abs(fd), 1e-3)


def test_gradient_rejects_unknown_target(water_hf):
    with pytest.raises(ValueError, match="unknown gradient"):
        gradient(water_hf, wrt="spin")
    with pytest.raises(ValueError, match="no functional parameters"):
        gradient(water_hf, wrt="xc_params")


def test_xc_parameter_gradient_matches_finite_differences():
    """dE/dtheta at fixed density = the total derivative (stationarity), checked by FD of
    SCF energies with a scaled-exchange Slater functional."""
    from dftjax.xc import Functional

    def energy_density(params, features):
        # LDA exchange, spin-resolved: -(3/4)(6/pi)^(1/3) sum_s rho_s^(4/3), scaled by a
        rho = jnp.maximum(features.rho, 0.0)
        on = rho > 1e-30
        safe = jnp.where(on, rho, 1.0)  # no fractional power of 0 on a computed branch
        return -params["a"] * 0.75 * (6.0 / jnp.pi) ** (1 / 3) * jnp.sum(
            jnp.where(on, safe ** (4 / 3), 0.0), axis=0)

    functional = Functional("scaled-slater", energy_density, needs=("rho",),
                            params={"a": jnp.asarray(1.0)})
    mol = dftjax.Molecule(["H", "F"], [[0, 0, 0], [0, 0, 0.93]])
    calc = dftjax.scf(mol, "sto-3g", xc=functional, conv_tol=1e-12, grid_level=1)
    g = gradient(calc, wrt="xc_params")["a"]
    h = 1e-4
    e = [float(dftjax.scf(mol, "sto-3g", xc=functional, conv_tol=1e-12, grid_level=1,
                          xc_params={"a": jnp.asarray(1.0 + s * h)}).energy) for s in (1, -1)]
    fd = (e[0] - e[1]) / (2 * h)
    assert abs(float(g) - fd) <= 1e-6 * abs(fd)


# ---------------------------------------------------------------------------------------
# Density-fitted gradients: tests/data/df_gradient_reference.json, made by
# tests/data/make_df_gradient_references.py (PySCF mf.density_fit(auxbasis=...) gradients,
# auxiliary response on, DFT with grid response, dftjax's default auxiliary basis).

DF_REF = json.loads((DATA_DIR / "df_gradient_reference.json").read_text())["gradients"]
# The default run takes one open-shell hybrid (J, K, XC and grid response, two spins)
# through the CLI, as a user would; the other cases compile for 1-2 minutes each.
DF_DEFAULT = "nh2_sto3g_b3lyp_uks_df"


def _df_calc(case):
    mol = dftjax.Molecule(case["symbols"], case["coords"], multiplicity=case["multiplicity"])
    return dftjax.scf(mol, case["basis"], xc=case["xc"], conv_tol=1e-12, density_fit=True,
                      unrestricted=case["unrestricted"], grid_level=case["grid_level"] or 3)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow)
                                  for n in DF_REF if n != DF_DEFAULT])
def test_density_fitted_forces_match_pyscf(name):
    case = DF_REF[name]
    calc = _df_calc(case)
    assert calc.eri_method == "density-fit" and calc.auxbasis == case["auxbasis"]
    assert calc.naux == case["naux"]
    # Same fitted model as the reference: energies agree to ~1e-12 on matched grids.
    assert abs(float(calc.energy) - case["energy"]) < 1e-8
    g = gradient(calc)
    # Measured: |dftjax - PySCF| <= 8e-9 Ha/Bohr for every case here.
    np.testing.assert_allclose(g, case["gradient"], rtol=0, atol=FORCE_ATOL)
    np.testing.assert_allclose(g.sum(axis=0), 0.0, atol=1e-8)


def test_cli_density_fitted_gradient_matches_pyscf(tmp_path, capsys):
    from dftjax.cli import main

    case = DF_REF[DF_DEFAULT]
    mol = dftjax.Molecule(case["symbols"], case["coords"], multiplicity=case["multiplicity"])
    path = tmp_path / "nh2.xyz"
    path.write_text(mol.to_xyz())
    assert main(["run", str(path), "--basis", case["basis"], "--xc", case["xc"],
                 "--multiplicity", str(case["multiplicity"]), "--conv-tol", "1e-12",
                 "--density-fit", "--gradient", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["eri_method"] == "density-fit" and record["auxbasis"] == case["auxbasis"]
    assert abs(record["energy"] - case["energy"]) < 1e-8
    np.testing.assert_allclose(record["gradient"], case["gradient"], rtol=0, atol=FORCE_ATOL)


@pytest.mark.slow  # an SCF with long-range fitted exchange: ~45 s cold
def test_cli_density_fitted_range_separated_gradient_is_an_input_error(tmp_path, capsys):
    from dftjax.cli import main

    path = tmp_path / "h2.xyz"
    path.write_text("2\n\nH 0 0 0\nH 0 0 0.74\n")
    code = main(["run", str(path), "--basis", "sto-3g", "--xc", "wb97x", "--density-fit",
                 "--gradient", "--json"])
    err = capsys.readouterr().err
    assert code == 2
    assert "dftjax: error: density-fitted gradients of range-separated" in err
    assert "Traceback" not in err
