"""The screened, blocked XC path (dftjax.grid.screening, dftjax.xc.blocked), which the SCF
and the nuclear gradients both use, against a dense twin (ao_values + tests/dense_xc.py).

Two water molecules 12 Angstrom apart, so that screening drops most AOs of the far
molecule on each block; 6-31G, grid level 1, to stay quick.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.grid import ao_plan, ao_values, build_grid
from dftjax.grid.ao_values import evaluate_shells
from dftjax.grid.screening import bucket, block_layout
from dftjax.xc import get_functional
from dftjax.xc.blocked import (can_pad, padded_xc_grid, xc_energy_and_potential,
                               xc_energy_blocked, xc_grid)

from dense_xc import dense_xc_energy

WATER = np.array([[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]])
# The screening drops AO values below 1e-14 (and gradients), whose share of E_xc is far
# below this; otherwise the two paths differ by rounding.
E_TOL = 1e-11
V_TOL = 1e-10


def _dimer(shift=0.0):
    coords = np.concatenate([WATER, WATER + [12.0 + shift, 0.0, 0.0]])
    return dftjax.Molecule(["O", "H", "H"] * 2, coords)


@pytest.fixture(scope="module")
def dimer():
    molecule = _dimer()
    basis = dftjax.build_basis(molecule, "6-31g")
    grid = build_grid(molecule, level=1)
    dense = ao_values(basis, molecule.coordinates, grid.coords, deriv=1)
    rng = np.random.default_rng(3)
    orbitals = rng.standard_normal((2, basis.nao, 5)) * 0.3
    density = jnp.asarray(np.einsum("sik,sjk->sij", orbitals, orbitals))
    return molecule, basis, grid, dense, density


def test_bucket_ladder():
    assert [bucket(n) for n in (0, 1, 3, 4, 5, 6, 7, 9, 13, 17, 25, 33, 49)] == \
        [0, 1, 3, 4, 6, 6, 8, 12, 16, 24, 32, 48, 64]
    assert [bucket(n, 4) for n in (0, 3, 4, 5, 7, 9, 11, 13, 15, 17, 33, 41)] == \
        [0, 3, 4, 5, 7, 10, 12, 14, 16, 20, 40, 48]


def test_padded_grid_changes_nothing(dimer):
    """The grid on 8 more AOs, its shapes rounded up: E_xc and V_xc on the real AOs to
    rounding (the same sums over more zeros), V_xc exactly zero on the padding AOs."""
    molecule, basis, grid, _, density = dimer
    functional = get_functional("pbe")
    xcg = xc_grid(basis, grid, molecule.coordinates, deriv=1)
    assert can_pad(xcg)
    nao, size = basis.nao, basis.nao + 8
    padded = padded_xc_grid(xcg, size)
    assert padded.npts >= xcg.npts and padded.nao == size
    padded_density = np.zeros((2, size, size))
    padded_density[:, :nao, :nao] = density
    run = jax.jit(xc_energy_and_potential, static_argnums=0)
    energy, potential = run(functional, functional.params, xcg, density)
    padded_energy, padded_potential = run(functional, functional.params, padded,
                                          jnp.asarray(padded_density))
    assert abs(float(padded_energy - energy)) < E_TOL
    np.testing.assert_allclose(padded_potential[:, :nao, :nao], potential, rtol=0, atol=V_TOL)
    assert not np.any(np.asarray(padded_potential)[:, nao:, :])
    # Laid out on the ladder from the start (pad_to), the grid pads without copying its
    # AO values and gives the same energy and potential; the unpadded model's grid (the
    # same blocks and values, with padding blocks and zero AO columns) also does.
    laddered = xc_grid(basis, grid, molecule.coordinates, deriv=1, pad_to=size)
    assert any(a.shape != b.shape for a, b in zip(laddered.ao, xcg.ao))  # more blocks
    again = padded_xc_grid(laddered, size)
    assert all(a is b for a, b in zip(again.ao, laddered.ao))
    # evaluated on the fly (derivatives in the geometry drop the kept values) as well
    fresh = laddered.at_geometry(jnp.asarray(molecule.coordinates), grid)
    for grid_, dens, nao_ in ((again, jnp.asarray(padded_density), nao), (laddered, density, nao),
                              (fresh, density, nao)):
        energy_, potential_ = run(functional, functional.params, grid_, dens)
        assert abs(float(energy_ - energy)) < E_TOL
        np.testing.assert_allclose(potential_[:, :nao_, :nao_], potential, rtol=0, atol=V_TOL)
    for values, block_class in zip(laddered.ao, laddered.layout.classes):
        padding = np.asarray(block_class.ao_index) == nao  # (nblock, columns)
        assert padding.any()
        # (nblock, columns, ncomp, B) at the padding columns: zero values
        assert not np.any(np.asarray(values).transpose(0, 3, 1, 2)[padding])


def test_layout_covers_every_point_once_and_screens(dimer):
    molecule, basis, grid, _, _ = dimer
    layout = block_layout(basis, ao_plan(basis), np.asarray(grid.coords),
                          molecule.coordinates)
    points = np.concatenate([c.point_index.ravel() for c in layout.classes])
    assert np.array_equal(np.sort(points[points < grid.npts]), np.arange(grid.npts))
    _, pairs = layout.slots()
    assert pairs < 0.75 * grid.npts * basis.nao  # the far molecule's AOs are dropped
    for block_class in layout.classes:
        real = block_class.ao_index[block_class.ao_index < basis.nao]
        assert len(real) > 0


def test_new_geometry_keeps_the_shapes(dimer):
    molecule, basis, grid, _, _ = dimer
    plan = ao_plan(basis)
    first = block_layout(basis, plan, np.asarray(grid.coords), molecule.coordinates)
    moved = _dimer(shift=0.02)
    moved_grid = build_grid(moved, level=1)
    second = block_layout(basis, plan, np.asarray(moved_grid.coords),
                          moved.coordinates)
    assert second.signature == first.signature


def _atom_grid_ao_calls(symbol, monkeypatch, blocked):
    """The argument shapes of every AO-values program call that xc_grid makes for an atom."""
    seen = set()
    kernel = blocked._class_ao

    def spy(*args):
        seen.add(tuple(a.shape for a in jax.tree_util.tree_leaves(args[:4])) + args[4:])
        return kernel(*args)

    monkeypatch.setattr(blocked, "_class_ao", spy)
    atom = dftjax.Molecule([symbol], np.zeros((1, 3)), multiplicity=4 if symbol == "N" else 3)
    grid = build_grid(atom, level=3)
    xcg = xc_grid(dftjax.build_basis(atom, "def2-svp"), grid, atom.coordinates, pad_to=16)
    monkeypatch.setattr(blocked, "_class_ao", kernel)
    return seen, grid.coords.shape[0], xcg


def test_grids_of_different_sizes_share_the_ao_values_program(monkeypatch):
    # The N and O atoms: the same shells and block shapes, grids of different sizes. The
    # AO-values program reads points by index, so it is handed them padded to a power of
    # two and one program serves both.
    from dftjax.xc import blocked
    nitrogen, n_points, _ = _atom_grid_ao_calls("N", monkeypatch, blocked)
    oxygen, o_points, _ = _atom_grid_ao_calls("O", monkeypatch, blocked)
    assert n_points != o_points
    assert nitrogen == oxygen


def test_padded_points_change_no_ao_value(monkeypatch):
    from dftjax.xc import blocked
    _, _, padded = _atom_grid_ao_calls("O", monkeypatch, blocked)
    monkeypatch.setattr(blocked, "_points_for_ao_values", lambda points: points)
    _, _, plain = _atom_grid_ao_calls("O", monkeypatch, blocked)
    for a, b in zip(padded.ao, plain.ao):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_selected_shells_are_columns_of_ao_values(dimer):
    molecule, basis, grid, dense, _ = dimer
    plan = ao_plan(basis)
    layout = block_layout(basis, plan, np.asarray(grid.coords), molecule.coordinates)
    block_class = layout.classes[-1]
    points = np.minimum(block_class.point_index[0], grid.npts - 1)
    values = evaluate_shells(plan, jnp.asarray(molecule.coordinates), grid.coords[points],
                             tuple(s[0] for s in block_class.shell_index), deriv=1)
    columns = block_class.ao_index[0]
    real = columns < basis.nao
    np.testing.assert_allclose(np.asarray(values)[:, :, real], np.asarray(dense)[:, points][:, :, columns[real]],
                               rtol=1e-13, atol=1e-15)
    assert np.all(np.asarray(values)[:, :, ~real] == 0.0)


@pytest.mark.parametrize("name", ["lda", "pbe", "r2scan"])
def test_blocked_energy_and_potential_match_dense(dimer, name):
    molecule, basis, grid, dense, density = dimer
    functional = get_functional(name)
    deriv = 0 if functional.family == "lda" else 1
    xcg = xc_grid(basis, grid, molecule.coordinates, deriv=deriv)
    expected, potential = jax.jit(jax.value_and_grad(
        lambda d: dense_xc_energy(functional, functional.params, dense[: 1 + 3 * deriv], grid.weights, d)))(density)
    potential = 0.5 * (potential + jnp.swapaxes(potential, 1, 2))
    energy = jax.jit(xc_energy_blocked, static_argnums=0)(functional, functional.params, xcg, density)
    assert abs(float(energy - expected)) < E_TOL
    energy, ours = jax.jit(xc_energy_and_potential, static_argnums=0)(functional, functional.params, xcg, density)
    assert abs(float(energy - expected)) < E_TOL
    np.testing.assert_allclose(np.asarray(ours), np.asarray(potential), rtol=0, atol=V_TOL)


def test_restricted_potential_is_the_derivative(dimer):
    molecule, basis, grid, _, density = dimer
    functional = get_functional("b3lyp")
    xcg = xc_grid(basis, grid, molecule.coordinates, deriv=1, ao_memory=0)  # AOs evaluated in the step
    closed = jnp.stack([density[0], density[0]])
    expected = jax.jit(jax.grad(lambda d: xc_energy_blocked(functional, functional.params, xcg, d)))(closed)
    expected = 0.5 * (expected + jnp.swapaxes(expected, 1, 2))
    _, potential = jax.jit(xc_energy_and_potential, static_argnums=(0, 4))(
        functional, functional.params, xcg, closed, True)
    np.testing.assert_allclose(np.asarray(potential), np.asarray(expected), rtol=0, atol=V_TOL)


def test_gradient_with_respect_to_atoms_matches_dense(dimer):
    """AOs evaluated inside the energy: d E_xc / d R through points, weights and AOs."""
    molecule, basis, grid, _, density = dimer
    functional = get_functional("pbe")
    xcg = xc_grid(basis, grid, molecule.coordinates, deriv=1, ao_memory=0)
    spec = dftjax.grid.grid_spec(molecule.symbols, 1)

    def blocked(coords):
        moved = dftjax.grid.grid_points(spec, coords)
        return xc_energy_blocked(functional, functional.params, xcg.at_geometry(coords, moved), density)

    def dense(coords):
        moved = dftjax.grid.grid_points(spec, coords)
        ao = ao_values(basis, coords, moved.coords, deriv=1)
        return dense_xc_energy(functional, functional.params, ao, moved.weights, density)

    coords = jnp.asarray(molecule.coordinates)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(blocked))(coords)),
                               np.asarray(jax.jit(jax.grad(dense))(coords)),
                               rtol=0, atol=1e-10)


def test_second_derivative_in_the_density(dimer):
    """jvp of the written-out potential = jvp of the autodiff gradient of the energy."""
    molecule, basis, grid, _, density = dimer
    functional = get_functional("pbe")
    xcg = xc_grid(basis, grid, molecule.coordinates, deriv=1)
    direction = jnp.asarray(np.random.default_rng(5).standard_normal(density.shape))
    direction = direction + jnp.swapaxes(direction, 1, 2)

    def potential(d):
        return xc_energy_and_potential(functional, functional.params, xcg, d)[1]

    def gradient(d):
        g = jax.grad(lambda d: xc_energy_blocked(functional, functional.params, xcg, d))(d)
        return 0.5 * (g + jnp.swapaxes(g, 1, 2))

    _, ours = jax.jit(lambda d, v: jax.jvp(potential, (d,), (v,)))(density, direction)
    _, expected = jax.jit(lambda d, v: jax.jvp(gradient, (d,), (v,)))(density, direction)
    assert np.all(np.isfinite(np.asarray(ours)))
    np.testing.assert_allclose(np.asarray(ours), np.asarray(expected), rtol=0,
                               atol=1e-9 * float(jnp.abs(expected).max()))


def test_one_piece_and_chunks_agree_to_every_order(dimer, monkeypatch):
    """The functional over all 20,248 points in one piece (its derivatives in chunks, by a
    custom jvp) against every order in chunks: energy, potential, their derivatives in
    the parameters and the jvp of the potential (the CPKS Hessian's), to rounding."""
    from dftjax.xc import blocked
    molecule, basis, grid, _, density = dimer
    functional = get_functional("pbe")
    xcg = xc_grid(basis, grid, molecule.coordinates, deriv=1)
    assert xcg.npts > blocked.FUNCTIONAL_CHUNK
    direction = jnp.asarray(np.random.default_rng(6).standard_normal(density.shape))
    direction = direction + jnp.swapaxes(direction, 1, 2)

    def everything(params):
        energy, potential = xc_energy_and_potential(functional, params, xcg, density)
        fock = lambda d: xc_energy_and_potential(functional, params, xcg, d)[1]
        response = jax.jvp(fock, (density,), (direction,))[1]
        energy_only = lambda p: xc_energy_blocked(functional, p, xcg, density)
        by_params = jax.grad(lambda p: jnp.vdot(direction, xc_energy_and_potential(
            functional, p, xcg, density)[1]))(params)
        return energy, energy_only(params), potential, response, jax.grad(energy_only)(params), by_params

    results = {}
    for memory in (blocked.FUNCTIONAL_MEMORY, 0):  # one piece; then chunks throughout
        monkeypatch.setattr(blocked, "FUNCTIONAL_MEMORY", memory)
        assert (blocked._one_chunk_limit(functional) >= xcg.npts) == (memory > 0)
        results[memory] = jax.tree_util.tree_leaves(jax.jit(everything)(functional.params))
    for one, split in zip(*results.values()):
        np.testing.assert_allclose(np.asarray(one), np.asarray(split), rtol=1e-12,
                                   atol=1e-13 * max(1.0, float(np.abs(split).max())))


def test_padded_chunks_keep_parameter_derivatives_finite():
    """A functional singular at zero features (NN-NRA reads log R; R > 0 on every real
    point): the last chunk's padding must not put 0 * inf into d/dparams, which sums over
    every point, padded ones included. Against the same sum without chunks."""
    from dftjax.xc.blocked import FUNCTIONAL_CHUNK, _chunked
    npts = FUNCTIONAL_CHUNK + 100  # two chunks of 4160 points: 120 padded
    x = jnp.asarray(np.random.default_rng(0).uniform(0.1, 2.0, npts))
    weights = jnp.asarray(np.random.default_rng(1).uniform(size=npts))
    function = lambda a, x: a * jnp.log(x) ** 2

    def total(a, chunked):
        values = _chunked(function, a, (x,), npts, one_chunk=0) if chunked else function(a, x)
        return jnp.sum(weights * values)

    for order in (jax.grad, lambda f: jax.grad(jax.grad(f))):
        chunked = float(order(lambda a: total(a, True))(1.5))
        assert np.isfinite(chunked)
        assert chunked == pytest.approx(float(order(lambda a: total(a, False))(1.5)), rel=1e-12)
