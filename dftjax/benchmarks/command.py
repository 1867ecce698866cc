"""``dftjax bench g2``: the G2 atomization-energy benchmark from the shell.

A table of per-molecule errors and the summary on stdout (or the summary and rows as
one JSON object with --json), progress on stderr, one JSON line per species in --output.
Exit code 0 when every species converged, 1 when any failed (they are listed), 2 for
bad input.
"""

import argparse
import importlib
import json

from dftjax.benchmarks.g2 import atomization_energies, plot_errors, run_g2, summarize, table
from dftjax.exit_codes import EXIT_NOT_CONVERGED, EXIT_OK, bad_input


def add_bench_parser(subparsers) -> None:
    """Register ``bench g2`` on the ``dftjax`` subparsers."""
    bench = subparsers.add_parser("bench", help="run a built-in benchmark set",
                                  description="Run a built-in benchmark set.")
    sets = bench.add_subparsers(dest="benchmark", metavar="SET", required=True)
    g2 = sets.add_parser(
        "g2", help="G2/97 atomization energies (148 molecules, 14 atoms)",
        description="Atomization energies of the G2/97 set against experiment (kcal/mol).")
    g2.add_argument("--xc", required=True, help="functional name (hf, b3lyp, pbe, ...)")
    g2.add_argument("--basis", required=True, help="basis set name, e.g. def2-tzvp")
    g2.add_argument("--subset", type=str.lower, choices=("g2-1", "g2-2"),
                    help="run one subset only (default: both)")
    g2.add_argument("--molecules", nargs="+", metavar="NAME", help="run only these molecules")
    g2.add_argument("--grid-level", type=int, default=3, help="grid level 0..9 (default 3)")
    g2.add_argument("--density-fit", action=argparse.BooleanOptionalAction, default=None,
                    help="density-fit J and K (default: chosen by size)")
    g2.add_argument("--stability", action=argparse.BooleanOptionalAction, default=None,
                    help="check the SCF stability (default: open shells only)")
    g2.add_argument("--output", help="JSONL file, one line per species, written as each ends")
    g2.add_argument("--resume", action="store_true",
                    help="keep the species already in --output and run the rest")
    g2.add_argument("--json", action="store_true", help="print the summary and rows as JSON")
    g2.add_argument("--plot", metavar="FILE.png", help="save a bar chart of the signed errors")
    g2.add_argument("--model-card", metavar="MODEL_CARD.md",
                    help="add the figures to a trained functional's model card (from dftjax train)")
    g2.add_argument("--verbose", action="store_true", help="tracebacks for errors")
    g2.set_defaults(handler=run_bench_g2)


def run_bench_g2(args) -> int:
    if args.resume and not args.output:
        return bad_input(ValueError("--resume needs --output"), args)
    if args.plot:
        try:
            importlib.import_module("matplotlib")
        except ImportError:
            return bad_input(ImportError("--plot needs matplotlib (pip install 'dftjax[plot]')"),
                             args)
    try:
        chosen, records = run_g2(xc=args.xc, basis=args.basis, subset=args.subset,
                                 molecules=args.molecules, grid_level=args.grid_level,
                                 density_fit=args.density_fit, output=args.output,
                                 resume=args.resume, stability=args.stability)
    except (ValueError, KeyError, OSError) as exc:
        return bad_input(exc, args)
    rows = atomization_energies(chosen, records)
    summary = summarize(rows, records)
    if args.json:
        print(json.dumps({"summary": summary, "molecules": rows}, indent=1))
    else:
        print(table(rows, summary))
    if args.plot:
        plot_errors(rows, args.plot)
    if args.model_card:
        from dftjax.train.card import add_evaluation

        subset = {"g2-1": "G2-1", "g2-2": "G2-2"}.get(args.subset, "G2-1 and G2-2")
        picked = f", molecules {' '.join(args.molecules)}" if args.molecules else ""
        add_evaluation(args.model_card, f"G2 {subset}{picked}: {args.xc}, {args.basis}, grid "
                       f"level {args.grid_level}", summary)
    return EXIT_NOT_CONVERGED if summary["failed_species"] else EXIT_OK
