"""Molecular grids against PySCF's Grids(mol) at levels 0..9, and their derivatives.

References in tests/data/grid_reference.npz, made by tests/data/make_grid_reference.py.
PySCF's points come sorted into spatial boxes, ours grouped by atom: full grids are
compared as sets, sorted by (atom, x, y, z); the other levels through per-atom moments.
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO_ROOT

import dftjax
from dftjax.grid import build_grid, default_atom_grid, grid_points, grid_spec
from dftjax.grid.angular import LEBEDEV_NPOINTS, lebedev
from dftjax.grid.molecular import atomic_grid, host_grid_points


@pytest.fixture(scope="module")
def reference(data_dir):
    return dict(np.load(data_dir / "grid_reference.npz"))


def _molecule(reference, name):
    return dftjax.Molecule(list(reference[f"{name}_symbols"]), reference[f"{name}_coords"],
                           unit="bohr")


def _sorted(atom, coords, weights):
    coords, weights, atom = np.asarray(coords), np.asarray(weights), np.asarray(atom)
    rounded = np.round(coords, 8)  # points differ by ~1e-15; round only to order them
    order = np.lexsort((rounded[:, 2], rounded[:, 1], rounded[:, 0], atom))
    return atom[order], coords[order], weights[order]


def test_level_tables_match_pyscf(reference):
    for level in range(10):
        for z in range(1, 104):
            expected = (reference["level_radial"][level, z - 1], reference["level_angular"][level, z - 1])
            assert default_atom_grid(z, level) == expected, (level, z)


@pytest.mark.parametrize("npoints", LEBEDEV_NPOINTS)
def test_lebedev_rules_integrate_low_degree_polynomials(npoints):
    directions, weights = lebedev(npoints)
    assert directions.shape == (npoints, 3)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0, atol=1e-15)
    np.testing.assert_allclose(weights.sum(), 4 * np.pi, rtol=1e-14)
    x, y, z = directions.T
    np.testing.assert_allclose(weights @ (x * x), 4 * np.pi / 3, rtol=1e-13)  # degree 2: every rule
    np.testing.assert_allclose(weights @ (x * y * z), 0.0, atol=1e-14)


def test_shipped_lebedev_rules_are_scipys_and_cover_the_default_level():
    """The rules in dftjax/data/lebedev are SciPy's bit for bit, and every rule a default
    (level 3) grid uses is among them: building one (H to Ar) does not import
    scipy.integrate."""
    from scipy.integrate import lebedev_rule

    from dftjax.grid import angular

    for npoints in angular._shipped_rules():
        points, weights = lebedev_rule(angular._ORDER_OF_NPOINTS[npoints])
        directions, angular_weights = lebedev(npoints)
        assert np.array_equal(directions, points.T) and np.array_equal(angular_weights, weights)
    script = ("import sys\n"
              "from dftjax.grid import grid_spec\n"
              "grid_spec(['H', 'He', 'C', 'N', 'O', 'F', 'Na', 'S', 'Cl', 'Ar'], 3)\n"
              "assert 'scipy.integrate' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", script], check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})


def test_atomic_grids_match_pyscf(reference):
    """Bare atomic grids (radial x pruned angular) for 21 elements, H to Lr, levels 0..9."""
    k = reference["element_k"]
    for level in range(10):
        for i, z in enumerate(reference["element_Z"]):
            offsets, weights = atomic_grid(int(z), *default_atom_grid(int(z), level))
            r = np.linalg.norm(offsets, axis=1)
            assert len(weights) == reference["element_npts"][level, i], (level, z)
            moments = (weights @ np.exp(-r), weights @ (np.exp(-r / 4) * np.cos(offsets @ k)))
            # Same points and weights up to rounding: the sums agree to ~1e-15 relative.
            np.testing.assert_allclose(moments, reference["element_moments"][level, i],
                                       rtol=1e-12, err_msg=f"level {level}, Z {z}")


@pytest.mark.parametrize("level", [0, 1])
def test_water_grid_matches_pyscf_point_by_point(reference, level):
    grid = build_grid(_molecule(reference, "water"), level=level)
    atom, coords, weights = _sorted(grid.atom, grid.coords, grid.weights)
    ref_atom, ref_coords, ref_weights = _sorted(reference[f"water_L{level}_atom"],
                                                reference[f"water_L{level}_coords"],
                                                reference[f"water_L{level}_weights"])
    np.testing.assert_array_equal(atom, ref_atom)
    np.testing.assert_allclose(coords, ref_coords, rtol=0, atol=1e-10)
    np.testing.assert_allclose(weights, ref_weights, rtol=0, atol=1e-10)


def _moments(grid, atom_coords, k):
    atom, coords, weights = (np.asarray(a) for a in (grid.atom, grid.coords, grid.weights))
    rows = []
    for a in range(len(atom_coords)):
        mine = atom == a
        c, w = coords[mine], weights[mine]
        rows.append([mine.sum(), w.sum(), w @ c[:, 0], w @ c[:, 1], w @ c[:, 2],
                     w @ (c**2).sum(axis=1), w @ np.exp(-((c - atom_coords[a]) ** 2).sum(axis=1)),
                     w @ np.cos(c @ k)])
    return np.array(rows)


@pytest.mark.parametrize("name", ["water", "hlicl_br"])
def test_grid_moments_match_pyscf_at_every_level(reference, name):
    molecule = _molecule(reference, name)
    for level in range(10):
        grid = build_grid(molecule, level=level)
        moments = _moments(grid, reference[f"{name}_coords"], reference["molecule_k"])
        # Sums of up to 6e5 terms of size up to ~1e3 (outer shells): compare relatively.
        np.testing.assert_allclose(moments, reference[f"{name}_L{level}_moments"],
                                   rtol=1e-11, atol=1e-10, err_msg=f"{name} level {level}")


def _model_density(points, coords):
    """A SAD-like density: normalised Gaussians, O 2 (core, exponent 40) + 6, H 1 each."""
    shells = (((2.0, 40.0), (6.0, 1.0)), ((1.0, 0.8),), ((1.0, 0.8),))
    density = 0.0
    for centre, atom_shells in zip(coords, shells):
        squared = jnp.sum((points - centre) ** 2, axis=-1)
        for electrons, exponent in atom_shells:
            density = density + electrons * (exponent / jnp.pi) ** 1.5 * jnp.exp(-exponent * squared)
    return density


def test_level3_grid_integrates_model_density(reference):
    molecule = _molecule(reference, "water")
    grid = build_grid(molecule, level=3)
    electrons = jnp.sum(grid.weights * _model_density(grid.coords, molecule.coordinates))
    assert abs(float(electrons) - 10.0) < 1e-6  # measured 1.4e-7


def test_host_grid_is_the_jitted_grid(reference):
    """build_grid's NumPy path (concrete coordinates) against the jitted grid_points."""
    molecule = _molecule(reference, "water")
    spec = grid_spec(molecule.symbols, level=3)
    host, jitted = host_grid_points(spec, molecule.coordinates), grid_points(spec, molecule.coordinates)
    np.testing.assert_array_equal(np.asarray(host.atom), np.asarray(jitted.atom))
    np.testing.assert_allclose(np.asarray(host.coords), np.asarray(jitted.coords), rtol=0, atol=1e-14)
    # the same operations in another order: rounding only (measured 7e-14 on weights up to
    # ~60, and 7e-15 where a Becke factor is near underflow)
    np.testing.assert_allclose(np.asarray(host.weights), np.asarray(jitted.weights), rtol=1e-13,
                               atol=1e-13)


def test_new_geometry_does_not_recompile(reference):
    molecule = _molecule(reference, "water")
    spec = grid_spec(molecule.symbols, level=0)
    grid_points(spec, molecule.coordinates)
    compiled = grid_points._cache_size()
    moved = grid_points(spec, molecule.coordinates + 0.05)
    assert grid_points._cache_size() == compiled
    np.testing.assert_allclose(np.asarray(moved.coords[0] - moved.coords[1]),
                               spec.offsets[0] - spec.offsets[1], atol=1e-14)


def test_grid_gradient_is_finite_and_matches_finite_differences(reference):
    """d/dR of sum_p w_p(R) f(r_p(R)) for a fixed function f: points and Becke weights move."""
    molecule = _molecule(reference, "water")
    spec = grid_spec(molecule.symbols, level=0)
    centre = jnp.array([0.3, -0.2, 0.4])

    def integral(coords):
        grid = grid_points(spec, coords)
        squared = jnp.sum((grid.coords - centre) ** 2, axis=-1)
        return jnp.sum(grid.weights * jnp.exp(-0.5 * squared) * (1.0 + 0.3 * grid.coords[:, 0]))

    coords = jnp.asarray(molecule.coordinates)
    gradient = np.asarray(jax.grad(integral)(coords))
    assert np.all(np.isfinite(gradient))
    step = 1e-4
    finite_difference = np.zeros_like(gradient)
    for a in range(coords.shape[0]):
        for i in range(3):
            shift = jnp.zeros_like(coords).at[a, i].set(step)
            finite_difference[a, i] = (integral(coords + shift) - integral(coords - shift)) / (2 * step)
    # Central differences with h = 1e-4 on a smooth function: error ~h^2 * f''' ~ 1e-8.
    np.testing.assert_allclose(gradient, finite_difference, rtol=1e-6, atol=1e-8)


def test_weight_jacobian_is_finite_for_symmetric_geometry():
    """Linear H3 (points of one atom on the others' axis): no NaN in dw/dR."""
    coords = jnp.array([[0.0, 0.0, -1.4], [0.0, 0.0, 0.0], [0.0, 0.0, 1.4]])
    spec = grid_spec(["H", "H", "H"], level=0)
    jacobian = jax.jacfwd(lambda c: grid_points(spec, c).weights)(coords)
    assert np.all(np.isfinite(np.asarray(jacobian)))
