"""Restricted Hartree-Fock timings: dftjax against PySCF, in one run, on equal terms.

For each molecule (geometries below, Angstrom) and one basis set, this script times

* PySCF: the integrals (overlap, kinetic, nuclear attraction, dipole and the 8-fold
  symmetric ERIs ``int2e``, ``aosym='s8'``), and a full RHF (``scf.RHF``, conv_tol 1e-9,
  its default DIIS and guess), best of ``--repeat`` runs;
* dftjax: ``dftjax.compute_integrals`` and a full ``dftjax.scf`` (conv_tol 1e-9), each
  cold (the first call, XLA compilation included) and warm (best of ``--repeat`` later
  calls);
* recompilation: ``dftjax.scf`` on the same molecule with one atom moved by 0.01 Angstrom,
  timed, with the XLA compilations it triggers counted (0 when the compiled code is
  reused for a new geometry of the same molecule).

Both programs get the same geometry and the same basis-set data (basis-set-exchange,
given to PySCF through ``gto.basis.parse``), spherical harmonics, the same thresholds and
all cores (their default thread pools). "Cold" is made cold again for each molecule and
each of the two dftjax stages with ``jax.clear_caches()``, and JAX's persistent
compilation cache, which would otherwise hand back code compiled by an earlier process,
is disabled unless ``--use-cache`` is given. Compilations are counted with
``jax.monitoring`` (backend-compile events, minus persistent-cache hits).

Usage: python benchmarks/bench_hf.py [--molecules pyrrole benzene water]
       [--basis def2-svp] [--repeat 3] [--csv PATH] [--use-cache]
"""

import argparse
import csv
import os
import sys
import time

import basis_set_exchange
import jax
import numpy as np
import pyscf
from pyscf import gto, lib, scf

import dftjax

CONV_TOL = 1e-9            # Ha, both programs; orbital-gradient threshold sqrt(CONV_TOL) in both
DISPLACEMENT = 0.01        # Angstrom, of the first atom along x, for the recompilation test

# Angstrom. Water as examples/water.xyz; pyrrole from its microwave structure
# (Nygaard et al., J. Mol. Struct. 3, 491 (1969)), planar, C2v; benzene D6h with
# C-C 1.397 and C-H 1.084.
GEOMETRIES = {
    "water": """
O    0.0000    0.0000    0.1173
H    0.0000    0.7572   -0.4692
H    0.0000   -0.7572   -0.4692
""",
    "pyrrole": """
N    0.0000    0.0000    0.0000
C    1.1209    0.7878    0.0000
C   -1.1209    0.7878    0.0000
C    0.7076    2.1065    0.0000
C   -0.7076    2.1065    0.0000
H    0.0000   -0.9960    0.0000
H    2.1084    0.3604    0.0000
H   -2.1084    0.3604    0.0000
H    1.3572    2.9655    0.0000
H   -1.3572    2.9655    0.0000
""",
    "benzene": """
C    1.3970    0.0000    0.0000
C    0.6985    1.2098    0.0000
C   -0.6985    1.2098    0.0000
C   -1.3970    0.0000    0.0000
C   -0.6985   -1.2098    0.0000
C    0.6985   -1.2098    0.0000
H    2.4810    0.0000    0.0000
H    1.2405    2.1486    0.0000
H   -1.2405    2.1486    0.0000
H   -2.4810    0.0000    0.0000
H   -1.2405   -2.1486    0.0000
H    1.2405   -2.1486    0.0000
""",
}

COLUMNS = [
    ("molecule", "{}"), ("nao", "{}"),
    ("pyscf_ints_s", "{:.3f}"), ("pyscf_rhf_s", "{:.3f}"),
    ("dftjax_ints_cold_s", "{:.3f}"), ("dftjax_ints_warm_s", "{:.3f}"),
    ("dftjax_rhf_cold_s", "{:.3f}"), ("dftjax_rhf_warm_s", "{:.3f}"),
    ("ints_ratio", "{:.2f}"), ("rhf_ratio", "{:.2f}"),
    ("energy_diff_ha", "{:+.1e}"),
    ("new_geom_compiles", "{}"), ("new_geom_rhf_s", "{:.3f}"),
]
HEADERS = ["molecule", "nao", "PySCF ints", "PySCF RHF", "dftjax ints cold", "ints warm",
           "dftjax RHF cold", "RHF warm", "ints ratio", "RHF ratio", "dE (Ha)",
           "recompiles", "new geom RHF"]
EXTRA_CSV_COLUMNS = ["basis", "pyscf_energy", "dftjax_energy", "pyscf_cycles",
                     "dftjax_iterations", "dftjax_warm_integrals_s", "dftjax_warm_guess_s",
                     "dftjax_warm_scf_s", "load_average", "dftjax_ints_cold_compiles",
                     "dftjax_rhf_cold_compiles", "repeat", "cpu_count", "jax_backend",
                     "persistent_cache", "jax_version", "pyscf_version"]


class CompileCounter:
    """Counts XLA compilations through jax.monitoring; a persistent-cache hit is no compile."""

    def __init__(self):
        self.compiles = 0
        self.cache_hits = 0
        jax.monitoring.register_event_duration_secs_listener(self._on_duration)
        jax.monitoring.register_event_listener(self._on_event)

    def _on_duration(self, event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            self.compiles += 1

    def _on_event(self, event, **kwargs):
        if event == "/jax/compilation_cache/cache_hits":
            self.cache_hits += 1

    def count(self):
        return self.compiles - self.cache_hits


def timed(function):
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def best_of(repeat, function):
    """(best seconds, last result) of ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        seconds, result = timed(function)
        times.append(seconds)
    return min(times), result


def parse_geometry(text):
    rows = [line.split() for line in text.strip().splitlines()]
    return [row[0] for row in rows], np.array([[float(x) for x in row[1:4]] for row in rows])


def pyscf_molecule(symbols, coords, basis_name):
    """PySCF Mole with the basis-set-exchange data dftjax reads, spherical functions."""
    basis = {symbol: gto.basis.parse(basis_set_exchange.get_basis(
        basis_name, elements=[symbol], fmt="nwchem")) for symbol in set(symbols)}
    return gto.M(atom=list(zip(symbols, coords.tolist())), unit="angstrom", basis=basis,
                 cart=False, verbose=0)


def pyscf_integrals(mol):
    """The integral set dftjax.compute_integrals returns: S, T, V, dipole and the ERIs."""
    return (mol.intor("int1e_ovlp"), mol.intor("int1e_kin"), mol.intor("int1e_nuc"),
            mol.intor("int1e_r"), mol.intor("int2e", aosym="s8"))


def pyscf_rhf(mol):
    mf = scf.RHF(mol)
    mf.conv_tol = CONV_TOL
    mf.kernel()
    if not mf.converged:
        raise RuntimeError("PySCF RHF did not converge")
    return mf


def dftjax_integrals(mol, basis):
    ints = dftjax.compute_integrals(mol, basis)
    return jax.block_until_ready((ints.overlap, ints.kinetic, ints.nuclear, ints.dipole, ints.eri))


def dftjax_rhf(mol, basis_name):
    result = dftjax.scf(mol, basis=basis_name, conv_tol=CONV_TOL)
    energy = float(result.energy)
    if not result.converged:
        raise RuntimeError("dftjax RHF did not converge")
    return result, energy


def cold_and_warm(function, repeat, counter):
    """Cold time and compile count of the first call after clearing JAX's caches; warm best."""
    jax.clear_caches()
    before = counter.count()
    cold, result = timed(function)
    compiles = counter.count() - before
    warm, result = best_of(repeat, function)
    return cold, warm, compiles, result


def benchmark(name, basis_name, repeat, counter):
    symbols, coords = parse_geometry(GEOMETRIES[name])
    row = {"molecule": name, "basis": basis_name, "repeat": repeat}

    mol_pyscf = pyscf_molecule(symbols, coords, basis_name)
    row["pyscf_ints_s"], _ = best_of(repeat, lambda: pyscf_integrals(mol_pyscf))
    row["pyscf_rhf_s"], mf = best_of(repeat, lambda: pyscf_rhf(mol_pyscf))
    row["pyscf_energy"], row["pyscf_cycles"] = float(mf.e_tot), mf.cycles

    mol = dftjax.Molecule(symbols, coords, unit="angstrom")
    basis = dftjax.build_basis(mol, basis_name)
    row["nao"] = basis.nao
    if basis.nao != mol_pyscf.nao:
        raise RuntimeError(f"{name}: dftjax has {basis.nao} AOs, PySCF {mol_pyscf.nao}")
    (row["dftjax_ints_cold_s"], row["dftjax_ints_warm_s"], row["dftjax_ints_cold_compiles"],
     _) = cold_and_warm(lambda: dftjax_integrals(mol, basis), repeat, counter)
    (row["dftjax_rhf_cold_s"], row["dftjax_rhf_warm_s"], row["dftjax_rhf_cold_compiles"],
     (result, row["dftjax_energy"])) = cold_and_warm(
        lambda: dftjax_rhf(mol, basis_name), repeat, counter)
    row["dftjax_iterations"] = int(result.iterations)
    for stage in ("integrals", "guess", "scf"):  # stages of the last warm call
        row[f"dftjax_warm_{stage}_s"] = result.timings[stage]

    displaced_coords = coords.copy()
    displaced_coords[0, 0] += DISPLACEMENT
    displaced = dftjax.Molecule(symbols, displaced_coords, unit="angstrom")
    before = counter.count()
    row["new_geom_rhf_s"], _ = timed(lambda: dftjax_rhf(displaced, basis_name))
    row["new_geom_compiles"] = counter.count() - before

    row["ints_ratio"] = row["dftjax_ints_warm_s"] / row["pyscf_ints_s"]
    row["rhf_ratio"] = row["dftjax_rhf_warm_s"] / row["pyscf_rhf_s"]
    row["energy_diff_ha"] = row["dftjax_energy"] - row["pyscf_energy"]
    row["load_average"] = os.getloadavg()[0]  # other work on the machine skews every time
    return row


def print_table(rows, columns=None, headers=None):
    """Print rows as an aligned table (``columns``: (key, format) pairs; defaults: RHF's)."""
    columns, headers = columns or COLUMNS, headers or HEADERS
    cells = [headers] + [[fmt.format(row[key]) for key, fmt in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    for k, line in enumerate(cells):
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths)))
        if k == 0:
            print("  ".join("-" * width for width in widths))


def write_csv(path, rows, fields, use_cache):
    """Write benchmark rows, with the machine and versions on every row, to ``path``."""
    common = {"cpu_count": os.cpu_count(), "jax_backend": jax.default_backend(),
              "persistent_cache": bool(use_cache), "jax_version": jax.__version__,
              "pyscf_version": pyscf.__version__}
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({**common, **row})
    print(f"\nwrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", nargs="+", default=["pyrrole", "benzene", "water"],
                        choices=sorted(GEOMETRIES))
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--repeat", type=int, default=3, help="warm calls; the best counts")
    parser.add_argument("--csv", metavar="PATH", help="also write the results as CSV")
    parser.add_argument("--use-cache", action="store_true",
                        help="keep JAX's persistent compilation cache (JAX_COMPILATION_CACHE_DIR) "
                             "on: cold times then include no compilation already cached")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    jax.config.update("jax_enable_compilation_cache", bool(args.use_cache))
    cache_dir = jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if args.use_cache:
        cache_note = f"ON ({cache_dir or 'no directory set'}): cold times may reuse earlier compilations"
    else:
        cache_note = "OFF (pass --use-cache to use it): cold times include all compilation"
    counter = CompileCounter()

    print(f"dftjax {dftjax.__version__}, jax {jax.__version__} on {jax.default_backend()} "
          f"({', '.join(str(d) for d in jax.devices())}); PySCF {pyscf.__version__}; "
          f"Python {sys.version.split()[0]}")
    print(f"os.cpu_count() = {os.cpu_count()}, PySCF threads = {lib.num_threads()} "
          "(both programs use their default thread pools); load average "
          f"{os.getloadavg()[0]:.1f} (should be ~0: other work slows both programs unequally)")
    print(f"JAX persistent compilation cache: {cache_note}")
    print(f"basis {args.basis}, conv_tol {CONV_TOL:g} Ha, warm = best of {args.repeat}; "
          f"recompiles = XLA compilations of dftjax.scf after moving atom 0 by {DISPLACEMENT} A")
    print("ratios are dftjax warm / PySCF (below 1: dftjax faster); times in seconds\n")

    rows = []
    for name in args.molecules:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.append(benchmark(name, args.basis, args.repeat, counter))
        row = rows[-1]
        print(f"  {name}: E(PySCF) = {row['pyscf_energy']:.10f} ({row['pyscf_cycles']} cycles), "
              f"E(dftjax) = {row['dftjax_energy']:.10f} ({row['dftjax_iterations']} iterations); "
              f"cold compilations: integrals {row['dftjax_ints_cold_compiles']}, "
              f"RHF {row['dftjax_rhf_cold_compiles']}; warm RHF stages: integrals "
              f"{row['dftjax_warm_integrals_s']:.2f} s, guess {row['dftjax_warm_guess_s']:.2f} s, "
              f"SCF {row['dftjax_warm_scf_s']:.2f} s; load average {row['load_average']:.1f}",
              file=sys.stderr, flush=True)
    print_table(rows)

    if args.csv:
        write_csv(args.csv, rows, [key for key, _ in COLUMNS] + EXTRA_CSV_COLUMNS, args.use_cache)


if __name__ == "__main__":
    main()
