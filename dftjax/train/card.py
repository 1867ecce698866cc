"""Model cards: what a trained functional was fitted to, how, at what cost, and how it
does on held-out data, as a Markdown file beside its parameters.

``dftjax train`` writes ``MODEL_CARD.md`` into its output directory after every run
(:func:`model_card`: the functional and its initialisation, every sample, the loss terms
and weights, the optimiser, the steps run with their failures, the loss at the first and
last step, time and hardware). ``dftjax bench g2 --model-card PATH`` adds or replaces a
section with the benchmark's figures (:func:`add_evaluation`), so the held-out MAE sits in
the same file as the training facts.
"""

import json
import os
import platform
import re
from collections import Counter
from pathlib import Path

import jax
import numpy as np

from ..benchmarks.g2 import KCAL_PER_HARTREE

EVALUATION = "## Evaluation"


def _shown(path) -> Path:
    """``path`` relative to the working directory when it lies below it (as a user there
    types it, and as the card reads when the directory is moved or committed), else as is."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return Path(path)


def _size(params) -> int:
    return int(sum(np.size(leaf) for leaf in jax.tree_util.tree_leaves(params)))


def _initialisation(table: dict) -> str:
    if "random_seed" in table:
        start = f"a random network (PRNG seed {table['random_seed']})"
    elif "params" in table:
        form = f", widened from the {table['params_form']} form" if "params_form" in table else ""
        start = f"the parameters in `{table['params']}`{form}"
    else:
        start = "the functional's published parameters"
    prefit = table.get("prefit")
    if isinstance(prefit, dict) and "teacher" in prefit:
        start += (f", pre-fitted to {prefit['teacher']}'s energy density on its own SCF "
                  "densities of the samples (`prefit.npz`; see Pre-fit below)")
    return start


def _prefit_section(output) -> list:
    """The pre-fit's report from ``output/prefit.npz``, or nothing."""
    path = Path(output) / "prefit.npz"
    if not path.is_file():
        return []
    from ..params_io import load_pytree
    report = load_pytree(path)[1].get("report")
    if not report:
        return []
    lines = ["", "## Pre-fit", "",
             f"- Teacher {report['teacher']}: {report['iterations']} L-BFGS iterations on "
             f"{report['npts']} grid points, {report['seconds']:.0f} s; pointwise term "
             f"{report['pointwise_start']:.3e} -> {report['pointwise']:.3e}", "",
             "| sample | XC energy error against the teacher, start (kcal/mol) | after |",
             "|---|---|---|"]
    for name, error in report["xc_errors"].items():
        lines.append(f"| {name} | {report['xc_errors_start'][name] * KCAL_PER_HARTREE:+.2f} | "
                     f"{error * KCAL_PER_HARTREE:+.3f} |")
    return lines


def _formula(symbols) -> str:
    return "".join(f"{s}{n if n > 1 else ''}" for s, n in Counter(symbols).items())


def _hardware() -> str:
    devices = jax.devices()
    kinds = sorted({d.device_kind for d in devices})
    return (f"{len(devices)} {devices[0].platform} device(s) ({', '.join(kinds)}), "
            f"{os.cpu_count()} CPU cores, {platform.machine()}; JAX {jax.__version__}")


def model_card(run, state, history) -> str:
    """The Markdown card of a training run: ``run`` a :class:`~dftjax.train.config.TrainingRun`
    (its ``config`` the parsed file), ``state`` the final state, ``history`` every
    StepReport of the run (resumed ones included)."""
    from .. import __version__

    config = run.config or {}
    table = config.get("functional", {})
    name = table.get("name", table.get("entry_point", run.functional.name))
    lines = [f"# Model card: {name}, fitted with dftjax {__version__}", "",
             f"- Parameters: {_size(state.params)} numbers, in `params.npz` (load with "
             f"`--xc {name}:{_shown(run.output / 'params.npz')}` where a functional name goes)",
             f"- Started from {_initialisation(table)}",
             f"- Configuration: `{run.metadata.get('config')}`", "",
             "## Training data", "",
             "| sample | atoms | charge | multiplicity | basis | basis functions | grid points | ERIs |",
             "|---|---|---|---|---|---|---|---|"]
    for sample in run.samples.values():
        molecule = sample.molecule
        lines.append(f"| {sample.name} | {_formula(molecule.symbols)} | {molecule.charge} | "
                     f"{molecule.multiplicity} | {sample.basis_name} | {sample.nao} | "
                     f"{int(sample.grid.weights.shape[0])} | {sample.eri.method} |")
    lines += ["", "| loss term | items | weight |", "|---|---|---|"]
    for term in run.loss.terms:
        lines.append(f"| {term.name} | {len(term.items)} | {term.weight:g} |")
    lines += _prefit_section(run.output)
    g2 = config.get("g2", [])
    if g2:
        lines += ["", "Atomization-energy targets of the [[g2]] tables: the experimental De plus "
                  "atomic spin-orbit of the packaged G2 set (`dftjax.benchmarks`), tables: "
                  + "; ".join(json.dumps(t, sort_keys=True) for t in g2) + "."]
    steps = list(history)
    skipped = [r.step for r in steps if not r.applied]
    restored = [r.step for r in steps if r.restored]
    batch = run.options.get("batch_size")
    lines += ["", "## Optimisation", "",
              f"- Optimiser: `{json.dumps(config.get('optimizer', {}), sort_keys=True)}`",
              f"- Steps: {state.step} of {run.steps} ({len(steps)} recorded), "
              f"{'all loss items' if not batch else f'{batch} loss items'} per step",
              f"- Skipped steps: {skipped or 'none'}; restores of the last good state: "
              f"{restored or 'none'}"]
    failed = sorted({sample for r in steps for sample in r.failed})
    if failed:
        lines.append(f"- Samples left out of some step's gradient: {', '.join(failed)}")
    scored = [r for r in steps if r.loss is not None]
    if scored:
        first, last = scored[0], scored[-1]
        terms = ", ".join(f"{k} {v:.4e}" for k, v in last.terms.items())
        lines += ["", "## Result", "",
                  f"- Loss: {first.loss:.6e} at step {first.step}, {last.loss:.6e} at step "
                  f"{last.step} ({terms}); |grad| {last.grad_norm:.3e}"]
    seconds = [r.seconds for r in steps]
    if seconds:
        lines += ["", "## Cost", "",
                  f"- {sum(seconds):.0f} s in steps, median {float(np.median(seconds)):.1f} s "
                  f"per step (sample building not included)",
                  f"- Hardware: {_hardware()}"]
    lines += ["", EVALUATION, "",
              "Not evaluated yet: `dftjax bench g2 --subset SUBSET --basis BASIS --xc "
              f"{name}:PATH/params.npz --model-card PATH/MODEL_CARD.md` adds the figures here.", ""]
    return "\n".join(lines)


def evaluation_section(title: str, summary: dict) -> str:
    """A card section of a G2 benchmark ``summary`` (:func:`dftjax.benchmarks.g2.summarize`)."""
    number = lambda x: "-" if x is None else f"{x:.2f}"
    lines = [f"### {title}", "",
             f"- Molecules in the MAE: {summary['in_mae']} of {summary['molecules']}; "
             f"MAE {number(summary['MAE'])}, MSE {number(summary['MSE'])}, largest |error| "
             f"{number(summary['max_abs'])} kcal/mol"]
    for subset, stats in summary["subsets"].items():
        lines.append(f"- {subset}: {stats['count']} molecules, MAE {number(stats['MAE'])}, "
                     f"MSE {number(stats['MSE'])} kcal/mol")
    if summary["largest_errors"]:
        lines.append("- Largest errors: " + ", ".join(
            f"{e['name']} {e['error']:+.2f}" for e in summary["largest_errors"]))
    if summary["failed_species"]:
        lines.append("- Failed species (not in the MAE): " + ", ".join(summary["failed_species"]))
    lines.append(f"- {summary['species']} species, {summary['time_s']:.0f} s")
    return "\n".join(lines) + "\n"


def add_evaluation(path, title: str, summary: dict) -> None:
    """Put the section of ``summary`` under the card's Evaluation heading, replacing an
    earlier section of the same ``title`` (a rerun) and the "not evaluated" note."""
    path = Path(path)
    text = path.read_text() if path.is_file() else f"# Model card\n\n{EVALUATION}\n\n"
    if EVALUATION not in text:
        text = text.rstrip("\n") + f"\n\n{EVALUATION}\n\n"
    head, _, tail = text.partition(EVALUATION)
    sections = re.split(r"(?m)^(?=### )", tail)
    kept = [s for s in sections[1:] if not s.startswith(f"### {title}\n")]
    body = "".join(s if s.endswith("\n\n") else s.rstrip("\n") + "\n\n" for s in kept)
    new = evaluation_section(title, summary)
    path.write_text(f"{head}{EVALUATION}\n\n{body}{new}")
