"""Density-fitted (RI-JK) Kohn-Sham and Hartree-Fock timings: dftjax against PySCF, in one run.

For each molecule (bench_hf.py's geometries, Angstrom), functional and basis this script times

* PySCF: a full density-fitted SCF, ``dft.RKS(mol).density_fit(auxbasis=...)`` (or
  ``scf.RHF``), ``grids.level`` the grid level, conv_tol 1e-9, its default guess and DIIS,
  from a fresh object each time (the grid and the fitted integrals are built inside every
  timed run); best of ``--repeat``;
* dftjax: ``dftjax.scf(mol, basis, xc=..., grid_level=..., density_fit=True)``, cold (the
  first call, XLA compilation included; ``jax.clear_caches()`` before it and the
  persistent compilation cache off unless ``--use-cache``) and warm (best of ``--repeat``),
  with the warm run's stages;
* recompilation: the same molecule with one atom moved by 0.01 Angstrom, its XLA
  compilations counted (0: the compiled code is reused for a new geometry).

Both get the same geometry, the same orbital *and* auxiliary basis data (basis-set-exchange,
given to PySCF through ``gto.basis.parse``: dftjax's default fitting set for the basis and
functional, i.e. PySCF's own default for the basis name; PySCF given parsed data without an
``auxbasis`` would fall back to even-tempered functions), spherical functions, the same
grid level and thresholds and all cores. The load average of the machine is printed before
and after: on a shared machine, compare ratios from one run only.

Usage: python benchmarks/bench_df.py [--molecules pyrrole] [--xc b3lyp] [--basis def2-svp]
       [--grid-level 3] [--repeat 3] [--csv PATH] [--use-cache]
"""

import argparse
import os
import sys

import basis_set_exchange
import jax
import pyscf
from pyscf import dft, gto, lib, scf

import dftjax
from dftjax.basis.auxiliary import resolve_auxbasis
from bench_hf import (DISPLACEMENT, GEOMETRIES, CompileCounter, best_of, parse_geometry,
                      print_table, pyscf_molecule, timed, write_csv)

CONV_TOL = 1e-9

COLUMNS = [
    ("molecule", "{}"), ("xc", "{}"), ("nao", "{}"), ("naux", "{}"),
    ("pyscf_df_s", "{:.3f}"), ("dftjax_df_cold_s", "{:.3f}"), ("dftjax_df_warm_s", "{:.3f}"),
    ("dftjax_warm_integrals_s", "{:.3f}"), ("dftjax_warm_grid_s", "{:.3f}"),
    ("dftjax_warm_scf_s", "{:.3f}"), ("df_ratio", "{:.2f}"), ("energy_diff_ha", "{:+.1e}"),
    ("new_geom_compiles", "{}"), ("new_geom_s", "{:.3f}"),
]
HEADERS = ["molecule", "xc", "nao", "naux", "PySCF DF", "dftjax cold", "dftjax warm",
           "(integrals)", "(grid)", "(SCF)", "ratio", "dE (Ha)", "recompiles", "new geom"]
EXTRA_CSV_COLUMNS = ["basis", "auxbasis", "grid_level", "pyscf_energy", "dftjax_energy",
                     "pyscf_cycles", "dftjax_iterations", "dftjax_df_cold_compiles",
                     "load_before", "load_after", "repeat", "cpu_count", "jax_backend",
                     "persistent_cache", "jax_version", "pyscf_version"]


def pyscf_auxbasis(symbols, name):
    """The fitting set as parsed basis-set-exchange data, per element (cc-pVDZ-JKFIT is
    cc-pVTZ-JKFIT without its highest l, as dftjax builds it)."""
    out = {}
    for symbol in set(symbols):
        source = "cc-pvtz-jkfit" if name == "cc-pvdz-jkfit" else name
        shells = gto.basis.parse(basis_set_exchange.get_basis(source, elements=[symbol], fmt="nwchem"))
        if name == "cc-pvdz-jkfit":
            top = max(s[0] for s in shells)
            shells = [s for s in shells if s[0] < top]
        out[symbol] = shells
    return out


def pyscf_df(mol, xc, grid_level, auxbasis):
    """A converged PySCF RHF/RKS, density-fitted in ``auxbasis`` (None: exact ERIs)."""
    if xc == "hf":
        mf = scf.RHF(mol)
    else:
        mf = dft.RKS(mol)
        mf.xc = xc
        mf.grids.level = grid_level
    if auxbasis is not None:
        mf = mf.density_fit(auxbasis=auxbasis)
    mf.conv_tol = CONV_TOL
    mf.kernel()
    if not mf.converged:
        raise RuntimeError(f"PySCF {xc} did not converge")
    return mf


def dftjax_df(mol, basis, xc, grid_level):
    result = dftjax.scf(mol, basis=basis, xc=xc, grid_level=grid_level, conv_tol=CONV_TOL,
                        density_fit=True)
    if not result.converged:
        raise RuntimeError(f"dftjax DF {xc} did not converge")
    return result


def benchmark(name, xc, basis, grid_level, repeat, counter):
    symbols, coords = parse_geometry(GEOMETRIES[name])
    mol = dftjax.Molecule(symbols, coords, unit="angstrom")
    aux_name = resolve_auxbasis(mol, basis, None, None if xc == "hf" else xc).name
    row = {"molecule": name, "xc": xc, "basis": basis, "auxbasis": aux_name,
           "grid_level": grid_level, "repeat": repeat, "load_before": os.getloadavg()[0]}

    mol_pyscf = pyscf_molecule(symbols, coords, basis)
    auxbasis = pyscf_auxbasis(symbols, aux_name)
    row["pyscf_df_s"], mf = best_of(repeat, lambda: pyscf_df(mol_pyscf, xc, grid_level, auxbasis))
    row["pyscf_energy"], row["pyscf_cycles"] = float(mf.e_tot), mf.cycles

    jax.clear_caches()
    before = counter.count()
    row["dftjax_df_cold_s"], _ = timed(lambda: dftjax_df(mol, basis, xc, grid_level))
    row["dftjax_df_cold_compiles"] = counter.count() - before
    row["dftjax_df_warm_s"], result = best_of(repeat, lambda: dftjax_df(mol, basis, xc, grid_level))
    for stage in ("integrals", "grid", "scf"):
        row[f"dftjax_warm_{stage}_s"] = result.timings.get(stage, 0.0)
    row["dftjax_energy"] = float(result.energy)
    row["dftjax_iterations"] = int(result.iterations)
    row["nao"], row["naux"] = result.nao, result.naux
    if result.naux != mf.with_df.auxmol.nao:
        raise RuntimeError(f"{name}: dftjax has {result.naux} auxiliary functions, PySCF "
                           f"{mf.with_df.auxmol.nao}")

    moved = coords.copy()
    moved[0, 0] += DISPLACEMENT
    displaced = dftjax.Molecule(symbols, moved, unit="angstrom")
    before = counter.count()
    row["new_geom_s"], _ = timed(lambda: dftjax_df(displaced, basis, xc, grid_level))
    row["new_geom_compiles"] = counter.count() - before

    row["df_ratio"] = row["dftjax_df_warm_s"] / row["pyscf_df_s"]
    row["energy_diff_ha"] = row["dftjax_energy"] - row["pyscf_energy"]
    row["load_after"] = os.getloadavg()[0]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", nargs="+", default=["pyrrole"], choices=sorted(GEOMETRIES))
    parser.add_argument("--xc", nargs="+", default=["b3lyp"],
                        help="functional names as PySCF spells them, or hf (default: b3lyp)")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="warm calls; the best counts")
    parser.add_argument("--csv", metavar="PATH", help="also write the results as CSV")
    parser.add_argument("--use-cache", action="store_true",
                        help="keep JAX's persistent compilation cache on (cold times then "
                             "include no compilation already cached)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    jax.config.update("jax_enable_compilation_cache", bool(args.use_cache))
    counter = CompileCounter()
    print(f"dftjax {dftjax.__version__}, jax {jax.__version__} on {jax.default_backend()}; "
          f"PySCF {pyscf.__version__}; Python {sys.version.split()[0]}")
    print(f"os.cpu_count() = {os.cpu_count()}, PySCF threads = {lib.num_threads()}; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    print(f"JAX persistent compilation cache: {'ON' if args.use_cache else 'OFF'}; basis "
          f"{args.basis}, grid level {args.grid_level}, conv_tol {CONV_TOL:g} Ha, warm = best "
          f"of {args.repeat}; recompiles after moving atom 0 by {DISPLACEMENT} A")
    print("ratio is dftjax warm / PySCF (below 1: dftjax faster); times in seconds\n")

    rows = []
    for name in args.molecules:
        for xc in args.xc:
            print(f"running {name} {xc} ...", file=sys.stderr, flush=True)
            row = benchmark(name, xc, args.basis, args.grid_level, args.repeat, counter)
            rows.append(row)
            print(f"  {name} {xc} ({row['auxbasis']}): E(PySCF) = {row['pyscf_energy']:.10f} "
                  f"({row['pyscf_cycles']} cycles), E(dftjax) = {row['dftjax_energy']:.10f} "
                  f"({row['dftjax_iterations']} iterations); cold compilations "
                  f"{row['dftjax_df_cold_compiles']}; load {row['load_before']:.1f} -> "
                  f"{row['load_after']:.1f}", file=sys.stderr, flush=True)
    print_table(rows, COLUMNS, HEADERS)
    if args.csv:
        write_csv(args.csv, rows, [key for key, _ in COLUMNS] + EXTRA_CSV_COLUMNS, args.use_cache)


if __name__ == "__main__":
    main()
