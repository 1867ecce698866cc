"""The cc-pVTZ reference files shipped in dftjax/data/reference/cc-pvtz/.

Made by ``python -m dftjax.correlated.reference_data`` (provenance in the folder's
README.md) and checked here against PySCF numbers frozen in
tests/data/reference_files_pyscf.json (made by tests/data/make_reference_file_checks.py).
"""

import json

import numpy as np
import pytest

import dftjax
from dftjax.correlated.reference_data import (FORMAT, TRAINING_SET, packaged_reference,
                                              read_reference)

from conftest import DATA_DIR

PYSCF = json.loads((DATA_DIR / "reference_files_pyscf.json").read_text())
# Exact integrals in both codes: 1e-8 Ha, the no-grid tolerance (test_correlated_driver).
E_TOL = 1e-8
# PySCF's dipole is a four-point finite difference of energies converged to ~1e-10 Ha in
# fields of 5e-4 and 1e-3 a.u. (noise ~2e-7 a.u.): 1e-5 a.u. leaves room for that.
DIPOLE_TOL = 1e-5
# The level-3 molecular grid integrates these densities to ~2e-6 electrons (NH3).
GRID_ELECTRONS_TOL = 1e-5


@pytest.mark.parametrize("name", list(TRAINING_SET))
def test_packaged_file_layout_and_energy(name):
    path = packaged_reference(name)
    assert path.stat().st_size < 2 * 2**20
    data = read_reference(path)
    symbols, coords, multiplicity = TRAINING_SET[name]
    mol = dftjax.Molecule(symbols, coords, multiplicity=multiplicity)
    ref = PYSCF[name]
    assert data["format"] == FORMAT and data["name"] == name
    assert (data["method"], data["basis"]) == ("ccsd(t)", "cc-pvtz")
    assert data["converged"] and not data["frozen_core"] and not data["cartesian"]
    assert list(data["symbols"]) == symbols and data["multiplicity"] == multiplicity
    np.testing.assert_allclose(data["coordinates"], mol.coordinates, atol=1e-12)
    assert data["density_matrix"].shape == (ref["nao"], ref["nao"])
    np.testing.assert_allclose(data["density_matrix"], data["density_matrix"].T, atol=1e-12)
    assert abs(data["scf_energy"] - ref["e_scf"]) < E_TOL
    assert abs(data["energy"] - ref["e_ccsd_t"]) < E_TOL
    assert abs(data["correlation_energy"] - (data["energy"] - data["scf_energy"])) < 1e-12
    npts = data["grid_weights"].size
    assert data["grid_coords"].shape == (npts, 3) and data["grid_density"].shape == (npts,)
    electrons = data["grid_weights"] @ data["grid_density"]
    assert abs(electrons - mol.nelectron) < GRID_ELECTRONS_TOL
    if "dipole_z" in ref:
        assert abs(data["dipole"][2] - ref["dipole_z"]) < DIPOLE_TOL
    if len(symbols) == 1:
        assert np.all(np.abs(data["dipole"]) < 1e-8)


def test_unknown_packaged_reference_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="no packaged reference 'ch4' in cc-pvtz"):
        packaged_reference("ch4")
