"""Optimiser, train state and checkpoints (dftjax.train.state), on plain pytrees."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from dftjax.train.state import (TrainState, init_state, leaf_paths, load_checkpoint,
                                make_optimizer, make_schedule, save_checkpoint)

PARAMS = {"x": jnp.asarray(1.0), "layers": [{"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}]}
GRAD = jax.tree_util.tree_map(jnp.ones_like, PARAMS)


def test_leaf_paths_are_params_io_paths():
    assert leaf_paths(PARAMS) == ["layers/0/b", "layers/0/w", "x"]


def test_frozen_leaves_do_not_move():
    optimizer = make_optimizer(PARAMS, "sgd", 0.1, freeze=["layers/0/w"])
    updates, _ = optimizer.update(GRAD, optimizer.init(PARAMS), PARAMS)
    assert float(jnp.abs(updates["layers"][0]["w"]).max()) == 0.0
    assert float(updates["x"]) == pytest.approx(-0.1)
    with pytest.raises(ValueError, match="freeze names no parameter"):
        make_optimizer(PARAMS, "sgd", 0.1, freeze=["nothing"])


def test_clipping_bounds_the_global_norm():
    optimizer = make_optimizer(PARAMS, "sgd", 1.0, clip_norm=0.5)
    updates, _ = optimizer.update(GRAD, optimizer.init(PARAMS), PARAMS)
    norm = np.sqrt(sum(float(jnp.sum(u**2)) for u in jax.tree_util.tree_leaves(updates)))
    assert norm == pytest.approx(0.5)


def test_schedules():
    cosine = make_schedule(1.0, {"kind": "cosine"}, steps=10)
    assert float(cosine(0)) == pytest.approx(1.0) and float(cosine(10)) == pytest.approx(0.0)
    warm = make_schedule(1.0, {"kind": "warmup_cosine", "warmup_steps": 2}, steps=10)
    assert float(warm(1)) == pytest.approx(0.5)
    assert make_schedule(0.3) == 0.3
    # a run shorter than its warm-up (0 steps: a pre-fit alone) warms up while it runs
    for steps in (0, 3):
        short = make_schedule(1.0, {"kind": "warmup_cosine", "warmup_steps": 5}, steps=steps)
        assert float(short(2)) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="above warmup_steps"):
        make_schedule(1.0, {"kind": "warmup_cosine", "warmup_steps": 5, "decay_steps": 4})
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule(1.0, {"kind": "zigzag"})
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer(PARAMS, "newton")


def test_checkpoint_round_trip(tmp_path):
    optimizer = make_optimizer(PARAMS, "adam", 0.1)
    state = init_state(PARAMS, optimizer, seed=7)
    updates, opt_state = optimizer.update(GRAD, state.opt_state, state.params)
    state = TrainState(optax.apply_updates(state.params, updates), opt_state, 1, state.key, 0.5,
                       {"h2": jnp.arange(8.0).reshape(2, 2, 2)})
    save_checkpoint(tmp_path, state, {"steps": []}, {"functional": "x"})
    loaded = load_checkpoint(tmp_path, optimizer, PARAMS)
    assert loaded.step == 1 and loaded.update_scale == 0.5
    for a, b in zip(jax.tree_util.tree_leaves((state.params, state.opt_state, state.key, state.warm)),
                    jax.tree_util.tree_leaves((loaded.params, loaded.opt_state, loaded.key, loaded.warm))):
        np.testing.assert_array_equal(a, b)
    assert jax.tree_util.tree_structure(loaded.opt_state) == jax.tree_util.tree_structure(state.opt_state)
    with pytest.raises(ValueError, match="optimiser state"):
        load_checkpoint(tmp_path, make_optimizer(PARAMS, "sgd", 0.1), PARAMS)
