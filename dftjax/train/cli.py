"""``dftjax train CONFIG.toml``: fit a functional's parameters as the configuration says
(:mod:`dftjax.train.config`), one progress line per step on stderr, checkpoints in the
output directory, and a summary on stdout.

Exit codes as the other commands: 0 done; 1 the last step could not be applied (its
samples failed or its update was not finite); 2 a bad configuration
(``dftjax: error: ...``); 130 interrupted (Ctrl-C), after checkpointing the last completed
step; 143 terminated (SIGTERM, as a batch system's time limit or ``kill`` stops a job),
after the same checkpoint. After the steps it writes ``MODEL_CARD.md`` beside the parameters
(:mod:`dftjax.train.card`). ``[train] steps`` (or ``--steps``) is the run's total: run
again, the command continues from its checkpoint up to it.
"""

import contextlib
import signal
import sys
import threading

from ..exit_codes import (EXIT_INTERRUPTED, EXIT_NOT_CONVERGED, EXIT_OK, EXIT_TERMINATED,
                          bad_input as _bad_input)


def add_train_parser(subparsers) -> None:
    """Register ``train`` on the ``dftjax`` command's subparsers."""
    train = subparsers.add_parser(
        "train", help="fit a functional's parameters to reference data (TOML configuration)",
        description="Fit a functional self-consistently: losses on converged SCFs of the "
                    "configured samples, optax updates, checkpoints.")
    train.add_argument("config", metavar="CONFIG.toml", help="the training configuration")
    train.add_argument("--steps", type=int,
                       help="the run's total number of steps (overrides [train] steps); a "
                            "resumed run continues up to it")
    train.add_argument("--output", help="output directory (overrides [train] output)")
    train.add_argument("--restart", action="store_true",
                       help="start afresh even if the output directory holds a checkpoint")
    train.add_argument("--verbose", action="store_true", help="tracebacks with errors")
    train.set_defaults(handler=run_train)


@contextlib.contextmanager
def _sigterm_interrupts():
    """While the steps run, SIGTERM stops them as Ctrl-C does (the last completed step is
    checkpointed) instead of killing the process mid-write; yields a list that holds the
    signal once it came. Only the main thread can own a signal handler; elsewhere a no-op."""
    received = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_train(args) -> int:
    from .card import model_card
    from .config import load_run
    from .fit import Interrupted, fit

    if args.steps is not None and args.steps < 0:
        return _bad_input(ValueError("--steps must be at least 0"), args)
    log = lambda line: print(line, file=sys.stderr, flush=True)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            run = load_run(args.config, steps=args.steps, output=args.output,
                           resume=not args.restart, log=log)
    except (ValueError, KeyError, TypeError, FileNotFoundError, MemoryError) as error:
        return _bad_input(error, args)
    if run.state.step:
        print(f"resuming from step {run.state.step} of {run.steps} in {run.output}", file=sys.stderr)
    try:
        with contextlib.redirect_stdout(sys.stderr), _sigterm_interrupts() as terminated:
            state, history = fit(run.samples, run.loss, run.optimizer, run.state, run.remaining,
                                 checkpoint_dir=run.output, metadata=run.metadata, log=log,
                                 history=run.history, **run.options)
    except Interrupted as stop:
        print(f"interrupted: the state after step {stop.state.step} is checkpointed in "
              f"{run.output}; run the same command to continue", file=sys.stderr)
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
    card = run.output / "MODEL_CARD.md"
    card.write_text(model_card(run, state, history))
    last = history[-1] if history else None
    loss = "n/a" if last is None or last.loss is None else f"{last.loss:.6e}"
    print(f"trained {run.functional.name}: step {state.step}, last loss {loss}; parameters in "
          f"{run.output / 'params.npz'}, model card {card}")
    if last is not None and not last.applied:
        print(f"error: the last step was skipped (failed: {', '.join(last.failed) or 'update not finite'})",
              file=sys.stderr)
        return EXIT_NOT_CONVERGED
    return EXIT_OK
