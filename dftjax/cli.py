"""The ``dftjax`` command line.

``dftjax run GEOMETRY.xyz --basis NAME`` runs one SCF and prints a summary, or with
``--json`` exactly one JSON object on stdout; ``--gradient`` adds the nuclear gradient.
``dftjax opt GEOMETRY.xyz --basis NAME`` optimises the geometry (``--output OUT.xyz``
writes the final one). Everything else (progress, logs, errors)
goes to stderr, so ``dftjax run ... --json > result.json`` captures only the result.

Units in the output: energies in Hartree, dipole in atomic units (e·Bohr) with its
magnitude also in Debye, timings in seconds.

Exit codes: 0 success; 1 SCF (or, for ``opt``, the geometry) not converged (the result
is still printed);
2 bad input (unreadable geometry, unknown basis or element, bad arguments).

The parser is built by :func:`build_parser`; each subcommand registers a handler
``handler(args) -> int`` with ``set_defaults``, so new subcommands and options slot in
without touching :func:`main`.
"""

import argparse
import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import pathlib
import re
import sys
import warnings

import jax
import numpy as np

import dftjax
from dftjax.exit_codes import EXIT_BAD_INPUT, EXIT_NOT_CONVERGED, EXIT_OK, bad_input as _bad_input
from dftjax.benchmarks.command import add_bench_parser
from dftjax.compile_clock import CompileClock, compile_notice
from dftjax.scf.driver import SCFNotConvergedWarning
from dftjax.train.cli import add_train_parser
from dftjax.correlated import command as correlated_command

# Debye per atomic unit of dipole (e·Bohr), the value of pyscf.data.nist.AU2DEBYE
# (PySCF 2.14), so that our Debye numbers print the same digits as PySCF's.
AU2DEBYE = 2.5417464157449032

# Exceptions that mean "the input is wrong" rather than "dftjax is broken": a missing
# or unreadable file (OSError), a malformed geometry or impossible charge/multiplicity
# (ValueError), an unknown basis set or element (KeyError, as basis-set-exchange raises),
# a calculation estimated too big for the memory available (MemoryError, raised before
# anything large is allocated).
_INPUT_ERRORS = (OSError, ValueError, KeyError, MemoryError)


def _version() -> str:
    try:
        return importlib.metadata.version("dftjax")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """argparse, reading a value such as ``-1e-9`` as a (negative) number, not an option.

    Python 3.11's argparse takes ``-1e-9`` for an unknown option ("expected one
    argument"), so the range check never said what was wrong; 3.13 reads any ``-``
    followed by a digit as a number, as here. No dftjax option starts with a digit.
    Subparsers are built with the parent's class, so they read numbers the same way.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")


def _choose_platform_quietly() -> None:
    """Run on the CPU when no platform is set and no accelerator plugin is installed.

    Left to itself JAX probes for a TPU and a GPU first (and, with --verbose logging,
    says how that failed); with a GPU or TPU plugin installed, or JAX_PLATFORMS set,
    JAX chooses as usual.
    """
    if os.environ.get("JAX_PLATFORMS") or jax.config.jax_platforms:
        return
    plugins = importlib.metadata.entry_points(group="jax_plugins")
    if plugins or any(importlib.util.find_spec(name) is not None
                      for name in ("jax_plugins", "libtpu", "jax_cuda12_plugin", "jaxlib.cuda")):
        return
    jax.config.update("jax_platforms", "cpu")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _add_run_parser(subparsers) -> None:
    run = subparsers.add_parser(
        "run",
        help="single-point SCF energy",
        description="Run one SCF calculation on a molecule read from an XYZ file "
        "(coordinates in Angstrom).",
    )
    _add_scf_arguments(run)
    run.add_argument(
        "--gradient",
        action="store_true",
        help="also compute the analytic nuclear gradient dE/dR (Ha/Bohr)",
    )
    run.add_argument(
        "--stability",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="check the converged SCF for instabilities and follow them to a stable state "
             "(default: on for open shells / unrestricted runs)",
    )
    correlated_command.add_arguments(run)
    run.set_defaults(handler=_cmd_run)


def _add_scf_arguments(run) -> None:
    """The geometry, method and SCF options shared by ``run`` and ``opt``."""
    run.add_argument("geometry", metavar="GEOMETRY.xyz", help="XYZ file, Angstrom")
    run.add_argument("--basis", required=True, help="basis set name, e.g. sto-3g, def2-svp")
    run.add_argument("--xc", default="hf", help="exchange-correlation method (default: hf)")
    run.add_argument("--charge", type=int, default=0, help="total charge (default: 0)")
    run.add_argument(
        "--multiplicity",
        type=_positive_int,
        default=None,
        help="spin multiplicity 2S+1 (default: 1; an odd electron count needs it)",
    )
    run.add_argument(
        "--unrestricted",
        action="store_true",
        help="force an unrestricted (UHF/UKS) calculation even for closed shells",
    )
    run.add_argument(
        "--conv-tol",
        type=_positive_float,
        default=None,
        help="energy convergence threshold in Hartree (default: the SCF's own)",
    )
    run.add_argument(
        "--max-cycle",
        type=_positive_int,
        default=None,
        help="maximum SCF iterations of each attempt (default: 100); an attempt that does "
        "not converge is retried from the guess with damping and/or a level shift, up to 3 "
        "more attempts of as many iterations; the summary reports attempts and iterations",
    )
    run.add_argument(
        "--cartesian",
        action="store_true",
        help="use Cartesian instead of spherical d, f, ... functions",
    )
    run.add_argument(
        "--grid-level",
        type=int,
        choices=range(10),
        default=None,
        metavar="L",
        help="integration grid level 0-9 for DFT, as PySCF's (default: 3)",
    )
    run.add_argument(
        "--density-fit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="density-fitted (RI-JK) electron repulsion; --no-density-fit forces exact "
             "ERIs (default: chosen by size, exact for small molecules)",
    )
    run.add_argument(
        "--auxbasis",
        default=None,
        metavar="NAME",
        help="auxiliary fitting basis (implies --density-fit; default: PySCF's choice, "
             "e.g. def2-universal-jkfit for def2-* bases)",
    )
    run.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    run.add_argument("--verbose", action="store_true", help="SCF progress on stderr")


def _add_opt_parser(subparsers) -> None:
    opt = subparsers.add_parser(
        "opt",
        help="geometry optimisation (energy minimum)",
        description="Minimise the SCF energy over the nuclear coordinates, starting from "
        "an XYZ file (Angstrom), with analytic gradients and BFGS. Progress goes to "
        "stderr, one line per step.",
    )
    _add_scf_arguments(opt)
    opt.add_argument(
        "--gtol",
        type=_positive_float,
        default=None,
        help="convergence threshold on the largest gradient component in Ha/Bohr; the "
        "rms gradient, energy change and displacement thresholds scale with it "
        "(default: 3e-5)",
    )
    opt.add_argument(
        "--max-steps",
        type=_positive_int,
        default=None,
        help="maximum number of optimisation steps (default: 100)",
    )
    opt.add_argument(
        "--method",
        choices=("BFGS", "L-BFGS-B"),
        default="BFGS",
        help="scipy.optimize.minimize method (default: BFGS)",
    )
    opt.add_argument("--output", metavar="OUT.xyz", help="write the final geometry here (XYZ)")
    opt.add_argument(
        "--trajectory", metavar="TRAJ.xyz", help="write every step's geometry here (XYZ frames)"
    )
    opt.set_defaults(handler=_cmd_opt)


def _add_warmup_parser(subparsers) -> None:
    warm = subparsers.add_parser(
        "warmup",
        help="compile ahead of time into the persistent cache",
        description="Run the SCF on a few built-in molecules (water, ammonia, "
        "methanol, ethanol, benzene) or on the geometries given, so that the compiled programs for "
        "this basis and functional are in the persistent compilation cache "
        "($DFTJAX_CACHE_DIR, default ~/.cache/dftjax/jax) and later runs of molecules of "
        "similar size start warm. One line per molecule on stderr.",
    )
    warm.add_argument("geometry", metavar="GEOMETRY.xyz", nargs="*",
                      help="XYZ files (Angstrom) to run instead of the built-in set")
    warm.add_argument("--basis", required=True, help="basis set name, e.g. def2-svp")
    warm.add_argument("--xc", default="hf", help="exchange-correlation method (default: hf)")
    warm.add_argument("--max-nao", type=_positive_int, default=None, metavar="N",
                      help="skip molecules with more than N basis functions")
    warm.add_argument("--gradient", action="store_true", help="also compile the gradient")
    warm.set_defaults(handler=_cmd_warmup)


def _cmd_warmup(args) -> int:
    from dftjax.warmup import warmup

    def report(row):
        print(f"warmup: {row['name']} ({row['nao']} functions): {row['seconds']:.1f} s, "
              f"{row['compilations']} programs ({row['cache_hits']} from the cache)",
              file=sys.stderr, flush=True)

    try:
        molecules = None
        if args.geometry:
            molecules = {path: dftjax.Molecule.from_xyz(pathlib.Path(path)) for path in args.geometry}
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore", SCFNotConvergedWarning)  # only compiling
            rows = warmup(args.basis, args.xc, molecules, args.max_nao, args.gradient,
                          report=report)
    except _INPUT_ERRORS as exc:
        return _bad_input(exc, args)
    directory = jax.config.jax_compilation_cache_dir
    print(f"warmup: {len(rows)} molecules; compiled code cached in {directory or '(cache off)'}",
          file=sys.stderr)
    return EXIT_OK


def _add_cache_parser(subparsers) -> None:
    cache = subparsers.add_parser(
        "cache", help="what the compilation cache holds; clear it",
        description="Show what the persistent compilation cache holds (dftjax's stored "
        "programs of this version and of earlier ones, JAX's other entries, basis sets) "
        "and clear the stale part (--clear-stale: programs no later run can load) or all "
        "of it (--clear). Only files dftjax and JAX put there are touched.")
    cache.add_argument("--dir", metavar="DIR",
                       help="the cache directory (default: this process's, $DFTJAX_CACHE_DIR "
                       "or ~/.cache/dftjax/jax)")
    action = cache.add_mutually_exclusive_group()
    action.add_argument("--clear-stale", action="store_true",
                        help="remove the programs of other dftjax, JAX or device generations")
    action.add_argument("--clear", action="store_true", help="remove everything cached")
    cache.set_defaults(handler=_cmd_cache)


def _cmd_cache(args) -> int:
    from dftjax.cache_files import clear, survey
    from dftjax.memory import format_bytes
    from dftjax.stored_programs import generation

    directory = args.dir or jax.config.jax_compilation_cache_dir
    if not directory:
        print("dftjax cache: the persistent cache is off (DFTJAX_CACHE_DIR=off)")
        return EXIT_OK
    directory = pathlib.Path(directory)
    if args.dir and not directory.is_dir():
        return _bad_input(FileNotFoundError(f"cache directory {str(directory)!r} does not exist"), args)
    current = generation()
    if args.clear or args.clear_stale:
        removed = clear(directory, current, stale_only=args.clear_stale)
        print(f"dftjax cache: removed {removed.files} files, {format_bytes(removed.bytes)}, "
              f"from {directory}")
        return EXIT_OK
    parts = survey(directory, current)
    names = {"current": f"programs of this dftjax (generation {current})",
             "stale": "programs of other generations (stale: --clear-stale)",
             "other": "JAX's other compiled programs",
             "basis": "basis sets"}
    print(f"dftjax cache: {directory}")
    for kind, part in parts.items():
        print(f"  {names[kind]}: {part.files} files, {format_bytes(part.bytes)}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The ``dftjax`` argument parser, one subparser per subcommand."""
    parser = _Parser(
        prog="dftjax",
        description="Differentiable Gaussian-basis Hartree-Fock and Kohn-Sham DFT in JAX.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run_parser(subparsers)
    _add_opt_parser(subparsers)
    add_bench_parser(subparsers)
    _add_warmup_parser(subparsers)
    _add_cache_parser(subparsers)
    add_train_parser(subparsers)
    return parser


def _as_list(array):
    return np.asarray(array, dtype=float).tolist()


def result_to_dict(result, mol, args) -> dict:
    """The JSON record of one ``run``: plain Python floats, ints, bools and lists."""
    dipole = np.asarray(result.dipole, dtype=float)
    return {
        "energy": float(result.energy),
        "converged": bool(result.converged),
        "iterations": int(result.iterations),
        "attempts": int(getattr(result, "attempts", 1)),
        "converged_settings": _settings_text(getattr(result, "converged_settings", None)),
        "mo_energy": _as_list(result.mo_energy),
        "mo_occ": _as_list(result.mo_occ),
        "dipole": dipole.tolist(),
        "dipole_debye": float(np.linalg.norm(dipole)) * AU2DEBYE,
        # A charged molecule's dipole changes with the origin (here the input frame's).
        "dipole_origin_dependent": int(mol.charge) != 0,
        # <S^2> of the determinant; 0 for restricted, exact S(S+1) = (m^2 - 1) / 4.
        "s2": float(getattr(result, "s2", 0.0)),
        "s2_exact": (int(mol.multiplicity) ** 2 - 1) / 4.0,
        "timings": {name: float(seconds) for name, seconds in result.timings.items()},
        "nao": int(result.nao),
        "basis": args.basis,
        "xc": args.xc,
        "charge": int(mol.charge),
        "multiplicity": int(mol.multiplicity),
        "restricted": bool(result.restricted),
        "natom": int(mol.natom),
        "nuclear_repulsion": float(result.e_nuc),
        "xc_energy": float(getattr(result, "xc_energy", 0.0) or 0.0),
        "grid_points": int(_grid_points(result)),
        "eri_method": getattr(result, "eri_method", "exact"),
        "auxbasis": getattr(result, "auxbasis", None),
        "naux": int(getattr(result, "naux", 0) or 0),
        "memory_estimate_bytes": int(getattr(result, "memory_estimate", 0) or 0),
        "compilations": int(getattr(result, "compilations", 0) or 0),
        "cache_hits": int(getattr(result, "cache_hits", 0) or 0),
    }


def _stability_record(report) -> dict:
    """The SCF's StabilityReport as JSON: checked, stable, rounds, lowest_eigenvalue
    (Ha/rad^2, None when not checked)."""
    record = report.as_dict()
    value = record["lowest_eigenvalue"]
    record["lowest_eigenvalue"] = value if np.isfinite(value) else None
    return record


def _grid_points(result) -> int:
    """Number of XC grid points, 0 for Hartree-Fock."""
    grid = getattr(result, "grid", None)
    return 0 if grid is None else int(np.asarray(grid.weights).shape[0])


def _summary(record: dict) -> str:
    method = ("R" if record["restricted"] else "U") + record["xc"].upper()
    status = "converged" if record["converged"] else "NOT converged"
    dipole = "  ".join(f"{component:.6f}" for component in record["dipole"])
    timings = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in record["timings"].items())
    lines = [
        f"{method}/{record['basis']}  natom {record['natom']}  nao {record['nao']}  "
        f"charge {record['charge']}  multiplicity {record['multiplicity']}",
        f"SCF {status} in {_attempts_text(record)}",
        f"total energy        {record['energy']:.10f} Ha",
        f"nuclear repulsion   {record['nuclear_repulsion']:.10f} Ha",
        f"XC energy           {record['xc_energy']:.10f} Ha   ({record['grid_points']} grid points)",
        f"electron repulsion  {_eri_line(record)}",
    ]
    if not record["restricted"]:
        lines.append(f"<S^2>               {record['s2']:.6f}   (exact {record['s2_exact']:.4f} "
                     f"for multiplicity {record['multiplicity']})")
    lines.append(f"dipole (a.u.)       {dipole}   |mu| = {record['dipole_debye']:.4f} D")
    if record["dipole_origin_dependent"]:
        lines.append("                    (charged molecule: the dipole depends on the origin, "
                     "here (0, 0, 0) of the input coordinates)")
    lines.append(f"timings             {timings}")
    return "\n".join(lines)


def _attempts_text(record: dict) -> str:
    """'12 iterations', or with retries '20 iterations (3 attempts, ...; converged with
    damping 0.5, level shift 0 Ha)'."""
    text = f"{record['iterations']} iterations"
    if record["attempts"] > 1:
        text += f" ({record['attempts']} attempts, each of at most --max-cycle iterations"
        if record.get("converged_settings"):
            text += f"; converged with {record['converged_settings']}"
        text += ")"
    return text


def _settings_text(settings):
    """The SCF rung that converged, in words: 'damping 0.5, level shift 0 Ha',
    'second-order' (the driver's trust-region Newton rung), or None (not converged)."""
    if settings is None or isinstance(settings, str):
        return settings
    damping, level_shift = settings
    return f"damping {damping:g}, level shift {level_shift:g} Ha"


def _eri_line(record: dict) -> str:
    if record.get("eri_method") == "density-fit":
        text = f"density fitted, {record['auxbasis']} ({record['naux']} functions)"
    else:
        text = "exact"
    return f"{text}, estimated peak memory {record['memory_estimate_bytes'] / 1024**3:.2f} GiB"


def _scf_options(args) -> dict:
    """Keyword arguments of dftjax.scf from the shared options (_add_scf_arguments).

    Options are left out when not given, so that Molecule's and scf's own defaults are
    the only defaults.
    """
    scf_options = {
        "basis": args.basis,
        "xc": args.xc,
        "unrestricted": True if args.unrestricted else None,
        "cartesian": args.cartesian,
        "verbose": args.verbose,
    }
    if args.conv_tol is not None:
        scf_options["conv_tol"] = args.conv_tol
    if args.max_cycle is not None:
        scf_options["max_cycle"] = args.max_cycle
    if args.grid_level is not None:
        scf_options["grid_level"] = args.grid_level
    if getattr(args, "density_fit", None) is not None:
        scf_options["density_fit"] = args.density_fit
    if getattr(args, "auxbasis", None):
        scf_options["auxbasis"] = args.auxbasis
    return scf_options


def _molecule_options(args) -> dict:
    """Keyword arguments of Molecule.from_xyz: the charge, and the multiplicity if given."""
    molecule_options = {"charge": args.charge}
    if args.multiplicity is not None:
        molecule_options["multiplicity"] = args.multiplicity
    return molecule_options


def _cmd_run(args) -> int:
    scf_options = _scf_options(args)
    molecule_options = _molecule_options(args)

    try:
        # stdout carries only the result; any progress printed on the way goes to stderr.
        # Non-convergence is reported below, once, with the exit code: not also as a warning.
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings(), compile_notice():
            warnings.simplefilter("ignore", SCFNotConvergedWarning)
            # A Path, so that Molecule.from_xyz reads it as a file, never as XYZ text.
            correlated_command.check_options(args)
            mol = dftjax.Molecule.from_xyz(pathlib.Path(args.geometry), **molecule_options)
            if args.method:
                result = correlated_command.calculate(mol, args)
            else:
                if args.stability is not None:
                    scf_options["stability"] = args.stability
                result = dftjax.scf(mol, **scf_options)
    except _INPUT_ERRORS as exc:
        return _bad_input(exc, args)
    if args.method:
        return correlated_command.report(result, mol, args)

    record = result_to_dict(result, mol, args)
    record["stability"] = _stability_record(result.stability)
    if args.gradient:
        # The analytic gradient assumes a converged (stationary) SCF; an unconverged
        # one gets none rather than a misleading number.
        gradient = None
        if record["converged"]:
            try:
                with contextlib.redirect_stdout(sys.stderr), compile_notice():
                    gradient = _as_list(_timed_gradient(result, args.verbose))
            except _INPUT_ERRORS as exc:  # a gradient not implemented for this model
                return _bad_input(exc, args)
        record["gradient"] = gradient
    if args.json:
        print(json.dumps(record))
    else:
        print(_summary(record))
        if record["stability"]["checked"]:
            stability = record["stability"]
            value = stability["lowest_eigenvalue"]
            print(f"stability           {'stable' if stability['stable'] else 'NOT stable'}, "
                  f"lowest orbital Hessian eigenvalue "
                  f"{'none (no rotations)' if value is None else f'{value:.3e}'}, "
                  f"unstable directions followed: {stability['rounds']}")
        if record.get("gradient") is not None:
            print(_gradient_table(mol.symbols, record["gradient"]))
    sys.stdout.flush()

    if not record["converged"]:
        print(
            f"error: SCF did not converge in {_attempts_text(record)} "
            f"(last energy {record['energy']:.10f} Ha)",
            file=sys.stderr,
        )
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def _timed_gradient(result, verbose):
    """dftjax.gradient(result), with a line on stderr before and after when verbose."""
    if verbose:
        print("gradient: analytic nuclear gradient (SCF Lagrangian) ...", file=sys.stderr,
              flush=True)
    with CompileClock() as clock:
        gradient = np.asarray(dftjax.gradient(result))
    if verbose:
        print(f"gradient: done in {clock.seconds:.2f} s ({clock.compile_seconds:.2f} s "
              f"compiling, {clock.compilations} compilations)", file=sys.stderr, flush=True)
    return gradient


def _gradient_table(symbols, gradient) -> str:
    """The nuclear gradient as a table, one row per atom, Ha/Bohr."""
    lines = ["gradient dE/dR (Ha/Bohr)",
             f"{'atom':>8s}  {'x':>15s}  {'y':>15s}  {'z':>15s}"]
    for index, (symbol, row) in enumerate(zip(symbols, gradient), start=1):
        lines.append(f"{index:4d} {symbol:<3s}" + "".join(f"  {value:15.10f}" for value in row))
    return "\n".join(lines)


def optimization_to_dict(result, mol, args) -> dict:
    """The JSON record of one ``opt``: plain Python floats, ints, bools and lists."""
    gradient = np.asarray(result.gradient, dtype=float)
    calculation = result.calculation
    return {
        "energy": float(result.energy),
        "converged": bool(result.converged),
        "steps": int(result.steps),
        "evaluations": int(result.evaluations),
        "scf_converged": bool(calculation.converged),
        "symbols": list(result.molecule.symbols),
        "coordinates": _as_list(result.coordinates_angstrom),
        "gradient": gradient.tolist(),
        "gradient_max": float(np.max(np.abs(gradient))),
        "gradient_rms": float(np.sqrt(np.mean(gradient**2))),
        "criteria": {name: float(value) for name, value in result.criteria.items()},
        "method": args.method,
        "trajectory": [
            {"step": int(step.step), "energy": float(step.energy), "gradient_max": float(step.gmax)}
            for step in result.trajectory
        ],
        "basis": args.basis,
        "xc": args.xc,
        "charge": int(mol.charge),
        "multiplicity": int(mol.multiplicity),
        "restricted": bool(calculation.restricted),
        "natom": int(mol.natom),
        "output": args.output,
    }


def _optimization_summary(record: dict, xyz: str) -> str:
    method = ("R" if record["restricted"] else "U") + record["xc"].upper()
    status = "converged" if record["converged"] else "NOT converged"
    return "\n".join(
        [
            f"{method}/{record['basis']} geometry optimisation ({record['method']})  "
            f"natom {record['natom']}  charge {record['charge']}  "
            f"multiplicity {record['multiplicity']}",
            f"{status} after {record['steps']} steps "
            f"({record['evaluations']} energy and gradient evaluations)",
            f"final energy        {record['energy']:.10f} Ha",
            f"max |gradient|      {record['gradient_max']:.2e} Ha/Bohr",
            "final geometry (XYZ, Angstrom):",
            xyz.rstrip("\n"),
            _gradient_table(record["symbols"], record["gradient"]),
        ]
    )


_OPT_NOT_CONVERGED = "geometry optimisation did not converge"


@contextlib.contextmanager
def _optimizer_not_converged_unsaid():
    """Within the block, dftjax.optimize's own non-convergence notice (its RuntimeWarning and
    logged warning) is dropped: ``opt`` reports it once itself, as its error line."""
    def drop(record):
        return not record.getMessage().startswith(_OPT_NOT_CONVERGED)

    log = logging.getLogger("dftjax.optimize")
    log.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_OPT_NOT_CONVERGED, category=RuntimeWarning)
            yield
    finally:
        log.removeFilter(drop)


def _cmd_opt(args) -> int:
    options = _scf_options(args)
    options["scf_verbose"] = options.pop("verbose")
    options["method"] = args.method
    if args.gtol is not None:
        options["gtol"] = args.gtol
    if args.max_steps is not None:
        options["max_steps"] = args.max_steps

    try:
        with contextlib.redirect_stdout(sys.stderr), _optimizer_not_converged_unsaid():
            mol = dftjax.Molecule.from_xyz(pathlib.Path(args.geometry), **_molecule_options(args))
            result = dftjax.optimize(mol, **options)
    except _INPUT_ERRORS as exc:
        return _bad_input(exc, args)

    record = optimization_to_dict(result, mol, args)
    xyz = result.to_xyz()
    try:
        if args.output:
            pathlib.Path(args.output).write_text(xyz)
        if args.trajectory:
            pathlib.Path(args.trajectory).write_text(result.trajectory_xyz())
    except OSError as exc:
        return _bad_input(exc, args)
    if args.json:
        print(json.dumps(record))
    else:
        print(_optimization_summary(record, xyz))
    sys.stdout.flush()

    if not record["converged"]:
        reason = "" if record["scf_converged"] else "; the final SCF did not converge"
        print(
            f"error: {_OPT_NOT_CONVERGED} in {record['steps']} steps "
            f"(max |gradient| {record['gradient_max']:.2e} Ha/Bohr, energy "
            f"{record['energy']:.10f} Ha{reason})",
            file=sys.stderr,
        )
        return EXIT_NOT_CONVERGED
    return EXIT_OK


def main(argv=None) -> int:
    """Entry point of the ``dftjax`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_request:
        # argparse exits for --help, --version (0) and bad arguments (2); return the code
        # so that main() can be called from Python and tests without catching SystemExit.
        code = exit_request.code
        if code is None:
            return EXIT_OK
        return code if isinstance(code, int) else EXIT_BAD_INPUT
    # Only dftjax's own messages get more verbose: JAX logs at INFO how it probes for
    # backends (a missing TPU library, ...), which says nothing about the calculation.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    _choose_platform_quietly()
    with _messages_on_stderr(getattr(args, "verbose", False)):
        return args.handler(args)


@contextlib.contextmanager
def _messages_on_stderr(verbose):
    """Within the block, dftjax's logged messages (:mod:`dftjax.log`) go to stderr as bare
    lines, as the command's own output: progress with --verbose, notices always."""
    log = logging.getLogger("dftjax")
    saved = log.level, log.propagate
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.level, log.propagate = saved


if __name__ == "__main__":
    sys.exit(main())
