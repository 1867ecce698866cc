"""AO values and derivatives on points against PySCF's eval_gto, and their derivatives.

References in tests/data/grid_reference.npz, made by tests/data/make_grid_reference.py
from basis-set-exchange data, the same dftjax reads.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.grid import build_grid
from dftjax.grid.ao_values import ao_values

WATER = "water"
HYDROGEN_FLUORIDE = ("F", "H"), np.array([[0.0, 0.0, 0.0], [0.020, -0.010, 0.917]])

CASES = {
    # name: (molecule, basis, cartesian, deriv)
    "water_def2svp": (WATER, "def2-svp", False, 2),
    "water_def2svp_cart": (WATER, "def2-svp", True, 2),
    "hf_ccpvtz": (HYDROGEN_FLUORIDE, "cc-pvtz", False, 2),  # f functions
    "hf_ccpvtz_cart": (HYDROGEN_FLUORIDE, "cc-pvtz", True, 1),
}


@pytest.fixture(scope="module")
def reference(data_dir):
    return dict(np.load(data_dir / "grid_reference.npz"))


def _molecule(reference, which):
    if which == WATER:
        return dftjax.Molecule(list(reference["water_symbols"]), reference["water_coords"], unit="bohr")
    symbols, angstrom = which
    return dftjax.Molecule(symbols, angstrom)


@pytest.mark.parametrize("name", CASES)
def test_ao_values_match_pyscf(reference, name):
    which, basis_name, cartesian, deriv = CASES[name]
    molecule = _molecule(reference, which)
    basis = dftjax.build_basis(molecule, basis_name, cartesian=cartesian)
    values = np.asarray(ao_values(basis, molecule.coordinates, reference[f"ao_{name}_points"], deriv=deriv))
    expected = reference[f"ao_{name}"]
    assert values.shape == expected.shape
    # Values reach ~2e2 (second derivatives of tight d functions near a nucleus).
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-10)


def test_blocks_give_the_same_values(reference):
    molecule = _molecule(reference, WATER)
    basis = dftjax.build_basis(molecule, "def2-svp")
    points = reference["ao_water_def2svp_points"]
    whole = ao_values(basis, molecule.coordinates, points, deriv=1)
    blocked = ao_values(basis, molecule.coordinates, points, deriv=1, block_size=64)  # 4 blocks, padded
    np.testing.assert_allclose(np.asarray(blocked), np.asarray(whole), rtol=1e-14, atol=1e-14)


def test_derivative_with_respect_to_atoms_is_minus_gradient(reference):
    """phi_mu(r - R_A): d phi / d R_A = -grad phi for AOs on A, 0 for the others."""
    molecule = _molecule(reference, WATER)
    basis = dftjax.build_basis(molecule, "def2-svp")
    points = jnp.asarray(reference["ao_water_def2svp_points"][:20])
    coords = jnp.asarray(molecule.coordinates)
    jacobian = jax.jacfwd(lambda c: ao_values(basis, c, points)[0])(coords)  # (npts, nao, natom, 3)
    gradient = np.asarray(ao_values(basis, coords, points, deriv=1)[1:])  # (3, npts, nao)
    on_atom = basis.ao_atom[None, :, None] == np.arange(molecule.natom)[None, None, :]
    expected = -np.moveaxis(gradient, 0, -1)[:, :, None, :] * on_atom[..., None]
    np.testing.assert_allclose(np.asarray(jacobian), expected, rtol=1e-12, atol=1e-12)


def test_gradient_is_finite_at_a_nucleus(reference):
    """x^0 and x^1 factors at x = 0 must not give NaN (no pow with exponent 0)."""
    molecule = _molecule(reference, WATER)
    basis = dftjax.build_basis(molecule, "def2-svp")
    coords = jnp.asarray(molecule.coordinates)
    points = jnp.concatenate([coords, coords + 0.3])

    def total(c):
        return jnp.sum(ao_values(basis, c, points, deriv=1) ** 2)

    assert np.all(np.isfinite(np.asarray(jax.grad(total)(coords))))


def test_grid_overlap_matches_analytic_overlap(reference):
    """sum_p w_p phi_i(r_p) phi_j(r_p) on the level-3 grid vs PySCF's overlap matrix."""
    molecule = _molecule(reference, WATER)
    basis = dftjax.build_basis(molecule, "def2-svp")
    grid = build_grid(molecule, level=3)
    phi = ao_values(basis, molecule.coordinates, grid.coords, block_size=4096)[0]
    overlap = np.asarray(jnp.einsum("p,pi,pj->ij", grid.weights, phi, phi))
    np.testing.assert_allclose(overlap, reference["water_def2svp_S"], rtol=0, atol=2e-6)  # measured 6e-7
