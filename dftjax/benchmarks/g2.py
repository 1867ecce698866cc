"""The G2/97 atomization-energy benchmark: 148 molecules and their 14 atoms.

Every species (molecule or atom) gets one SCF with the stability check on for open
shells (:mod:`dftjax.scf.stability`), recorded as one JSON line (``run_g2`` appends each
to the output file as it finishes, so an interrupted run resumes where it stopped).
Each molecule's atomization energy De = sum E(atoms) - E(molecule) is compared with
``exp_De_plus_atomic_SO_kcal_mol`` (vibrationless experimental De plus the atoms'
spin-orbit lowering, which nonrelativistic atoms lack); see data/g2/README.md.

Energies in records are Hartree; atomization energies and errors kcal/mol
(1 Ha = 627.509474 kcal/mol), error = computed - experimental De.
"""

import json
import math
import pathlib
import sys
import time
from functools import lru_cache

import numpy as np

from dftjax.api import scf
from dftjax.molecule import Molecule
from dftjax.xc import Functional, get_functional

KCAL_PER_HARTREE = 627.509474
DATA = pathlib.Path(__file__).parent / "data" / "g2" / "molecules.json"
SUBSETS = ("G2-1", "G2-2")

#: Settings a record carries; resuming checks the file was made with the same ones.
SETTING_KEYS = ("xc", "basis", "grid_level", "density_fit")


@lru_cache(maxsize=None)
def load_g2() -> dict:
    """The packaged data set: {"molecules": [...], "atoms": [...], provenance fields}."""
    return json.loads(DATA.read_text())


def select(subset=None, molecules=None):
    """(molecule entries, atom entries they need), in the data set's order.

    subset: "G2-1" or "G2-2" (case-insensitive), None for both; molecules: names to keep
    (ValueError naming any that are not in the set).
    """
    data = load_g2()
    chosen = data["molecules"]
    if subset is not None:
        wanted = subset.upper()
        if wanted not in SUBSETS:
            raise ValueError(f"unknown G2 subset '{subset}': use g2-1 or g2-2")
        chosen = [m for m in chosen if m["subset"] == wanted]
    if molecules:
        names = {m["name"] for m in chosen}
        unknown = [name for name in molecules if name not in names]
        if unknown:
            raise ValueError(f"not in the G2 set{'' if subset is None else ' ' + subset}: "
                             f"{', '.join(unknown)}")
        chosen = [m for m in chosen if m["name"] in set(molecules)]
    elements = {symbol for m in chosen for symbol in m["symbols"]}
    return chosen, [a for a in data["atoms"] if a["name"] in elements]


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)


def run_species(entry: dict, settings: dict, stability=None) -> dict:
    """One species' SCF as a record: energy (Ha), converged, iterations, s2, basis size,
    the ERI path taken (``eri_method``: "exact" or "density-fit", chosen by size unless
    ``density_fit`` says; ``auxbasis``), stability, timings; an exception becomes
    ``error`` (the species then counts as failed)."""
    record = {"species": entry["name"], "kind": "atom" if "subset" not in entry else "molecule",
              **settings}
    start = time.perf_counter()
    try:
        molecule = Molecule(entry["symbols"], np.array(entry["positions_angstrom"]),
                            charge=entry["charge"], multiplicity=entry["multiplicity"])
        result = scf(molecule, basis=settings["basis"], xc=settings["functional"],
                     grid_level=settings["grid_level"], density_fit=settings["density_fit"],
                     stability=stability)
    except Exception as exc:  # a failed species is recorded, never dropped
        record.update(error=f"{type(exc).__name__}: {exc}", converged=False,
                      time_s=time.perf_counter() - start)
        return record
    report = result.stability
    record.update(
        energy=float(result.energy), converged=bool(result.converged),
        iterations=int(result.iterations), converged_settings=result.converged_settings,
        s2=float(result.s2),
        unrestricted=not result.restricted, nao=int(result.nao),
        eri_method=result.eri_method, auxbasis=result.auxbasis,
        stability_checked=report.checked, stability_stable=report.stable,
        stability_rounds=report.rounds, stability_eigenvalue=_finite(report.lowest_eigenvalue),
        time_s=time.perf_counter() - start, compile_s=float(result.timings["compile"]),
        compilations=int(result.compilations), error=None)
    return record


def read_records(path) -> dict:
    """Records of a JSONL file by species name (the last line of a species wins)."""
    records = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["species"]] = record
    return records


def run_g2(xc="b3lyp", basis="def2-tzvp", subset=None, molecules=None, grid_level=3,
           density_fit=None, output=None, resume=False, stability=None, progress=sys.stderr):
    """Run the species of a G2 selection; returns (molecule entries, records by species).

    xc: a functional name or :class:`~dftjax.xc.Functional`; output: a JSONL file each
    record is appended to and flushed as its species finishes; resume: keep the records
    already in ``output`` (made with the same settings) and run only the missing species.
    stability: as :func:`dftjax.scf` (None: checked for open shells). Progress lines go
    to ``progress`` (None for silence).
    """
    functional = xc if isinstance(xc, Functional) else get_functional(str(xc))
    chosen, atoms = select(subset, molecules)
    settings = {"xc": functional.name, "basis": basis, "grid_level": grid_level,
                "density_fit": density_fit}
    records = {}
    if resume and output is not None and pathlib.Path(output).exists():
        records = read_records(output)
        for record in records.values():
            found = {key: record.get(key) for key in SETTING_KEYS}
            if found != settings:
                raise ValueError(f"cannot resume {output}: it was run with {found}, not {settings}")
    elif output is not None:
        pathlib.Path(output).write_text("")
    species = atoms + chosen
    for number, entry in enumerate(species, 1):
        if entry["name"] in records:
            continue
        record = run_species(entry, {**settings, "functional": functional}, stability)
        record.pop("functional")
        records[entry["name"]] = record
        if output is not None:
            with open(output, "a") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()
        if progress is not None:
            state = (f"FAILED {record['error']}" if record["error"] else
                     f"E={record['energy']:.8f} {'converged' if record['converged'] else 'NOT CONVERGED'}"
                     f" it={record['iterations']} stab_rounds={record['stability_rounds']}")
            print(f"[{number}/{len(species)}] {entry['name']}: {state} "
                  f"({record['time_s']:.1f} s)", file=progress, flush=True)
    return chosen, records


def _ok(record):
    return record is not None and record.get("error") is None and record["converged"]


def atomization_energies(chosen, records) -> list:
    """Per molecule: name, subset, De (computed, kcal/mol; None if a species failed),
    De_exp, error (computed - experimental), failed (species that failed, [] if none)."""
    rows = []
    for molecule in chosen:
        needed = [molecule["name"]] + sorted(set(molecule["symbols"]))
        failed = [name for name in needed if not _ok(records.get(name))]
        exp = molecule["exp_De_plus_atomic_SO_kcal_mol"]
        computed = None
        if not failed:
            atoms = sum(records[symbol]["energy"] for symbol in molecule["symbols"])
            computed = (atoms - records[molecule["name"]]["energy"]) * KCAL_PER_HARTREE
        rows.append({"name": molecule["name"], "subset": molecule["subset"], "De": computed,
                     "De_exp": exp, "error": None if computed is None else computed - exp,
                     "failed": failed})
    return rows


def _statistics(errors):
    errors = np.asarray(errors, dtype=float)
    if errors.size == 0:
        return {"count": 0, "MAE": None, "MSE": None, "max_abs": None}
    return {"count": int(errors.size), "MAE": float(np.abs(errors).mean()),
            "MSE": float(errors.mean()), "max_abs": float(np.abs(errors).max())}


def summarize(rows, records, largest=5) -> dict:
    """MAE/MSE (kcal/mol) over the molecules whose species all converged, overall and per
    subset; the ``largest`` worst errors; every failed molecule with its failed species;
    totals of time, compile time and compilations; species not left stable."""
    good = [row for row in rows if row["error"] is not None]
    summary = {"molecules": len(rows), **_statistics([row["error"] for row in good])}
    summary["in_mae"] = summary.pop("count")
    summary["subsets"] = {subset: _statistics([r["error"] for r in good if r["subset"] == subset])
                          for subset in SUBSETS if any(r["subset"] == subset for r in rows)}
    summary["largest_errors"] = [
        {"name": r["name"], "error": r["error"]}
        for r in sorted(good, key=lambda r: -abs(r["error"]))[:largest]]
    summary["failures"] = [{"name": r["name"], "failed_species": r["failed"]}
                           for r in rows if r["failed"]]
    summary["failed_species"] = {
        name: record["error"] or "not converged"
        for name, record in records.items() if not _ok(record)}
    summary["unstable_species"] = [
        name for name, record in records.items()
        if record.get("stability_checked") and not record.get("stability_stable")]
    summary["species"] = len(records)
    summary["time_s"] = sum(r.get("time_s", 0.0) for r in records.values())
    summary["compile_s"] = sum(r.get("compile_s", 0.0) for r in records.values())
    summary["compilations"] = sum(r.get("compilations", 0) for r in records.values())
    return summary


def table(rows, summary) -> str:
    """The per-molecule errors and the summary as text."""
    number = lambda x: "      -" if x is None else f"{x:7.2f}"
    lines = [f"{'molecule':<12} {'subset':<6} {'De':>7} {'De_exp':>7} {'error':>7}"]
    for row in rows:
        note = f"  failed: {', '.join(row['failed'])}" if row["failed"] else ""
        lines.append(f"{row['name']:<12} {row['subset']:<6} {number(row['De'])} "
                     f"{number(row['De_exp'])} {number(row['error'])}{note}")
    mae = lambda s: "-" if s["MAE"] is None else f"{s['MAE']:.2f}"
    mse = lambda s: "-" if s["MSE"] is None else f"{s['MSE']:+.2f}"
    lines.append(f"MAE {mae(summary)} kcal/mol, MSE {mse(summary)} kcal/mol over "
                 f"{summary['in_mae']} of {summary['molecules']} molecules")
    for subset, stats in summary["subsets"].items():
        lines.append(f"  {subset}: MAE {mae(stats)}, MSE {mse(stats)} over {stats['count']}")
    for failure in summary["failures"]:
        lines.append(f"  not in the MAE: {failure['name']} (failed: "
                     f"{', '.join(failure['failed_species'])})")
    if summary["unstable_species"]:
        lines.append(f"  left unstable: {', '.join(summary['unstable_species'])}")
    lines.append(f"{summary['species']} species in {summary['time_s']:.1f} s, of which compile "
                 f"{summary['compile_s']:.1f} s ({summary['compilations']} compilations)")
    return "\n".join(lines)


def plot_errors(rows, path):
    """A bar chart of the signed errors (kcal/mol) per molecule, saved to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    good = [row for row in rows if row["error"] is not None]
    figure, axes = plt.subplots(figsize=(max(6.0, 0.12 * len(good)), 4.0))
    axes.bar(range(len(good)), [row["error"] for row in good])
    axes.set_xticks(range(len(good)), [row["name"] for row in good], rotation=90, fontsize=6)
    axes.axhline(0.0, color="black", linewidth=0.5)
    axes.set_ylabel("De computed - experiment (kcal/mol)")
    figure.tight_layout()
    figure.savefig(path, dpi=150)
    plt.close(figure)
