"""Reference .npz files for training (dftjax/correlated/reference_data.py)."""

import json

import numpy as np
import pytest

import dftjax
from dftjax.correlated.reference_data import FORMAT, read_reference, write_reference

from conftest import DATA_DIR

REFERENCE = json.loads((DATA_DIR / "correlated_reference.json").read_text())["h2o_sto3g"]


def test_water_file_round_trips_and_is_consistent(tmp_path):
    mol = dftjax.Molecule(["O", "H", "H"], REFERENCE["coords"])
    # CCSD(T) as the default dipole test of test_correlated_driver: same compiled code.
    write_reference(tmp_path / "h2o.npz", mol, basis="sto-3g", method="ccsd(t)", name="h2o",
                    grid_level=1)
    data = read_reference(tmp_path / "h2o.npz")
    assert data["format"] == FORMAT and data["name"] == "h2o" and data["method"] == "ccsd(t)"
    assert list(data["symbols"]) == ["O", "H", "H"] and data["converged"]
    assert abs(data["energy"] - REFERENCE["e_ccsd_t"]) < 1e-8  # as test_correlated_driver
    # The density matrix holds the electrons exactly; the level-1 grid to ~1e-4.
    overlap = np.asarray(dftjax.compute_integrals(mol, dftjax.build_basis(mol, "sto-3g")).overlap)
    assert abs(np.sum(data["density_matrix"] * overlap) - 10) < 1e-8
    assert abs(data["grid_weights"] @ data["grid_density"] - 10) < 1e-3
    assert data["grid_coords"].shape == (data["grid_weights"].size, 3)
    assert data["dipole"].shape == (3,)


def test_foreign_file_is_refused(tmp_path):
    np.savez(tmp_path / "x.npz", format="something-else")
    with pytest.raises(ValueError, match="not a dftjax-reference-1 file"):
        read_reference(tmp_path / "x.npz")
