"""Training samples (dftjax.train.sample): the cached forward SCF is dftjax.scf's, warm
starts reuse the compiled loop, reference densities land on the sample's grid, and a
coupled-perturbed solve that fails is reported (and, through jax.grad, is NaN and warns)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.scf.driver import make_settings
from dftjax.scf.implicit import converged_scf
from dftjax.train.sample import Outputs, Sample, _forward

WATER = "O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692"


@pytest.fixture(scope="module")
def water():
    return Sample("water", dftjax.Molecule.from_xyz(WATER), "lda", "sto-3g", grid_level=1)


def test_forward_is_dftjax_scf(water):
    params = water.functional.params
    solution = water.solve(params)
    reference = dftjax.scf(water.molecule, basis="sto-3g", xc="lda", grid_level=1, conv_tol=1e-11)
    assert bool(solution.converged) and reference.converged
    # same model, grid and basis: agreement to the SCF convergence (1e-11 Ha asked)
    assert float(water.outputs(params, solution).energy) == pytest.approx(float(reference.energy), abs=1e-9)


def test_warm_start_converges_at_once_without_recompiling(water):
    params = water.functional.params
    water.solve(params)
    compiled = _forward._cache_size()
    solution = water.solve({"alpha": jnp.asarray(1.0 + 1e-6)})
    assert bool(solution.converged) and int(solution.iterations) <= 4
    assert _forward._cache_size() == compiled


def test_reference_density_on_the_grid(water):
    hf = dftjax.scf(water.molecule, basis="6-31g")
    rho = water.density_on_grid(hf.density_matrix, basis="6-31g")
    weights = np.asarray(water.grid.weights)
    # 10 electrons, to the quadrature error of grid level 1 on the O core (~1e-4)
    assert float(weights @ rho) == pytest.approx(10.0, abs=2e-3)
    own = water.solve(water.functional.params)
    np.testing.assert_allclose(water.density_on_grid(own.density.sum(axis=0)),
                               water.outputs(water.functional.params, own).rho, atol=1e-12)
    with pytest.raises(ValueError, match="does not fit 7 basis functions"):
        water.density_on_grid(np.eye(13))


def test_failed_coupled_perturbed_solve_is_reported(water):
    params = water.functional.params
    solution = water.solve(params)
    outputs = water.outputs(params, solution)
    bar = Outputs(jnp.zeros(()), jnp.zeros_like(outputs.density_matrix), outputs.rho)
    water.config = dataclasses.replace(water.config, cg_maxiter=1)
    try:
        _, report = water.gradient(params, solution, bar, retry=False)
        assert not report.ok and report.cg_maxiter == 1
        # through jax.grad the same failure is NaN with a warning, never a wrong number
        def loss(p):
            model = dataclasses.replace(water.model, params={**water.model.params, "xc": p})
            return jnp.sum(converged_scf(water.config, model, water.overlap, water.warm)[0] ** 2)

        with pytest.warns(RuntimeWarning, match="coupled-perturbed solve failed"):
            g = jax.block_until_ready(jax.grad(loss)({"alpha": jnp.asarray(1.0)}))
        assert np.isnan(float(g["alpha"]))
    finally:
        water.config = dataclasses.replace(water.config, cg_maxiter=200)


def test_second_order_rung_converges_what_the_ladder_does_not(water):
    """With 3 cycles per attempt no first-order attempt converges; trust-region Newton
    steps from the best one do, and the compiled SCF from there confirms it in one cycle."""
    short = Sample("water", water.molecule, "lda", "sto-3g", grid_level=1, max_cycle=3)
    params = short.functional.params
    settings = make_settings(short.config.nalpha, short.config.nbeta)
    plain = _forward(short.config, short.model, params, short.overlap, short.guess, settings)
    assert not bool(plain.converged)
    solution = short.solve(params)
    assert bool(solution.converged) and int(solution.iterations) <= 2
    reference = water.solve(params)
    # both converged to 1e-11 Ha (the samples' conv_tol)
    assert float(solution.energy) == pytest.approx(float(reference.energy), abs=1e-9)
    np.testing.assert_allclose(short.warm, solution.density)
