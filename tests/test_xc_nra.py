"""NN-NRA's nonlocal descriptor (dftjax.xc.nra) and its potential in the XC paths.

References: the O(N^2) double sum over the grid (brute force), autodiff of the energy,
finite differences of the energy in the density and in the atom positions.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.grid import ao_values, build_grid
from dftjax.xc import get_functional
from dftjax.xc.blocked import xc_energy_and_potential, xc_energy_blocked, xc_grid
from dftjax.xc.nra import NRA_CUTOFF, kernel_product, neighbour_list, nra_descriptor, nra_kernel

from dense_xc import dense_xc_energy

WATER = dftjax.Molecule(["O", "H", "H"], [[0.0, 0.0, 0.119262], [0.0, 0.763239, -0.477047],
                                          [0.0, -0.763239, -0.477047]])


@pytest.fixture(scope="module")
def water():
    basis = dftjax.build_basis(WATER, "sto-3g")
    grid = build_grid(WATER, level=0)
    rng = np.random.default_rng(5)
    orbitals = rng.standard_normal((2, basis.nao, 5)) * 0.3
    density = jnp.asarray(np.einsum("sik,sjk->sij", orbitals, orbitals))
    return basis, grid, density


def brute_force(points, weights, density):
    return np.maximum(dense_kernel(points) @ (weights * density), 0.0) + 1e-7


def dense_kernel(points):
    scaled = np.linalg.norm(points[:, None] - points[None], axis=-1) / 0.2
    return np.where(scaled < np.log(1000.0), np.exp(-scaled), 0.0)


@pytest.mark.parametrize("pairs", ["neighbour list", "precomputed kernel"])
def test_descriptor_matches_brute_force(water, pairs):
    _, grid, _ = water
    points, weights = np.asarray(grid.coords), np.asarray(grid.weights)
    density = np.exp(-2.0 * np.linalg.norm(points - [0.0, 0.0, 0.2], axis=1))
    density[::7] *= -0.5  # negative sums somewhere too: R = eps0 there
    neighbours = (neighbour_list(points, np.asarray(grid.atom)) if pairs == "neighbour list"
                  else nra_kernel(points))
    ours = np.asarray(jax.jit(nra_descriptor)(neighbours, grid.coords, grid.weights, jnp.asarray(density)))
    expected = brute_force(points, weights, density)
    assert np.any(expected == 1e-7)
    # the same sum in another order: round-off only (values are O(1))
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    assert abs(NRA_CUTOFF - 1.3815510557964275) < 1e-15


@pytest.mark.parametrize("build", [lambda g: neighbour_list(np.asarray(g.coords), np.asarray(g.atom)),
                                   lambda g: nra_kernel(np.asarray(g.coords))],
                         ids=["neighbour list", "precomputed kernel"])
def test_displaced_geometry_does_not_recompile(build):
    traces = []

    @jax.jit
    def descriptor(neighbours, points, weights, density):
        traces.append(1)
        return nra_descriptor(neighbours, points, weights, density)

    moved = WATER.with_coordinates(WATER.coordinates + np.array([[0.0, 0.0, 0.02], [0.0, 0.01, 0.0],
                                                                 [0.0, 0.0, -0.01]]))
    for molecule in (WATER, moved):
        g = build_grid(molecule, level=0)
        density = jnp.exp(-jnp.linalg.norm(g.coords, axis=1))
        descriptor(build(g), g.coords, g.weights, density)
    assert len(traces) == 1


def test_kernel_product_and_its_derivatives(water):
    """The precomputed kernel's sum, its pullback and its pushforward are products with the
    dense symmetric kernel (round-off only: sums of O(1) terms)."""
    _, grid, _ = water
    points = np.asarray(grid.coords)
    kernel, dense = nra_kernel(points), dense_kernel(points)
    rng = np.random.default_rng(3)
    values, cotangent = rng.standard_normal((2, len(points)))
    product, pullback = jax.vjp(lambda v: kernel_product(kernel, v), jnp.asarray(values))
    np.testing.assert_allclose(np.asarray(product), dense @ values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(pullback(jnp.asarray(cotangent))[0]), dense.T @ cotangent,
                               rtol=0, atol=1e-12)
    tangent = jax.jvp(lambda v: kernel_product(kernel, v), (jnp.asarray(values),),
                      (jnp.asarray(cotangent),))[1]
    np.testing.assert_allclose(np.asarray(tangent), dense @ cotangent, rtol=0, atol=1e-12)


def test_kernel_that_does_not_fit_is_refused(water, monkeypatch):
    import dftjax.memory

    _, grid, _ = water
    monkeypatch.setattr(dftjax.memory, "available_memory", lambda: 1024**2)
    with pytest.raises(MemoryError, match=r"NN-NRA's precomputed kernel for 2326 grid points "
                                          r"needs about \d+ MiB .* only 1 MiB is available"):
        nra_kernel(np.asarray(grid.coords))


@pytest.mark.parametrize("restricted, pairs", [(False, "neighbours"), (True, "neighbours"),
                                               (False, "precompute_nra")])
def test_potential_is_the_derivative(water, restricted, pairs):
    basis, grid, density = water
    functional = get_functional("nn-nra")
    if restricted:
        density = jnp.stack([density[0], density[0]])
    xcg = xc_grid(basis, grid, WATER.coordinates, deriv=1, **{pairs: True})
    energy = jax.jit(xc_energy_blocked, static_argnums=0)(functional, functional.params, xcg, density)
    expected = jax.jit(jax.grad(lambda d: xc_energy_blocked(functional, functional.params, xcg, d)))(density)
    expected = 0.5 * (expected + jnp.swapaxes(expected, 1, 2))
    ours_energy, potential = jax.jit(xc_energy_and_potential, static_argnums=(0, 4))(
        functional, functional.params, xcg, density, restricted)
    if restricted:
        expected = jnp.stack([expected[0] + expected[1]] * 2) * 0.5
    assert abs(float(ours_energy - energy)) < 1e-11
    np.testing.assert_allclose(np.asarray(potential), np.asarray(expected), rtol=0, atol=1e-10)
    # and the energy moves as the potential says (central differences, step 1e-4)
    direction = jnp.asarray(np.random.default_rng(1).standard_normal(density.shape)) * 0.01
    direction = direction + jnp.swapaxes(direction, 1, 2)
    if restricted:
        direction = jnp.stack([direction[0], direction[0]])
    h = 1e-4
    energy_fn = jax.jit(xc_energy_blocked, static_argnums=0)
    fd = (energy_fn(functional, functional.params, xcg, density + h * direction)
          - energy_fn(functional, functional.params, xcg, density - h * direction)) / (2 * h)
    np.testing.assert_allclose(float(jnp.vdot(potential, direction)), float(fd), rtol=1e-6)


def test_dense_energy_and_atom_gradient(water, monkeypatch):
    """The dense twin (tests/dense_xc.py) agrees with the blocked path, and the blocked
    path's derivative in the atom positions (as the nuclear gradients take it) matches
    finite differences (the grid and its weights move with the atoms).

    The derivative is checked without the cutoff: with it the energy jumps wherever a
    pair of points crosses 1.38 Bohr (by exp(-ln 1000) = 1e-3 of that pair's kernel), a
    piecewise-constant term whose derivative is zero and which finite differences cannot
    resolve (they land 1e-4 relative away at any step)."""
    from dftjax.grid.molecular import grid_points, grid_spec
    import dftjax.xc.nra as nra

    basis, grid, density = water
    functional = get_functional("nn-nra")
    spec = grid_spec(WATER.symbols, 0)
    neighbours = neighbour_list(np.asarray(grid.coords), np.asarray(grid.atom), skin=0.1)

    def dense(coords):
        g = grid_points(spec, coords)
        ao = ao_values(basis, coords, g.coords, deriv=1)
        return dense_xc_energy(functional, functional.params, ao, g.weights, density, g.coords,
                               neighbours)

    coords = jnp.asarray(WATER.coordinates)
    xcg = xc_grid(basis, grid, WATER.coordinates, deriv=1, neighbours=True, ao_memory=0)
    blocked = xc_energy_blocked(functional, functional.params, xcg, density)
    assert abs(float(jax.jit(dense)(coords) - blocked)) < 1e-10
    monkeypatch.setattr(nra, "NRA_CUTOFF_RATIO", 1e3)  # every pair, no cutoff
    every_pair = dataclasses.replace(xcg, neighbours=neighbour_list(
        np.asarray(grid.coords), np.asarray(grid.atom), cutoff=1e3))

    def energy(coords):
        moved = every_pair.at_geometry(coords, grid_points(spec, coords))
        return xc_energy_blocked(functional, functional.params, moved, density)

    gradient = jax.jit(jax.grad(energy))(coords)
    step = np.zeros((3, 3))
    step[1, 1] = 1e-4
    fd = (jax.jit(energy)(coords + step) - jax.jit(energy)(coords - step)) / 2e-4
    # central differences, step 1e-4 Bohr: truncation ~1e-8 relative
    np.testing.assert_allclose(float(gradient[1, 1]), float(fd), rtol=1e-6)


def test_scf_with_nn_nra_converges():
    molecule = dftjax.Molecule(["H", "H"], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.74]])
    result = dftjax.scf(molecule, basis="sto-3g", xc="nn-nra", grid_level=0)
    assert result.converged
    assert result.model.params["xc_grid"].nra_kernel is not None  # the SCF's fast path
    # the same state with NN-meta-GGA (R replaced by its local value) is not far: R only
    # refines the meta-GGA's descriptors
    assert -1.25 < result.energy < -1.0


@pytest.mark.slow
def test_forces_from_gradient_and_scf_function_agree():
    """dftjax.gradient (dense path, Lagrangian) and autodiff through SCFFunction (implicit
    SCF derivative) give the same forces for NN-NRA."""
    from dftjax.differentiable import SCFFunction

    molecule = dftjax.Molecule(["H", "F"], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.92]])
    calc = dftjax.scf(molecule, basis="sto-3g", xc="nn-nra", grid_level=0, conv_tol=1e-11)
    function = SCFFunction(molecule, basis="sto-3g", xc="nn-nra", grid_level=0)
    through_scf = jax.grad(lambda c: function(c).energy)(jnp.asarray(molecule.coordinates))
    # both at SCF convergence 1e-11 Ha: forces agree to ~1e-6 Ha/Bohr
    np.testing.assert_allclose(np.asarray(through_scf), dftjax.gradient(calc), rtol=0, atol=1e-6)
