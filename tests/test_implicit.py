"""Implicit differentiation through the converged SCF (dftjax.SCFFunction).

Every derivative is checked against central finite differences of the same function
(directional derivatives along a fixed random direction, step 1e-4: truncation error
O(h^2) ~ 1e-8 relative) with the SCF converged tightly (1e-12 Ha, |g| < 1e-9) so the
differences are not noise. Tolerance 1e-6 relative: the project's finite-difference bar.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.differentiable import SCFFunction
from dftjax.gradients import gradient

from conftest import DATA_DIR

FD_RTOL = 1e-6
STEP = 1e-4
WATER = [[0.0, 0.02, 0.12], [0.03, 0.8, -0.47], [-0.02, -0.74, -0.44]]


def directional_check(loss, x0, seed=0):
    """Compare grad(loss)(x0) . d with a central difference along a random unit d, to
    FD_RTOL times the norm of the gradient. The differenced values come from the forward
    half of jax.vjp: the programs jax.grad compiled, run at the shifted points (the same
    function; a plain call would compile the primal programs as well)."""
    g = jax.grad(loss)(x0)
    value = lambda x: jax.vjp(loss, x)[0]
    leaves, tree = jax.tree_util.tree_flatten(x0)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    d = [jax.random.normal(k, jnp.shape(x)) for k, x in zip(keys, leaves)]
    norm = jnp.sqrt(sum(jnp.sum(v**2) for v in d))
    d = jax.tree_util.tree_unflatten(tree, [v / norm for v in d])
    shift = lambda s: jax.tree_util.tree_map(lambda x, v: x + s * STEP * v, x0, d)
    fd = (value(shift(1.0)) - value(shift(-1.0))) / (2 * STEP)
    analytic = sum(jnp.vdot(a, b) for a, b in zip(jax.tree_util.tree_leaves(g),
                                                    jax.tree_util.tree_leaves(d)))
    assert np.all(np.isfinite(np.asarray(jax.tree_util.tree_leaves(g)[0])))
    # Relative to the gradient's norm: a random direction can cancel most of it.
    scale = float(jnp.sqrt(sum(jnp.sum(v**2) for v in jax.tree_util.tree_leaves(g))))
    assert abs(float(analytic) - float(fd)) <= FD_RTOL * max(scale, 1e-4), (analytic, fd, scale)
    return g


@pytest.fixture(scope="module")
def water():
    mol = dftjax.Molecule(["O", "H", "H"], WATER)
    return mol, SCFFunction(mol, "sto-3g")


def test_dipole_gradient_wrt_coordinates(water):
    mol, f = water
    directional_check(lambda c: f(c).dipole[2], jnp.asarray(mol.coordinates))


def test_energy_gradient_equals_analytic_forces(water):
    mol, f = water
    g = jax.grad(lambda c: f(c).energy)(jnp.asarray(mol.coordinates))
    np.testing.assert_allclose(g, gradient(f.reference), atol=1e-8)


POLARIZABILITY = json.loads((DATA_DIR / "polarizability_reference.json").read_text())[
    "polarizabilities"]


@pytest.mark.parametrize("name", sorted(POLARIZABILITY))
def test_polarizability_matches_pyscf(name, water):
    """alpha = d mu / dF by jax.jacrev through the converged SCF, against PySCF's finite
    field (tests/data/make_polarizability_references.py; accurate to ~1e-8 au)."""
    case = POLARIZABILITY[name]
    mol, f = water
    assert list(mol.symbols) == case["symbols"] and case["basis"] == "sto-3g"
    if case["xc"] != "hf":
        f = SCFFunction(mol, "sto-3g", xc=case["xc"], grid_level=case["grid_level"])
    assert abs(float(f.reference.energy) - case["energy"]) < 1e-8
    alpha = np.asarray(jax.jacrev(lambda F: f(field=F).dipole)(jnp.zeros(3)))
    reference = np.asarray(case["polarizability"])
    # the project's derivative bar, 1e-6 relative (PySCF's stencil: ~1e-8 au)
    np.testing.assert_allclose(alpha, reference, rtol=0, atol=1e-6 * np.abs(reference).max())
    np.testing.assert_allclose(alpha, alpha.T, atol=1e-8)


def test_jit_compiles_once_and_vmap_matches(water):
    mol, f = water
    energy = jax.jit(lambda c: f(c).energy)
    c0 = jnp.asarray(mol.coordinates)
    e0, e1 = energy(c0), energy(c0 + 0.01)
    assert energy._cache_size() == 1
    batched = jax.vmap(lambda c: f(c).energy)(jnp.stack([c0, c0 + 0.01]))
    np.testing.assert_allclose(batched, [e0, e1], atol=1e-10)


def test_reference_integrals_first_made_inside_jit():
    """Without coordinates the reference geometry's integrals are made once and kept; made
    first inside a user's jax.jit they must be arrays, not that trace's tracers (a later
    eager call would otherwise fail with a leaked tracer)."""
    mol = dftjax.Molecule(["H", "H"], [[0, 0, 0], [0, 0, 0.74]])
    f = SCFFunction(mol, "sto-3g")
    in_jit = jax.jit(lambda F: f(field=F).energy)(jnp.zeros(3))
    assert not isinstance(f._reference_integrals["h_core"], jax.core.Tracer)
    eager = f().energy
    batched = jax.vmap(lambda F: f(field=F).energy)(jnp.zeros((2, 3)))
    # the same SCF (conv_tol 1e-12) three ways: agreement to rounding
    np.testing.assert_allclose([in_jit, *batched], [eager] * 3, rtol=0, atol=1e-10)
    assert abs(float(eager) - float(f.reference.energy)) < 1e-9


def test_degenerate_orbitals_n2():
    """N2 has a degenerate pi pair: derivatives of the density and of the sum of occupied
    orbital energies must be finite and right (no eigenvector derivatives anywhere)."""
    mol = dftjax.Molecule(["N", "N"], [[0, 0, 0], [0, 0, 1.1]])
    f = SCFFunction(mol, "sto-3g")
    c0 = jnp.asarray(mol.coordinates)
    points = jnp.asarray([[0.3, 0.2, 0.5], [0.0, -0.4, 1.0]])
    directional_check(lambda c: f.density_on_grid(f(c), points, c).sum(), c0)
    directional_check(lambda c: f(c).occupied_energies.sum(), c0, seed=1)


def test_unrestricted_radical_dipole():
    mol = dftjax.Molecule(["O", "H"], [[0, 0, 0], [0.26, 0.36, 0.92]], multiplicity=2)
    f = SCFFunction(mol, "6-31g")
    directional_check(lambda c: f(c).dipole @ jnp.array([1.0, 2.0, 3.0]),
                      jnp.asarray(mol.coordinates))


@pytest.mark.slow  # KS response is also covered by the neural-functional test below
def test_kohn_sham_dipole_wrt_coordinates():
    """LDA on a coarse grid: the XC kernel enters the response through autodiff."""
    mol = dftjax.Molecule(["H", "F"], [[0, 0, 0], [0, 0.1, 0.93]])
    f = SCFFunction(mol, "sto-3g", xc="svwn", grid_level=1)
    directional_check(lambda c: f(c).dipole[2], jnp.asarray(mol.coordinates))


def test_neural_functional_density_loss_gradient():
    """Gradient of a density error with respect to the weights of a small neural
    exchange functional (the functional-fitting use case), through the converged SCF."""
    from dftjax.xc import Features, Functional

    slater = -0.75 * (6.0 / np.pi) ** (1.0 / 3.0)

    def nn_lda(params, features: Features):
        rho = jnp.maximum(features.rho, 0.0)
        on = rho > 1e-30
        safe = jnp.where(on, rho, 1.0)
        x = safe ** (1.0 / 3.0)
        hidden = jnp.tanh(x[..., None] * params["w1"] + params["b1"])
        enhancement = 1.0 + 0.5 * jnp.tanh(hidden @ params["w2"])
        return slater * jnp.sum(jnp.where(on, safe ** (4.0 / 3.0) * enhancement, 0.0), axis=0)

    key1, key2 = jax.random.split(jax.random.PRNGKey(3))
    params = {"w1": 0.5 * jax.random.normal(key1, (4,)), "b1": jnp.zeros(4),
              "w2": 0.3 * jax.random.normal(key2, (4,))}
    functional = Functional("nn-lda", nn_lda, needs=("rho",), params=params)
    mol = dftjax.Molecule(["O", "H", "H"], WATER)
    f = SCFFunction(mol, "sto-3g", xc=functional, grid_level=1)
    grid = dftjax.grid.build_grid(mol, level=1)
    # Target: the Hartree-Fock density on the same grid (any fixed density will do).
    target = f.density_on_grid(SCFFunction(mol, "sto-3g")(), grid.coords)

    def loss(p):
        rho = f.density_on_grid(f(xc_params=p), grid.coords)
        return jnp.sum(grid.weights * (rho - target) ** 2)

    directional_check(loss, params)
