"""The training loop (dftjax.train.fit): gradients of training losses against finite
differences, failing samples left out and named, restores, exact resumes.

Gradients are checked along a fixed random direction in parameter space against central
differences of the same loss (step 1e-4: truncation O(h^2) ~ 1e-8 relative) with the
forward SCFs converged tightly (1e-13 Ha, |g| < 1e-10), so differences are not SCF noise.
Tolerance 1e-6 relative to the gradient's norm: the project's finite-difference bar.
Small cases (STO-3G, grid level 1) keep compilation, the dominant cost, short.
"""

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.basis.basis_set import build_basis
from dftjax.basis.rotation import ao_rotation, linear_axis, rotation_matrix
from dftjax.train import (DensityReference, Loss, Sample, atomization_energy, density_error, fit,
                          init_state, load_checkpoint, loss_and_gradient, make_optimizer,
                          total_energy)
from dftjax.xc import Functional

FD_RTOL = 1e-6
STEP = 1e-4
TIGHT = dict(conv_tol=1e-13, conv_tol_grad=1e-10)
SLATER_CONSTANT = -0.75 * (6.0 / np.pi) ** (1.0 / 3.0)


def _powers(rho):
    """rho_s^(4/3), rho_s^(5/3) (2, npts), zero (with zero derivative) at rho_s = 0."""
    rho = jnp.maximum(rho, 0.0)
    on = rho > 1e-30
    safe = jnp.where(on, rho, 1.0)
    return jnp.where(on, safe ** (4 / 3), 0.0), jnp.where(on, safe ** (5 / 3), 0.0)


def two_parameter_lda(params, features):
    """a * Slater exchange + b * sum_s rho_s^(5/3) (Hartree / Bohr^3)."""
    x43, x53 = _powers(features.rho)
    return jnp.sum(params["a"] * SLATER_CONSTANT * x43 + params["b"] * x53, axis=0)


def mlp_gga(params, features):
    """Slater exchange times 1 + tanh(MLP(rho_s^(1/3), log(1 + s^2))) / 2 per spin."""
    rho = jnp.maximum(features.rho, 0.0)
    on = rho > 1e-30
    safe = jnp.where(on, rho, 1.0)
    sigma = jnp.stack([features.sigma[0], features.sigma[2]])
    s2 = sigma / safe ** (8 / 3) / (4 * (6 * np.pi**2) ** (2 / 3))
    x = jnp.stack([safe ** (1 / 3), jnp.log1p(jnp.where(on, s2, 0.0))], axis=-1)
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    out = (x @ params[-1]["w"] + params[-1]["b"])[..., 0]
    x43, _ = _powers(features.rho)
    return jnp.sum(SLATER_CONSTANT * x43 * (1 + 0.5 * jnp.tanh(out)), axis=0)


def capped_lda(params, features):
    """two_parameter_lda, but NaN wherever the density exceeds 5 / Bohr^3: a deliberately
    bad functional, fine on hydrogen (peak ~0.3) and broken on lithium's core (~14)."""
    e = two_parameter_lda(params, features)
    return jnp.where(features.rho.sum(axis=0) > 5.0, jnp.nan, e)


LDA2 = Functional("test-lda2", two_parameter_lda, needs=("rho",),
                  params={"a": jnp.asarray(1.0), "b": jnp.asarray(0.0)})
keys = jax.random.split(jax.random.PRNGKey(1), 2)
MLP = Functional("test-mlp", mlp_gga, needs=("rho", "sigma"),
                 params=[{"w": 0.5 * jax.random.normal(keys[0], (2, 4)), "b": jnp.zeros(4)},
                         {"w": 0.5 * jax.random.normal(keys[1], (4, 1)), "b": jnp.zeros(1)}])
CAPPED = Functional("test-capped", capped_lda, needs=("rho",), params=LDA2.params)

LIH = dftjax.Molecule(["Li", "H"], [[0.0, 0.0, 0.0], [0.0, 0.1, 3.0]], unit="bohr")
OH = dftjax.Molecule(["O", "H"], [[0.0, 0.0, 0.0], [0.1, 0.0, 1.83]], unit="bohr", multiplicity=2)


def hf_density_on_grid(sample, basis):
    """The sample's grid values of the HF density in another basis: a reference density."""
    reference = dftjax.scf(sample.molecule, basis=basis, unrestricted=True, conv_tol=1e-10)
    return sample.density_on_grid(reference.density_matrix, basis=basis)


@pytest.fixture(scope="module")
def lih():
    return Sample("lih", LIH, MLP, "sto-3g", grid_level=1, **TIGHT)


@pytest.fixture(scope="module")
def oh():
    return Sample("oh", OH, LDA2, "sto-3g", grid_level=1, **TIGHT)


def loss_value(samples, loss, params):
    outputs = {}
    for name in loss.samples:
        solution = samples[name].solve(params)
        assert bool(solution.converged)
        outputs[name] = samples[name].outputs(params, solution)
    return float(loss.evaluate(outputs)[0])


def check_gradient_by_fd(samples, loss, params, seed=0):
    value, terms, grad, failed = loss_and_gradient(samples, loss, params)
    assert not failed and value > 0
    leaves, tree = jax.tree_util.tree_flatten(params)
    keys = jax.random.split(jax.random.PRNGKey(seed), len(leaves))
    direction = [jax.random.normal(k, jnp.shape(x)) for k, x in zip(keys, leaves)]
    norm = jnp.sqrt(sum(jnp.sum(d**2) for d in direction))
    direction = jax.tree_util.tree_unflatten(tree, [d / norm for d in direction])
    shifted = lambda s: jax.tree_util.tree_map(lambda x, d: x + s * STEP * d, params, direction)
    fd = (loss_value(samples, loss, shifted(1.0)) - loss_value(samples, loss, shifted(-1.0))) / (2 * STEP)
    analytic = sum(float(jnp.vdot(g, d)) for g, d in
                   zip(jax.tree_util.tree_leaves(grad), jax.tree_util.tree_leaves(direction)))
    scale = float(jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(grad))))
    assert scale > 1e-6
    assert abs(analytic - fd) <= FD_RTOL * scale, (analytic, fd, scale)


def test_energy_loss_gradient_closed_shell(lih):
    energy = float(lih.outputs(MLP.params, lih.solve(MLP.params)).energy)
    loss = Loss([total_energy({"lih": energy - 0.05})])
    check_gradient_by_fd({"lih": lih}, loss, MLP.params)


def test_density_loss_gradient_closed_shell(lih):
    loss = Loss([density_error([(lih, hf_density_on_grid(lih, "6-31g"))])])
    check_gradient_by_fd({"lih": lih}, loss, MLP.params, seed=1)


def test_energy_loss_gradient_open_shell(oh):
    loss = Loss([total_energy({"oh": -74.0})])
    check_gradient_by_fd({"oh": oh}, loss, LDA2.params)


def test_density_loss_gradient_open_shell(oh):
    loss = Loss([density_error([(oh, hf_density_on_grid(oh, "6-31g"))])])
    check_gradient_by_fd({"oh": oh}, loss, LDA2.params, seed=1)


def test_axially_averaged_density_loss_gradient(oh):
    # OH is linear: with a density-matrix reference the loss compares both densities
    # averaged about the axis, and its cotangent reaches the sample by its density matrix
    reference = dftjax.scf(OH, basis="6-31g", unrestricted=True, conv_tol=1e-10)
    loss = Loss([density_error([(oh, DensityReference(reference.density_matrix, "6-31g"))])])
    check_gradient_by_fd({"oh": oh}, loss, LDA2.params, seed=3)


def test_axial_average_makes_the_loss_blind_to_the_reference_orientation(oh):
    # the same reference turned about the axis: a Pi state's orbitals may point any way
    reference = np.asarray(dftjax.scf(OH, basis="6-31g", unrestricted=True,
                                      conv_tol=1e-10).density_matrix)
    basis = build_basis(OH, "6-31g")
    coordinates = np.asarray(OH.coordinates)
    turn = ao_rotation(basis, coordinates, rotation_matrix(linear_axis(coordinates)[1], 0.9))
    turned = turn @ reference @ turn.T
    outputs = {"oh": oh.outputs(LDA2.params, oh.solve(LDA2.params))}

    def value(matrix, axial):
        term = density_error([(oh, DensityReference(matrix, "6-31g"))], axial_average=axial)
        return float(Loss([term]).evaluate(outputs)[0])

    averaged = value(reference, None)
    assert value(turned, None) == pytest.approx(averaged, rel=1e-10, abs=0)
    assert abs(value(turned, False) - value(reference, False)) > 1e-3 * value(reference, False)
    with pytest.raises(ValueError, match="axial average needs"):
        density_error([(oh, hf_density_on_grid(oh, "6-31g"))], axial_average=True)


@pytest.mark.parametrize("molecule, functional", [(LIH, MLP), (OH, LDA2)],
                         ids=["closed-shell", "open-shell"])
def test_density_fitted_sample_gradient(molecule, functional):
    # J and K from the density-fitted tensor: the same implicit derivative, of another model
    sample = Sample("df", molecule, functional, "sto-3g", grid_level=1, density_fit=True,
                    **TIGHT)
    assert sample.eri.method == "density-fit"
    loss = Loss([density_error([(sample, hf_density_on_grid(sample, "6-31g"))])])
    check_gradient_by_fd({"df": sample}, loss, functional.params, seed=2)


def test_nn_nra_gradient_on_a_chunked_grid():
    # The seed's second step: NN-NRA started from NN-meta-GGA's weights (zero weights on
    # log R). At grid level 3 the H atom has more points than one functional chunk, so the
    # backward pass runs on padded chunks; zeros there made every gradient NaN.
    from dftjax.xc.blocked import FUNCTIONAL_CHUNK
    from dftjax.xc.neural import nn_functional, released_params, widen_params
    params = widen_params(released_params("nn-metagga")[0], "nn-metagga", "nn-nra")
    h = Sample("h", dftjax.Molecule(["H"], [[0, 0, 0]], multiplicity=2),
               nn_functional("nn-nra", params=params), "sto-3g", grid_level=3, **TIGHT)
    assert h.grid.npts > FUNCTIONAL_CHUNK
    check_gradient_by_fd({"h": h}, Loss([total_energy({"h": -0.5})]), params, seed=4)


@pytest.fixture(scope="module")
def hydrogen():
    """H2 and the H atom with the two-parameter LDA (for the loop's tests)."""
    return {"h2": Sample("h2", dftjax.Molecule(["H", "H"], [[0, 0, 0], [0, 0, 1.4]], unit="bohr"),
                         LDA2, "sto-3g", grid_level=1),
            "h": Sample("h", dftjax.Molecule(["H"], [[0, 0, 0]], multiplicity=2), LDA2,
                        "sto-3g", grid_level=1)}


HYDROGEN_LOSS = Loss([total_energy({"h2": -1.17}),
                      atomization_energy([("h2", {"h": 2}, 0.1745)], weight=10.0)])


def test_failing_sample_is_excluded_and_named(hydrogen):
    li = Sample("li", dftjax.Molecule(["Li"], [[0, 0, 0]], multiplicity=2), CAPPED, "sto-3g",
                grid_level=1)
    h2 = Sample("h2-capped", hydrogen["h2"].molecule, CAPPED, "sto-3g", grid_level=1)
    samples = {"li": li, "h2-capped": h2}
    loss = Loss([total_energy({"li": -7.3, "h2-capped": -1.17})])
    value, terms, grad, failed = loss_and_gradient(samples, loss, CAPPED.params)
    assert list(failed) == ["li"] and "not converged" in failed["li"]
    # what is left is exactly the loss of H2 alone
    alone = Loss([total_energy({"h2-capped": -1.17})])
    value_alone, _, grad_alone, _ = loss_and_gradient(samples, alone, CAPPED.params)
    # (to the last bits only: H2's second SCF starts from the first one's density)
    assert value == pytest.approx(value_alone, rel=1e-12)
    np.testing.assert_allclose(grad["a"], grad_alone["a"], rtol=1e-12)
    # the step report names it, and the update is applied from what is left
    optimizer = make_optimizer(CAPPED.params, "sgd", 1e-3)
    state, history = fit(samples, loss, optimizer, init_state(CAPPED.params, optimizer), 1, log=None)
    assert history[0].applied and list(history[0].failed) == ["li"]
    assert "li (SCF not converged" in history[0].line()


def test_nothing_left_skips_then_restores():
    """A loss of failing samples only: each step is skipped, and after max_failures the
    state at the start of the last good step comes back with half the update scale."""
    li = Sample("li", dftjax.Molecule(["Li"], [[0, 0, 0]], multiplicity=2), CAPPED, "sto-3g",
                grid_level=1)
    loss = Loss([total_energy({"li": -7.3})])
    optimizer = make_optimizer(CAPPED.params, "sgd", 1e-3)
    start = init_state(CAPPED.params, optimizer)
    state, history = fit({"li": li}, loss, optimizer, start, 3, max_failures=2, log=None)
    assert [r.applied for r in history] == [False] * 3
    assert [r.restored for r in history] == [False, True, False]
    assert history[0].loss is None and history[0].failed == {"li": history[0].failed["li"]}
    assert state.update_scale == 0.5 and state.step == 3
    assert state.params["a"] == start.params["a"]


def test_resumed_run_repeats_the_next_step_exactly(hydrogen, tmp_path):
    optimizer = make_optimizer(LDA2.params, "adam", 0.02, schedule={"kind": "cosine"}, steps=10,
                               clip_norm=1.0)
    start = init_state(LDA2.params, optimizer, seed=3)
    full, history = fit(hydrogen, HYDROGEN_LOSS, optimizer, start, 3, batch_size=1,
                        checkpoint_dir=tmp_path / "run", checkpoint_every=2, log=None)
    assert all(r.applied and not r.failed for r in history)
    # the checkpoint of step 2, resumed for one step, gives step 3's state bit for bit
    first, _ = fit(hydrogen, HYDROGEN_LOSS, optimizer, start, 2, batch_size=1,
                   checkpoint_dir=tmp_path / "two", log=None)
    for sample in hydrogen.values():  # forget the warm starts: they must come from the file
        sample.warm = sample.guess
    resumed = load_checkpoint(tmp_path / "two", optimizer, LDA2.params)
    assert resumed.step == 2
    again, _ = fit(hydrogen, HYDROGEN_LOSS, optimizer, resumed, 1, batch_size=1, log=None)
    for key in ("a", "b"):
        assert float(again.params[key]) == float(full.params[key])
    np.testing.assert_array_equal(again.key, full.key)
    assert (tmp_path / "run" / "params.npz").is_file() and (tmp_path / "run" / "record.json").is_file()


def test_interrupted_run_checkpoints_its_last_completed_step(hydrogen, tmp_path, monkeypatch):
    """Ctrl-C in the third step: that step is abandoned, the state after the second is
    checkpointed (the same state an uninterrupted run has there) and Interrupted names it."""
    fit_module = importlib.import_module("dftjax.train.fit")

    optimizer = make_optimizer(LDA2.params, "adam", 0.02, steps=10)
    start = init_state(LDA2.params, optimizer, seed=3)
    two, _ = fit(hydrogen, HYDROGEN_LOSS, optimizer, start, 2, batch_size=1, log=None)
    real_step, calls = fit_module.train_step, []

    def step_then_interrupt(*args, **kwargs):
        calls.append(1)
        result = real_step(*args, **kwargs)
        if len(calls) == 3:  # the third step's work is done, its state not yet taken
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(fit_module, "train_step", step_then_interrupt)
    with pytest.raises(fit_module.Interrupted) as stop:
        fit(hydrogen, HYDROGEN_LOSS, optimizer, start, 5, batch_size=1,
            checkpoint_dir=tmp_path / "run", checkpoint_every=100, log=None)
    assert isinstance(stop.value, KeyboardInterrupt) and stop.value.state.step == 2
    assert [r.step for r in stop.value.history] == [0, 1]
    saved = load_checkpoint(tmp_path / "run", optimizer, LDA2.params)
    assert saved.step == 2
    for key in ("a", "b"):
        assert float(saved.params[key]) == float(two.params[key])
    record = json.loads((tmp_path / "run" / "record.json").read_text())
    assert [r["step"] for r in record["steps"]] == [0, 1]
    assert not list((tmp_path / "run").glob(".*tmp"))  # no temporary files left behind


DATA_PARALLEL = """
import jax, numpy as np
jax.config.update("jax_enable_x64", True)
import dftjax
from dftjax.train import Loss, Sample, atomization_energy, distribute, loss_and_gradient, total_energy
assert len(jax.local_devices()) == 4
def samples():
    return {"h2": Sample("h2", dftjax.Molecule.from_xyz("H 0 0 0; H 0 0 0.74"), "lda", "sto-3g", grid_level=1),
            "h": Sample("h", dftjax.Molecule.from_xyz("H 0 0 0", multiplicity=2), "lda", "sto-3g", grid_level=1)}
loss = Loss([total_energy({"h2": -1.1}), atomization_energy([("h2", {"h": 2}, 0.17)])])
params = {"alpha": 1.05}
spread, single = samples(), samples()
placement = distribute(spread)
distribute(single, jax.local_devices()[:1])
assert len(set(placement.values())) == 2, placement
for name, sample in spread.items():
    assert sample.solve(params).density.devices() == {placement[name]}
a, b = loss_and_gradient(spread, loss, params), loss_and_gradient(single, loss, params)
assert not a[3] and not b[3]
assert abs(a[0] - b[0]) <= 1e-14 and abs(float(a[2]["alpha"] - b[2]["alpha"])) <= 1e-13, (a, b)
print("OK", placement)
"""


@pytest.mark.slow  # a fresh process compiles everything again (~40 s warm cache, ~100 s cold)
def test_data_parallel_over_host_devices():
    """Four XLA host devices (a fresh process): samples go to different devices and the
    loss and gradient are those of one device (identical arithmetic, so to rounding)."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu", PYTHONPATH=str(Path(__file__).resolve().parent.parent),
               JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir or "")
    done = subprocess.run([sys.executable, "-c", DATA_PARALLEL], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
