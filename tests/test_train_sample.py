"""Training samples (dftjax.train.sample): the cached forward SCF is dftjax.scf's, warm
starts reuse the compiled loop, reference densities land on the sample's grid, and a
coupled-perturbed solve that fails is reported (and, through jax.grad, is NaN and warns)."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.scf.driver import make_settings
from dftjax.scf.implicit import converged_scf
from dftjax.train.sample import Outputs, Sample, _forward, _gradient

from conftest import DATA_DIR

WATER = "O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692"


@pytest.fixture(scope="module")
def water():
    return Sample("water", dftjax.Molecule.from_xyz(WATER), "lda", "sto-3g", grid_level=1,
                  ladder=True)


def test_forward_is_dftjax_scf(water):
    params = water.functional.params
    solution = water.solve(params)
    reference = dftjax.scf(water.molecule, basis="sto-3g", xc="lda", grid_level=1, conv_tol=1e-11)
    assert bool(solution.converged) and reference.converged
    # same model, grid and basis: agreement to the SCF convergence (1e-11 Ha asked)
    assert float(water.outputs(params, solution).energy) == pytest.approx(float(reference.energy), abs=1e-9)


def test_density_fitted_forward_is_dftjax_scf(water):
    sample = Sample("water-df", water.molecule, "lda", "sto-3g", grid_level=1,
                    density_fit=True)
    solution = sample.solve(sample.functional.params)
    reference = dftjax.scf(water.molecule, basis="sto-3g", xc="lda", grid_level=1,
                           conv_tol=1e-11, density_fit=True)
    assert bool(solution.converged) and reference.converged
    assert reference.eri_method == "density-fit"
    # same fitted model: agreement to the SCF convergence (1e-11 Ha asked)
    energy = float(sample.outputs(sample.functional.params, solution).energy)
    assert energy == pytest.approx(float(reference.energy), abs=1e-9)
    # and not the exact-ERI energy (fitting error ~1e-5 Ha for water)
    assert abs(energy - float(water.outputs(water.functional.params,
                                            water.solve(water.functional.params)).energy)) > 1e-7


def test_warm_start_converges_at_once_without_recompiling(water):
    params = water.functional.params
    water.solve(params)
    compiled = _forward._cache_size()
    solution = water.solve({"alpha": jnp.asarray(1.0 + 1e-6)})
    assert bool(solution.converged) and int(solution.iterations) <= 4
    assert _forward._cache_size() == compiled


def test_guess_and_warm_starts_share_the_forward_program():
    # jit keys programs on whether an argument is committed to a device; converged
    # densities (the warm starts) are, so the SAD guess and a restored warm start must be
    # too, or every sample's first forward makes a second program (seen in CI once a
    # test had cleared JAX's caches between water's warm start and BeH2's guess)
    sample = Sample("h2o", dftjax.Molecule.from_xyz(WATER), "lda", "sto-3g", grid_level=1,
                    ladder=True)
    params = sample.functional.params
    assert sample.guess.committed
    sample.solve(params)  # from the SAD guess
    compiled = _forward._cache_size()
    assert sample.warm.committed
    sample.solve(params)  # warm-started from the converged density
    sample.set_warm(np.asarray(sample.warm))  # as a checkpoint restores it
    assert sample.warm.committed
    sample.solve(params)
    assert _forward._cache_size() == compiled


def test_samples_on_the_same_rungs_share_programs(water):
    """BeH2 has water's 7 basis functions in STO-3G but 6 electrons, not 10, and 10028
    grid points, not 10124: on the ladder (8 functions, 10240 points, the same block
    shapes) its forward SCF and backward pass reuse water's programs."""
    params = water.functional.params
    solution = water.solve(params)
    outputs = water.outputs(params, solution)
    water.gradient(params, solution, outputs)
    compiled = _forward._cache_size(), _gradient._cache_size()
    beh2 = Sample("beh2", dftjax.Molecule.from_xyz("Be 0 0 0; H 0 0 1.33; H 0 0 -1.33"), "lda",
                  "sto-3g", grid_level=1, ladder=True)
    assert beh2.grid.npts != water.grid.npts and beh2.nalpha != water.nalpha
    solution = beh2.solve(params)
    outputs = beh2.outputs(params, solution)
    _, report = beh2.gradient(params, solution, outputs)
    assert bool(solution.converged) and report.ok
    assert (_forward._cache_size(), _gradient._cache_size()) == compiled
    # padding changes nothing real: the energy is dftjax.scf's
    reference = dftjax.scf(beh2.molecule, basis="sto-3g", xc="lda", grid_level=1, conv_tol=1e-11)
    assert float(outputs.energy) == pytest.approx(float(reference.energy), abs=1e-9)
    assert outputs.rho.shape == (beh2.grid.npts,) and outputs.density_matrix.shape == (2, 7, 7)
    # a warm start on the sample's own basis (a checkpoint from before the ladder) is padded
    beh2.set_warm(outputs.density_matrix)
    np.testing.assert_allclose(beh2.warm, solution.density, atol=1e-12)


def test_ladder_changes_nothing_for_a_density_fitted_open_shell():
    # NH2 (no degenerate orbitals, so both runs reach the same state): energy, density on
    # the grid and the backward pass agree to round-off with and without padding (the
    # fitted tensor padded with zero rows, columns and auxiliary functions)
    nh2 = dftjax.Molecule.from_xyz("N 0 0 0.14; H 0 0.80 -0.49; H 0 -0.80 -0.49",
                                   multiplicity=2)
    plain, padded = (Sample("nh2", nh2, "lda", "sto-3g", grid_level=1, density_fit=True,
                            ladder=ladder) for ladder in (False, True))
    assert padded.size > plain.size == plain.nao
    params = plain.functional.params
    results = []
    for sample in (plain, padded):
        solution = sample.solve(params)
        outputs = sample.outputs(params, solution)
        bar = Outputs(np.ones(()), np.zeros_like(outputs.density_matrix),
                      np.asarray(sample.grid.weights) * outputs.rho)
        grad, report = sample.gradient(params, solution, bar)
        assert bool(solution.converged) and report.ok
        results.append((outputs, jax.tree_util.tree_leaves(grad)))
    (a, grad_a), (b, grad_b) = results
    assert float(a.energy) == pytest.approx(float(b.energy), abs=1e-10)
    np.testing.assert_allclose(a.rho, b.rho, atol=1e-9)  # both converged to |g| < 1e-8
    for x, y in zip(grad_a, grad_b):
        np.testing.assert_allclose(x, y, rtol=1e-7, atol=1e-10)


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
        # (compiled: eagerly the SCF's pieces would run, and compile, op by op)
        @jax.jit
        @jax.grad
        def loss_gradient(p):
            model = dataclasses.replace(water.model, params={**water.model.params, "xc": p})
            config = dataclasses.replace(water.config, nalpha=water.nalpha, nbeta=water.nbeta)
            return jnp.sum(converged_scf(config, model, water.overlap, water.warm)[0] ** 2)

        with pytest.warns(RuntimeWarning, match="coupled-perturbed solve failed"):
            g = jax.block_until_ready(loss_gradient({"alpha": jnp.asarray(1.0)}))
        assert np.isnan(float(g["alpha"]))
    finally:
        water.config = dataclasses.replace(water.config, cg_maxiter=200)


def test_second_order_rung_converges_what_the_ladder_does_not(water):
    """With 3 cycles per attempt no first-order attempt converges; trust-region Newton
    steps from the best one do (within their 3 energy evaluations), and their state is
    the solution."""
    short = Sample("water", water.molecule, "lda", "sto-3g", grid_level=1, max_cycle=3)
    params = short.functional.params
    settings = make_settings(short.nalpha, short.nbeta)
    plain = _forward(short.config, short.model, params, short.overlap, short.guess, settings)
    assert not bool(plain.converged)
    solution = short.solve(params)
    assert bool(solution.converged) and int(solution.iterations) <= 3
    assert float(solution.gradient_norm) < short.config.conv_tol_grad
    reference = water.solve(params)
    # both converged to 1e-11 Ha (the samples' conv_tol)
    assert float(solution.energy) == pytest.approx(float(reference.energy), abs=1e-9)
    np.testing.assert_allclose(short.warm, solution.density)


@pytest.fixture(scope="module")
def no_radical():
    """NO/SVWN/6-31G, grid level 3: no aufbau state is self-consistent (the occupied
    alpha pi* lies ~5 mHa above the empty one), as NO's can be while a functional is
    trained. PySCF's energy on the same grid from tests/data/make_ks_reference.py."""
    ref = json.loads((DATA_DIR / "ks_reference.json").read_text())["molecules"]["no_631g_svwn"]
    mol = dftjax.Molecule(ref["symbols"], ref["coords"], multiplicity=ref["multiplicity"])
    return Sample("no", mol, ref["xc"], ref["basis"], grid_level=ref["grid_level"]), ref


def _check_no_state(sample, ref, solution):
    assert bool(solution.converged)
    params = sample.functional.params
    # 1e-6 Ha: matched grids (as tests/test_ks_energies.py)
    assert abs(float(sample.outputs(params, solution).energy) - ref["energy"]) < 1e-6
    occupations, energies = np.asarray(solution.mo_occ[0]), np.asarray(solution.mo_energy[0])
    assert occupations[7] == 1.0 and occupations[8] == 0.0
    assert 0.0 < energies[7] - energies[8] < 0.02


def test_level_shifted_rung_keeps_a_state_without_aufbau(no_radical):
    """The compiled SCF's final diagonalisation keeps the level shift of a converged
    state that is not aufbau (as dftjax.scf's driver does) rather than swapping the pi*
    pair back and reporting the sample as failed."""
    sample, ref = no_radical
    solution = sample.solve(sample.functional.params)
    _check_no_state(sample, ref, solution)
    np.testing.assert_allclose(sample.warm, solution.density)


def test_second_order_rung_returns_its_own_state(no_radical):
    """Newton steps from an unconverged attempt converge to the state without aufbau;
    that state, canonicalised, is the solution (an SCF from its density would swap)."""
    sample, ref = no_radical
    params = sample.functional.params
    short = dataclasses.replace(sample.config, max_cycle=8)
    best = _forward(short, sample.model, sample.place(params), sample.overlap, sample.guess,
                    make_settings(sample.nalpha, sample.nbeta))
    assert not bool(best.converged)
    _check_no_state(sample, ref, sample._second_order(sample.place(params), best))
