"""The training loop: loss and gradient over samples with every failure caught, optax
updates, checkpoints and restores.

One step (:func:`train_step`):

1. forward SCF of every sample the (mini-batch) loss needs, each with its retry ladder;
   a sample that does not converge is *failed*;
2. the loss over the items whose samples all converged, and its cotangents with respect
   to each sample's outputs;
3. per sample, the gradient with its coupled-perturbed residual checked (and retried);
   a sample whose solve fails or whose gradient is not finite is failed, and steps 2-3
   are redone without the items that need it;
4. the update, unless nothing is left or it is not finite (then the step is *skipped*
   and the parameters stay). After ``max_failures`` consecutive skipped steps the state
   at the start of the last good step is restored and the update scale halved.

Every step is logged: loss and term values, gradient norm, failed samples with the
reason, seconds.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .sample import as_float_arrays
from .state import TrainState, save_checkpoint


@dataclasses.dataclass
class StepReport:
    """What one step did: step index, loss (None when nothing was left), term values,
    gradient norm, {sample: reason} of failures, whether the update was applied, whether
    the last good state was restored, seconds."""

    step: int
    loss: float
    terms: dict
    grad_norm: float
    failed: dict
    applied: bool
    restored: bool
    seconds: float

    def line(self):
        loss = "nan" if self.loss is None else f"{self.loss:.6e}"
        terms = " ".join(f"{k}={v:.4e}" for k, v in self.terms.items())
        failed = (" failed: " + ", ".join(f"{k} ({v})" for k, v in self.failed.items())
                  if self.failed else "")
        action = "" if self.applied else " SKIPPED"
        action += " RESTORED last good state, update scale halved" if self.restored else ""
        return (f"step {self.step:5d} loss {loss} {terms} |grad| {self.grad_norm:.3e} "
                f"{self.seconds:.2f}s{failed}{action}")


def _finite(tree):
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(tree))


def distribute(samples: dict, devices=None):
    """Place the samples on ``devices`` (default: every local device) so that the
    heaviest go first to the least loaded device (by :attr:`Sample.memory_estimate`).
    Returns {sample name: device}."""
    devices = list(jax.local_devices() if devices is None else devices)
    load = {d: 0 for d in devices}
    placement = {}
    for sample in sorted(samples.values(), key=lambda s: -s.memory_estimate):
        device = min(devices, key=lambda d: load[d])
        load[device] += sample.memory_estimate
        placement[sample.name] = sample.to_device(device).device
    return placement


def _host(tree):
    return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))


def loss_and_gradient(samples: dict, loss, params):
    """(loss, term values, gradient, {sample: reason}) at ``params``; loss and gradient
    are None when no item is left. ``samples`` maps names to
    :class:`~dftjax.train.sample.Sample`. The first forward and backward attempts of all
    samples are dispatched before any is waited for, so samples on different devices
    (:func:`distribute`) run in parallel."""
    failed, solutions = {}, {}
    first = {name: samples[name].dispatch(params) for name in loss.samples}
    for name in loss.samples:
        solution = samples[name].solve(params, first=first[name])
        if not bool(solution.converged):
            failed[name] = f"SCF not converged, |g|={float(solution.gradient_norm):.1e}"
        else:
            solutions[name] = solution
    while True:
        outputs = {}
        for name, solution in solutions.items():
            out = _host(samples[name].outputs(params, solution))
            if _finite(out):
                outputs[name] = out
            elif name not in failed:
                failed[name] = "outputs not finite"
        if not loss.evaluate(outputs)[1]:
            return None, {}, None, failed
        value, terms, bars = loss.value_and_grad(outputs)
        used = [name for name in outputs
                if any(name in i.samples and all(x in outputs for x in i.samples)
                       for t in loss.terms for i in t.items)]
        first = {name: samples[name].dispatch_gradient(params, solutions[name], bars[name])
                 for name in used}
        grad, new_failure = None, False
        for name in used:
            g, report = samples[name].gradient(params, solutions[name], bars[name], first=first[name])
            g = _host(g)
            if not report.ok or not _finite(g):
                failed[name] = ("coupled-perturbed solve failed, residual "
                                f"{report.residual:.1e} of {report.rhs:.1e}" if not report.ok
                                else "gradient not finite")
                del solutions[name]
                new_failure = True
                break
            grad = g if grad is None else jax.tree_util.tree_map(np.add, grad, g)
        if not new_failure:
            return value, terms, as_float_arrays(grad), failed


def train_step(state: TrainState, samples: dict, loss, optimizer, batch_size=None):
    """(new state, StepReport) for one step without the restore logic (see :func:`fit`)."""
    start = time.perf_counter()
    key, subkey = jax.random.split(state.key)
    batch = loss.subset(subkey, batch_size)
    for name in batch.samples:  # the state's warm starts, so that a resumed step is the same
        samples[name].set_warm(state.warm.get(name, samples[name].guess))
    value, terms, grad, failed = loss_and_gradient(samples, batch, state.params)
    applied = grad is not None and value is not None and np.isfinite(value) and _finite(grad)
    grad_norm = (float(jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(grad))))
                 if grad is not None else float("nan"))
    params, opt_state = state.params, state.opt_state
    if applied:
        updates, new_opt_state = optimizer.update(grad, opt_state, params)
        updates = jax.tree_util.tree_map(lambda u: state.update_scale * u, updates)
        new_params = optax.apply_updates(params, updates)
        applied = _finite(new_params)
        if applied:
            params, opt_state = new_params, new_opt_state
    warm = dict(state.warm, **{name: samples[name].warm for name in batch.samples})
    new_state = TrainState(params, opt_state, state.step + 1, key, state.update_scale, warm)
    report = StepReport(state.step, value, terms, grad_norm, failed, applied, False,
                        time.perf_counter() - start)
    return new_state, report


class Interrupted(KeyboardInterrupt):
    """A run stopped by the user (Ctrl-C) between or during steps: ``state`` is the state
    after the last completed step (checkpointed, when the run has a checkpoint directory)
    and ``history`` its reports."""

    def __init__(self, state, history):
        super().__init__(f"interrupted after step {state.step}")
        self.state, self.history = state, history


def fit(samples, loss, optimizer, state: TrainState, steps, *, batch_size=None,
        max_failures=3, checkpoint_dir=None, checkpoint_every=None, metadata=None, log=print,
        history=None):
    """Train for ``steps`` steps from ``state``; returns (final state, list of StepReport).

    samples : {name: Sample} (or a sequence of samples), spread over the local devices
        (:func:`distribute`) when there are several and none is placed yet;
    loss : :class:`~dftjax.train.losses.Loss`;
    optimizer : optax GradientTransformation whose state is ``state.opt_state``.
    batch_size : items per step drawn with the state's key (None: all).
    max_failures : consecutive skipped steps before the state at the start of the last
        good step is restored with half the update scale.
    checkpoint_dir, checkpoint_every : write a checkpoint every so many steps and at the
        end (:func:`~dftjax.train.state.save_checkpoint`); ``metadata`` goes into params.npz.
    log : called with one line per step (None: silent).
    history : reports of earlier steps (a resumed run), kept in the record.

    A KeyboardInterrupt (Ctrl-C) during a step abandons that step, checkpoints the state
    after the last completed one and raises :class:`Interrupted`: running on from the
    checkpoint repeats what an uninterrupted run would have done.
    """
    if not isinstance(samples, dict):
        samples = {s.name: s for s in samples}
    missing = [name for name in loss.samples if name not in samples]
    if missing:
        raise ValueError(f"the loss needs samples that are not given: {missing}")
    if len(jax.local_devices()) > 1 and all(s.device is None for s in samples.values()):
        distribute(samples)
    history = list(history or [])
    last_good, failures = state, 0
    try:
        for _ in range(steps):
            start_state = state
            new_state, report = train_step(state, samples, loss, optimizer, batch_size)
            if report.applied:
                last_good, failures = start_state, 0
            else:
                failures += 1
                if failures >= max_failures:
                    new_state = dataclasses.replace(last_good, step=new_state.step, key=new_state.key,
                                                    update_scale=0.5 * new_state.update_scale)
                    report.restored, failures = True, 0
            history.append(report)  # before the state: an interrupt between is trimmed below
            state = new_state
            if log is not None:
                log(report.line())
            if checkpoint_dir is not None and checkpoint_every and state.step % checkpoint_every == 0:
                save_checkpoint(checkpoint_dir, state, record(history), metadata)
    except KeyboardInterrupt:
        # state is replaced only once its step is done; a report appended just before the
        # interrupt belongs to no kept state and is dropped. Checkpoint files are atomic.
        history = [r for r in history if r.step < state.step]
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, state, record(history), metadata)
        raise Interrupted(state, history) from None
    if checkpoint_dir is not None:
        save_checkpoint(checkpoint_dir, state, record(history), metadata)
    return state, history


def record(history):
    """The JSON record of a run: one dict per step (NaN written as null)."""
    def clean(value):
        return None if isinstance(value, float) and not np.isfinite(value) else value

    return {"steps": [{k: clean(v) for k, v in dataclasses.asdict(r).items()} for r in history]}
