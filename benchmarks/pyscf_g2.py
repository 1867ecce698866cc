"""G2 atomization energies with PySCF, next to dftjax's ``dftjax bench g2`` run.

PySCF runs the same species as the dftjax run (the packaged G2 set,
dftjax/benchmarks/data/g2/molecules.json), with the same functional, basis (basis-set-
exchange data given through ``gto.basis.parse``, spherical functions), grid level
(``grids.level``; ``small_rho_cutoff = 0``, as dftjax keeps every grid point), conv_tol
1e-9 (dftjax's default), RHF/RKS for singlets and UHF/UKS otherwise, and, for the open
shells, PySCF's internal stability check followed until stable (at most 10 rounds), as
dftjax's bench does. Each species is timed from the Mole to the stable energy.

ERIs: each species takes the path its dftjax record names (``eri_method``; dftjax
chooses density fitting by size unless told, e.g. for the 47 largest G2-2 molecules in
def2-TZVP on a 24 GB machine). Where dftjax fitted, PySCF runs ``density_fit()`` with
the fitting set of the record (``auxbasis``), given as basis-set-exchange data as the
basis is. Records without ``eri_method`` follow the run's ``density_fit`` setting.
``--exact`` runs every species with exact ERIs instead (PySCF's own default).

Prints, for both programs: MAE and MSE (kcal/mol) over the molecules both finished,
failures, and total wall time; then the molecules whose atomization energies differ by
more than 0.01 kcal/mol between the programs.

Usage:
    dftjax bench g2 --xc b3lyp --basis def2-tzvp --output dftjax.jsonl
    python benchmarks/pyscf_g2.py dftjax.jsonl [--output pyscf.jsonl] [--resume] [--exact]

The functional, basis, grid level, ERI paths and species come from the dftjax file.
Needs PySCF and basis-set-exchange (the test extra).
"""

import argparse
import json
import pathlib
import sys
import time

import basis_set_exchange
import numpy as np
from pyscf import dft, gto, scf

from bench_df import pyscf_auxbasis  # the fitting set as dftjax builds it (cc-pVDZ-JKFIT)
from dftjax.benchmarks.g2 import (KCAL_PER_HARTREE, atomization_energies, load_g2,
                                  read_records, summarize)

CONV_TOL = 1e-9
MAX_STABILITY_ROUNDS = 10


def _parsed(name, symbols):
    """{element: PySCF basis} of basis-set-exchange's ``name`` for ``symbols``."""
    return {s: gto.basis.parse(basis_set_exchange.get_basis(name, elements=[s], fmt="nwchem"))
            for s in set(symbols)}


def pyscf_species(entry, xc, basis_name, grid_level, density_fit, auxbasis=None):
    """PySCF's record of one species: energy (Ha), converged, stability rounds, time_s.
    ``auxbasis``: the fitting set's basis-set-exchange name (given as data, as the basis
    is: PySCF's default for a basis given as data is an even-tempered set)."""
    start = time.perf_counter()
    basis = _parsed(basis_name, entry["symbols"])
    mol = gto.M(atom=list(zip(entry["symbols"], entry["positions_angstrom"])), basis=basis,
                charge=entry["charge"], spin=entry["multiplicity"] - 1, cart=False, verbose=0)
    restricted = entry["multiplicity"] == 1
    if xc == "hf":
        mf = scf.RHF(mol) if restricted else scf.UHF(mol)
    else:
        mf = dft.RKS(mol) if restricted else dft.UKS(mol)
        mf.xc, mf.grids.level, mf.small_rho_cutoff = xc, grid_level, 0
    if density_fit:
        mf = mf.density_fit(auxbasis=None if auxbasis is None else
                            pyscf_auxbasis(entry["symbols"], auxbasis))
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
            "stability_rounds": rounds, "nao": int(mol.nao),
            "eri_method": "density-fit" if density_fit else "exact",
            "auxbasis": auxbasis if density_fit else None,
            "time_s": time.perf_counter() - start, "error": None}


def fitted(record, exact=False) -> bool:
    """Whether PySCF fits the ERIs of the species of this dftjax record: as dftjax did
    (its ``eri_method``, else the run's ``density_fit`` setting), never when ``exact``."""
    if exact:
        return False
    if record.get("eri_method") is not None:
        return record["eri_method"] == "density-fit"
    return bool(record.get("density_fit"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dftjax_jsonl", help="the JSONL file of a 'dftjax bench g2' run")
    parser.add_argument("--output", help="JSONL file for PySCF's records")
    parser.add_argument("--resume", action="store_true", help="keep the records in --output")
    parser.add_argument("--exact", action="store_true",
                        help="exact ERIs for every species (default: the path dftjax took)")
    args = parser.parse_args(argv)

    ours = read_records(args.dftjax_jsonl)
    first = next(iter(ours.values()))
    xc, basis, grid_level = first["xc"], first["basis"], first["grid_level"]
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
            record = pyscf_species(entries[name], xc, basis, grid_level,
                                   fitted(ours[name], args.exact), ours[name].get("auxbasis"))
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
    nfit = {label: sum(r.get("eri_method") == "density-fit" for r in records.values())
            for label, records in (("dftjax", ours), ("PySCF", theirs))}
    print(f"G2 {xc}/{basis}, grid level {grid_level}: {len(chosen)} molecules, "
          f"{len(ours)} species; density fitted: dftjax {nfit['dftjax']}, PySCF {nfit['PySCF']}")
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
