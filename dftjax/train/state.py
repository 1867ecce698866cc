"""Optimiser, train state and checkpoints.

* :func:`make_optimizer`: an optax optimiser (adam, adamw, sgd, rmsprop, adabelief) with a learning-rate schedule, global-norm gradient clipping and frozen
  parameters (their updates are zero);
* :class:`TrainState`: parameters, optimiser state, step, PRNG key, the update scale
  (halved whenever the last good state is restored) and each sample's warm-start density;
* :func:`save_checkpoint` / :func:`load_checkpoint`: the state as one parameter file
  (:mod:`dftjax.params_io`, ``checkpoint.npz``) plus a JSON record of the run
  (``record.json``), and the parameters alone in ``params.npz`` (loadable wherever a
  functional's parameters are). A run resumed from a checkpoint repeats the next step of
  the uninterrupted run exactly: everything the step reads is in the state.
"""

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .sample import as_float_arrays
from .._cache import replace_atomically
from ..params_io import leaf_paths, load_pytree, match_params, save_pytree

OPTIMIZERS = {"adam": optax.adam, "adamw": optax.adamw, "sgd": optax.sgd,
              "rmsprop": optax.rmsprop, "adabelief": optax.adabelief}


def make_schedule(learning_rate, schedule=None, steps=None):
    """A float or an optax schedule. ``schedule``: None/"constant", or a dict with
    ``kind`` "cosine" (decay to ``alpha`` times the rate over ``decay_steps``, default the
    run's ``steps``), "exponential" (``decay_rate`` per ``transition_steps``) or
    "warmup_cosine" (``warmup_steps`` linear from 0, then cosine)."""
    if schedule is None or schedule == "constant":
        return learning_rate
    options = dict(schedule) if isinstance(schedule, dict) else {"kind": schedule}
    kind = options.pop("kind", "constant")
    explicit = "decay_steps" in options
    decay_steps = int(options.pop("decay_steps", steps or 1))
    if kind == "constant":
        schedule_fn = optax.constant_schedule(learning_rate)
    elif kind == "cosine":
        schedule_fn = optax.cosine_decay_schedule(learning_rate, decay_steps,
                                                  alpha=float(options.pop("alpha", 0.0)))
    elif kind == "exponential":
        schedule_fn = optax.exponential_decay(learning_rate,
                                              int(options.pop("transition_steps", 1)),
                                              float(options.pop("decay_rate", 0.99)))
    elif kind == "warmup_cosine":
        warmup_steps = int(options.pop("warmup_steps", 0))
        if decay_steps <= warmup_steps:
            if explicit:
                raise ValueError(f"the warmup_cosine schedule needs decay_steps ({decay_steps}, "
                                 f"warm-up included) above warmup_steps ({warmup_steps})")
            # a run shorter than its warm-up (a quick try, or 0 steps after a pre-fit)
            # warms up for as long as it runs
            decay_steps = warmup_steps + 1
        schedule_fn = optax.warmup_cosine_decay_schedule(
            0.0, learning_rate, warmup_steps, decay_steps,
            end_value=float(options.pop("end_value", 0.0)))
    else:
        raise ValueError(f"unknown schedule kind {kind!r}: use constant, cosine, exponential "
                         "or warmup_cosine")
    if options:
        raise ValueError(f"unknown options for the {kind} schedule: {sorted(options)}")
    return schedule_fn


def make_optimizer(params, name="adam", learning_rate=1e-3, schedule=None, clip_norm=None,
                   freeze=(), steps=None, **options):
    """An optax GradientTransformation for ``params``.

    name : one of :data:`OPTIMIZERS`; ``options`` go to it (e.g. ``b1``, ``weight_decay``)
    schedule : see :func:`make_schedule`
    clip_norm : clip the gradient's global norm to this first (None: no clipping)
    freeze : parameter paths (params_io spelling, "layers/0") whose leaves, and those below
        them, are not updated
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: use one of {sorted(OPTIMIZERS)}")
    chain = [] if clip_norm is None else [optax.clip_by_global_norm(float(clip_norm))]
    chain.append(OPTIMIZERS[name](make_schedule(float(learning_rate), schedule, steps), **options))
    optimizer = optax.chain(*chain)
    freeze = tuple(freeze)
    if not freeze:
        return optimizer
    paths = leaf_paths(params)
    frozen = [any(p == f or p.startswith(f.rstrip("/") + "/") for f in freeze) for p in paths]
    unmatched = [f for f in freeze if not any(p == f or p.startswith(f.rstrip("/") + "/") for p in paths)]
    if unmatched:
        raise ValueError(f"freeze names no parameter: {unmatched}; parameters are {paths}")
    labels = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params),
                                          ["frozen" if f else "trained" for f in frozen])
    return optax.multi_transform({"trained": optimizer, "frozen": optax.set_to_zero()}, labels)


@dataclasses.dataclass
class TrainState:
    """Everything a training step reads.

    params : the functional's parameter pytree
    opt_state : the optimiser's state
    step : steps taken (successful or skipped)
    key : PRNG key (uint32 array), split once per step (minibatches)
    update_scale : multiplies every update; halved when the last good state is restored
    warm : {sample name: (2, nao, nao) warm-start density}
    """

    params: object
    opt_state: object
    step: int
    key: jnp.ndarray
    update_scale: float = 1.0
    warm: dict = dataclasses.field(default_factory=dict)


def init_state(params, optimizer, seed=0) -> TrainState:
    params = as_float_arrays(params)
    return TrainState(params, optimizer.init(params), 0, jax.random.PRNGKey(seed))


def save_checkpoint(directory, state: TrainState, record: dict, metadata: dict = None) -> Path:
    """Write ``checkpoint.npz`` (the state), ``params.npz`` (parameters with ``metadata``)
    and ``record.json`` (``record``) into ``directory``; returns the checkpoint's path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tree = {"params": state.params, "opt_state": jax.tree_util.tree_leaves(state.opt_state),
            "step": np.asarray(state.step), "key": np.asarray(state.key),
            "update_scale": np.asarray(state.update_scale), "warm": state.warm}
    if not tree["opt_state"]:
        del tree["opt_state"]  # stateless optimiser (sgd without momentum)
    if not tree["warm"]:
        del tree["warm"]
    path = save_pytree(directory / "checkpoint.npz", tree, {"step": state.step})
    save_pytree(directory / "params.npz", state.params, dict(metadata or {}, step=state.step))
    replace_atomically(directory / "record.json",
                       (json.dumps(record, indent=1, default=float) + "\n").encode())
    return path


def load_checkpoint(path, optimizer, params_template) -> TrainState:
    """The state saved by :func:`save_checkpoint` (``path``: the file or its directory).
    ``params_template`` gives the tree structure (lists vs tuples, leaf order) and
    ``optimizer`` the structure of its state."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.npz"
    tree, _ = load_pytree(path)
    params = match_params(tree["params"], params_template)
    opt_structure = jax.tree_util.tree_structure(optimizer.init(params))
    opt_leaves = [jnp.asarray(x) for x in tree.get("opt_state", [])]
    if len(opt_leaves) != opt_structure.num_leaves:
        raise ValueError(f"checkpoint {str(path)!r}: optimiser state has {len(opt_leaves)} arrays, "
                         f"the configured optimiser needs {opt_structure.num_leaves}")
    return TrainState(params, jax.tree_util.tree_unflatten(opt_structure, opt_leaves),
                      int(tree["step"]), jnp.asarray(tree["key"]), float(tree["update_scale"]),
                      {k: jnp.asarray(v) for k, v in tree.get("warm", {}).items()})
