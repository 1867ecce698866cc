"""Restricted Kohn-Sham DFT timings: dftjax against PySCF, in one run, on equal terms.

For each molecule (the geometries of bench_hf.py, Angstrom), each functional and one
basis set, this script times

* PySCF: a full RKS (``dft.RKS``, ``xc`` the functional, ``grids.level`` the grid level,
  conv_tol 1e-9, its default guess, DIIS and ``small_rho_cutoff``), from a fresh ``RKS``
  object each time, so the grid is built inside every timed run; best of ``--repeat``;
* dftjax: a full ``dftjax.scf(mol, basis, xc=..., grid_level=...)`` (conv_tol 1e-9),
  cold (the first call, XLA compilation included) and warm (best of ``--repeat`` later
  calls), with the warm run's grid and SCF stages reported separately;
* recompilation: ``dftjax.scf`` on the same molecule with one atom moved by 0.01 Angstrom,
  timed, with the XLA compilations it triggers counted (0 when the compiled code is
  reused for a new geometry of the same molecule).

Both programs get the same geometry and basis-set data (basis-set-exchange, given to
PySCF through ``gto.basis.parse``), spherical harmonics, the same grid level (both build
PySCF's grids: Treutler-Ahlrichs radial, Lebedev angular, NWChem pruning, Becke partition
with Treutler's size adjustment), the same thresholds and all cores. PySCF's RKS can drop
grid points of density below ``small_rho_cutoff`` after its first cycle (its default is 0,
no pruning, in PySCF 2.14; 1e-7 in older versions); dftjax keeps every point. The script
leaves PySCF's default (it is what a PySCF user gets) unless ``--pyscf-small-rho-cutoff``
says otherwise, and prints the value used and the number of points PySCF kept.

"Cold" is made cold again for each molecule and functional with ``jax.clear_caches()``,
and JAX's persistent compilation cache is disabled unless ``--use-cache`` is given.
Compilations are counted with bench_hf's ``CompileCounter`` (``jax.monitoring``
backend-compile events, minus persistent-cache hits); the geometries, the PySCF molecule
and the timing helpers are bench_hf's too.

Usage: python benchmarks/bench_dft.py [--molecules pyrrole benzene water]
       [--xc b3lyp r2scan] [--basis def2-svp] [--grid-level 3] [--repeat 3]
       [--csv PATH] [--use-cache] [--pyscf-small-rho-cutoff X]
"""

import argparse
import os
import sys

import jax
import pyscf
from pyscf import dft, lib

import dftjax
from dftjax.xc import get_functional
from bench_hf import (DISPLACEMENT, GEOMETRIES, CompileCounter, best_of, parse_geometry,
                      print_table, pyscf_molecule, timed, write_csv)

CONV_TOL = 1e-9            # Ha, both programs; orbital-gradient threshold sqrt(CONV_TOL) in both

COLUMNS = [
    ("molecule", "{}"), ("xc", "{}"), ("nao", "{}"), ("grid_points", "{}"),
    ("pyscf_rks_s", "{:.3f}"),
    ("dftjax_rks_cold_s", "{:.3f}"), ("dftjax_rks_warm_s", "{:.3f}"),
    ("dftjax_warm_grid_s", "{:.3f}"), ("dftjax_warm_scf_s", "{:.3f}"),
    ("rks_ratio", "{:.2f}"), ("energy_diff_ha", "{:+.1e}"),
    ("new_geom_compiles", "{}"), ("new_geom_rks_s", "{:.3f}"),
]
HEADERS = ["molecule", "xc", "nao", "grid pts", "PySCF RKS", "dftjax cold", "dftjax warm",
           "(grid)", "(SCF)", "ratio", "dE (Ha)", "recompiles", "new geom"]
EXTRA_CSV_COLUMNS = ["basis", "grid_level", "pyscf_small_rho_cutoff", "pyscf_grid_points",
                     "pyscf_energy", "dftjax_energy", "pyscf_cycles", "dftjax_iterations",
                     "dftjax_rks_cold_compiles", "dftjax_warm_integrals_s",
                     "dftjax_warm_guess_s", "repeat", "cpu_count", "jax_backend",
                     "persistent_cache", "jax_version", "pyscf_version"]


def pyscf_rks(mol, xc, grid_level, small_rho_cutoff):
    mf = dft.RKS(mol)
    mf.xc = xc
    mf.grids.level = grid_level
    if small_rho_cutoff is not None:
        mf.small_rho_cutoff = small_rho_cutoff
    mf.conv_tol = CONV_TOL
    mf.kernel()
    if not mf.converged:
        raise RuntimeError(f"PySCF RKS/{xc} did not converge")
    return mf


def dftjax_rks(mol, basis_name, xc, grid_level):
    result = dftjax.scf(mol, basis=basis_name, xc=xc, grid_level=grid_level, conv_tol=CONV_TOL)
    energy = float(result.energy)
    if not result.converged:
        raise RuntimeError(f"dftjax RKS/{xc} did not converge")
    return result, energy


def benchmark(name, xc, basis_name, grid_level, repeat, counter, small_rho_cutoff):
    symbols, coords = parse_geometry(GEOMETRIES[name])
    row = {"molecule": name, "xc": xc, "basis": basis_name, "grid_level": grid_level,
           "repeat": repeat}

    mol_pyscf = pyscf_molecule(symbols, coords, basis_name)
    row["pyscf_rks_s"], mf = best_of(
        repeat, lambda: pyscf_rks(mol_pyscf, xc, grid_level, small_rho_cutoff))
    row["pyscf_energy"], row["pyscf_cycles"] = float(mf.e_tot), mf.cycles
    row["pyscf_small_rho_cutoff"] = mf.small_rho_cutoff
    row["pyscf_grid_points"] = int(mf.grids.weights.size)   # after small_rho_cutoff

    mol = dftjax.Molecule(symbols, coords, unit="angstrom")
    run = lambda: dftjax_rks(mol, basis_name, xc, grid_level)  # noqa: E731
    jax.clear_caches()
    before = counter.count()
    row["dftjax_rks_cold_s"], _ = timed(run)
    row["dftjax_rks_cold_compiles"] = counter.count() - before
    row["dftjax_rks_warm_s"], (result, row["dftjax_energy"]) = best_of(repeat, run)
    # Stages of the last warm run (not necessarily the best one).
    for stage in ("integrals", "guess", "grid", "scf"):
        row[f"dftjax_warm_{stage}_s"] = result.timings[stage]
    row["dftjax_iterations"] = int(result.iterations)
    row["nao"] = result.nao
    row["grid_points"] = int(result.grid.npts)
    if result.nao != mol_pyscf.nao:
        raise RuntimeError(f"{name}: dftjax has {result.nao} AOs, PySCF {mol_pyscf.nao}")

    displaced_coords = coords.copy()
    displaced_coords[0, 0] += DISPLACEMENT
    displaced = dftjax.Molecule(symbols, displaced_coords, unit="angstrom")
    before = counter.count()
    row["new_geom_rks_s"], _ = timed(lambda: dftjax_rks(displaced, basis_name, xc, grid_level))
    row["new_geom_compiles"] = counter.count() - before

    row["rks_ratio"] = row["dftjax_rks_warm_s"] / row["pyscf_rks_s"]
    row["energy_diff_ha"] = row["dftjax_energy"] - row["pyscf_energy"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", nargs="+", default=["pyrrole", "benzene", "water"],
                        choices=sorted(GEOMETRIES))
    parser.add_argument("--xc", nargs="+", default=["b3lyp", "r2scan"],
                        help="functional names as PySCF spells them (default: b3lyp r2scan)")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--grid-level", type=int, default=3, help="PySCF grid level, both programs")
    parser.add_argument("--repeat", type=int, default=3, help="warm calls; the best counts")
    parser.add_argument("--csv", metavar="PATH", help="also write the results as CSV")
    parser.add_argument("--use-cache", action="store_true",
                        help="keep JAX's persistent compilation cache (JAX_COMPILATION_CACHE_DIR) "
                             "on: cold times then include no compilation already cached")
    parser.add_argument("--pyscf-small-rho-cutoff", type=float, default=None, metavar="X",
                        help="set PySCF's small_rho_cutoff (default: PySCF's own, 0 in PySCF "
                             "2.14); 0 keeps every grid point, as dftjax does")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not 0 <= args.grid_level <= 9:
        parser.error("--grid-level must be 0..9")
    for xc in args.xc:  # fail early on a name either program does not know
        get_functional(xc)
        dft.libxc.parse_xc(xc)

    jax.config.update("jax_enable_compilation_cache", bool(args.use_cache))
    cache_dir = jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if args.use_cache:
        cache_note = f"ON ({cache_dir or 'no directory set'}): cold times may reuse earlier compilations"
    else:
        cache_note = "OFF (pass --use-cache to use it): cold times include all compilation"
    counter = CompileCounter()
    cutoff = args.pyscf_small_rho_cutoff
    cutoff_note = (f"{dft.rks.KohnShamDFT.small_rho_cutoff:g} (PySCF's default)"
                   if cutoff is None else f"{cutoff:g} (set)")

    print(f"dftjax {dftjax.__version__}, jax {jax.__version__} on {jax.default_backend()} "
          f"({', '.join(str(d) for d in jax.devices())}); PySCF {pyscf.__version__}; "
          f"Python {sys.version.split()[0]}")
    print(f"os.cpu_count() = {os.cpu_count()}, PySCF threads = {lib.num_threads()} "
          "(both programs use their default thread pools)")
    print(f"JAX persistent compilation cache: {cache_note}")
    print(f"basis {args.basis}, grid level {args.grid_level}, conv_tol {CONV_TOL:g} Ha, "
          f"warm = best of {args.repeat}; PySCF small_rho_cutoff = {cutoff_note}, "
          "dftjax keeps every grid point")
    print(f"recompiles = XLA compilations of dftjax.scf after moving atom 0 by {DISPLACEMENT} A; "
          "(grid), (SCF) = stages of a warm dftjax run")
    print("ratio is dftjax warm / PySCF (below 1: dftjax faster); times in seconds\n")

    rows = []
    for name in args.molecules:
        for xc in args.xc:
            print(f"running {name} {xc} ...", file=sys.stderr, flush=True)
            row = benchmark(name, xc, args.basis, args.grid_level, args.repeat, counter, cutoff)
            rows.append(row)
            print(f"  {name} {xc}: E(PySCF) = {row['pyscf_energy']:.10f} ({row['pyscf_cycles']} "
                  f"cycles, {row['pyscf_grid_points']} grid points kept), E(dftjax) = "
                  f"{row['dftjax_energy']:.10f} ({row['dftjax_iterations']} iterations, "
                  f"{row['grid_points']} grid points); cold compilations "
                  f"{row['dftjax_rks_cold_compiles']}", file=sys.stderr, flush=True)
    print_table(rows, COLUMNS, HEADERS)

    if args.csv:
        write_csv(args.csv, rows, [key for key, _ in COLUMNS] + EXTRA_CSV_COLUMNS, args.use_cache)


if __name__ == "__main__":
    main()
