"""G2 atomization energies with PySCF, next to dftjax's ``dftjax bench g2`` run.

PySCF runs the same species as the dftjax run (the packaged G2 set,
dftjax/benchmarks/data/g2/molecules.json), with the same functional, basis (basis-set-
exchange data given through ``gto.basis.parse``, spherical functions), grid level
(``grids.level``; ``small_rho_cutoff = 0``, as dftjax keeps every grid point), conv_tol
1e-9 (dftjax's default), RHF/RKS for singlets and UHF/UKS otherwise, and, for the open
shells, PySCF's internal stability check followed until stable (at most 10 rounds), as
dftjax's bench does. ``--density-fit`` uses PySCF's ``density_fit()`` with its default
auxiliary basis. Each species is timed from the Mole to the stable energy.

Prints, for both programs: MAE and MSE (kcal/mol) over the molecules both finished,
failures, and total wall time; then the molecules whose atomization energies differ by
more than 0.01 kcal/mol between the programs.

Usage:
    dftjax bench g2 --xc b3lyp --basis def2-tzvp --output dftjax.jsonl
    python benchmarks/pyscf_g2.py dftjax.jsonl [--output pyscf.jsonl] [--resume]

The functional, basis, grid level, density fitting and species come from the dftjax
file. Needs PySCF and basis-set-exchange (the test extra).
"""

import argparse
import json
import pathlib
import sys
import time

import basis_set_exchange
import numpy as np
from pyscf import dft, gto, scf

from dftjax.benchmarks.g2 import (KCAL_PER_HARTREE, atomization_energies, load_g2,
                                  read_records, summarize)

CONV_TOL = 1e-9
MAX_STABILITY_ROUNDS = 10


def pyscf_species(entry, xc, basis_name, grid_level, density_fit):
    """PySCF's record of one species: energy (Ha), converged, stability rounds, time_s."""
    start = time.perf_counter()
    basis = {s: gto.basis.parse(basis_set_exchange.get_basis(basis_name, elements=[s], fmt="nwchem"))
             for s in set(entry["symbols"])}
    mol = gto.M(atom=list(zip(entry["symbols"], entry["positions_angstrom"])), basis=basis,
                charge=entry["charge"], spin=entry["multiplicity"] - 1, cart=False, verbose=0)
    restricted = entry["multiplicity"] == 1
    if xc == "hf":
        mf = scf.RHF(mol) if restricted else scf.UHF(mol)
    else:
        mf = dft.RKS(mol) if restricted else dft.UKS(mol)
        mf.xc, mf.grids.level, mf.small_rho_cutoff = xc, grid_level, 0
    if density_fit:
        mf = mf.density_fit()
    mf.conv_tol = CONV_TOL
    mf.kernel()
    rounds = 0
    if not restricted and mol.nao > mol.nelec[0]:
        while rounds < MAX_STABILITY_ROUNDS:
            mo, _, stable, _ = mf.stability(return_status=True)
            if stable:
                break
            mf.kernel(mf.make_rdm1(mo, mf.mo_occ))
            rounds += 1
    return {"species": entry["name"], "energy": float(mf.e_tot), "converged": bool(mf.converged),
            "stability_rounds": rounds, "time_s": time.perf_counter() - start, "error": None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dftjax_jsonl", help="the JSONL file of a 'dftjax bench g2' run")
    parser.add_argument("--output", help="JSONL file for PySCF's records")
    parser.add_argument("--resume", action="store_true", help="keep the records in --output")
    args = parser.parse_args(argv)

    ours = read_records(args.dftjax_jsonl)
    first = next(iter(ours.values()))
    xc, basis, grid_level, density_fit = (first["xc"], first["basis"], first["grid_level"],
                                          first["density_fit"])
    data = load_g2()
    entries = {entry["name"]: entry for entry in data["atoms"] + data["molecules"]}
    theirs = read_records(args.output) if args.resume and args.output and \
        pathlib.Path(args.output).exists() else {}
    if args.output and not args.resume:
        pathlib.Path(args.output).write_text("")
    for number, name in enumerate(ours, 1):
        if name in theirs:
            continue
        try:
            record = pyscf_species(entries[name], xc, basis, grid_level, density_fit)
        except Exception as exc:  # reported, not dropped
            record = {"species": name, "converged": False, "error": f"{type(exc).__name__}: {exc}"}
        theirs[name] = record
        if args.output:
            with open(args.output, "a") as handle:
                handle.write(json.dumps(record) + "\n")
        print(f"[{number}/{len(ours)}] {name}: E={record.get('energy', float('nan')):.8f} "
              f"dftjax-PySCF {ours[name].get('energy', np.nan) - record.get('energy', np.nan):+.2e} Ha "
              f"({record.get('time_s', 0.0):.1f} s)", file=sys.stderr, flush=True)

    chosen = [m for m in data["molecules"] if m["name"] in ours]
    rows = {label: atomization_energies(chosen, records)
            for label, records in (("dftjax", ours), ("PySCF", theirs))}
    summaries = {label: summarize(rows[label], records)
                 for label, records in (("dftjax", ours), ("PySCF", theirs))}
    print(f"G2 {xc}/{basis}, grid level {grid_level}, density fit {density_fit}: "
          f"{len(chosen)} molecules, {len(ours)} species")
    print(f"{'':8} {'MAE':>7} {'MSE':>7} {'in MAE':>7} {'failed':>7} {'wall s':>9}")
    for label, summary in summaries.items():
        mae = "-" if summary["MAE"] is None else f"{summary['MAE']:7.3f}"
        mse = "-" if summary["MSE"] is None else f"{summary['MSE']:+7.3f}"
        print(f"{label:8} {mae:>7} {mse:>7} {summary['in_mae']:7d} "
              f"{len(summary['failed_species']):7d} {summary['time_s']:9.1f}")
    for ours_row, theirs_row in zip(rows["dftjax"], rows["PySCF"]):
        if ours_row["De"] is not None and theirs_row["De"] is not None and \
                abs(ours_row["De"] - theirs_row["De"]) > 0.01:
            print(f"  {ours_row['name']}: De dftjax {ours_row['De']:.3f}, PySCF "
                  f"{theirs_row['De']:.3f} kcal/mol "
                  f"({(ours_row['De'] - theirs_row['De']) / KCAL_PER_HARTREE:+.2e} Ha)")


if __name__ == "__main__":
    main()
