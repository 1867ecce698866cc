"""Time against size: dftjax (exact and density-fitted) and PySCF (exact and DF), in one run.

The series is the linear alkanes C_nH_(2n+2) in an all-trans zigzag geometry (C-C 1.54 A,
C-H 1.09 A, tetrahedral angles), def2-SVP: 24 n + 10 basis functions, so n = 2 ... 20 spans
58 to 490. For each size, method (HF, B3LYP) and path this script times a full restricted
SCF (conv_tol 1e-9 Ha, grid level 3, each program's default guess and DIIS):

* ``pyscf-exact``: ``scf.RHF`` / ``dft.RKS`` as they come (in-core ERIs while they fit in
  PySCF's ``max_memory``, integral-direct above), best of ``--repeat``;
* ``pyscf-df``: the same with ``.density_fit(auxbasis=...)``, dftjax's default fitting set
  (PySCF's own default for the basis name), best of ``--repeat``;
* ``dftjax-exact``: ``dftjax.scf(..., density_fit=False)``; above ~130 basis functions the
  four-index tensor does not fit in memory and dftjax refuses with a MemoryError before
  running (recorded as ``skipped: memory``): dftjax has no integral-direct exact path;
* ``dftjax-df``: ``dftjax.scf(..., density_fit=True)``.

dftjax paths are timed cold (the first call at that size, XLA compilation included;
``jax.clear_caches()`` first and the persistent compilation cache off unless
``--use-cache``) and warm (best of ``--repeat`` later calls). Ratios are dftjax warm /
PySCF on the same path. The log-log slope of warm time against basis-set size, fitted over
sizes >= ``--slope-from`` basis functions, is printed per path and method: the empirical
scaling exponent.

Each finished row is appended to the CSV at once (a long run that is stopped keeps what it
measured); ``--plot PATH`` draws time against size on log-log axes (matplotlib, optional:
``pip install matplotlib``), the figure in docs/.

Usage: python benchmarks/bench_scaling.py [--carbons 2 4 8 12 16 20] [--methods hf b3lyp]
       [--paths pyscf-exact pyscf-df dftjax-exact dftjax-df] [--repeat 1]
       [--max-nao-pyscf-exact 300] [--csv PATH] [--plot PATH] [--from-csv PATH]
"""

import argparse
import csv
import os
import sys

import numpy as np

from molecules import alkane

CONV_TOL = 1e-9
GRID_LEVEL = 3
BASIS = "def2-svp"
PATHS = ("pyscf-exact", "pyscf-df", "dftjax-exact", "dftjax-df")
CSV_COLUMNS = ["n_carbons", "nao", "naux", "method", "path", "cold_s", "warm_s", "energy",
               "iterations", "ratio_vs_pyscf", "energy_diff_vs_pyscf", "status",
               "cold_compiles", "load_before", "load_after", "repeat", "cpu_count",
               "jax_version", "pyscf_version"]

def run_pyscf(symbols, coords, method, density_fit, aux_name, repeat):
    from bench_df import pyscf_auxbasis, pyscf_df
    from bench_hf import best_of, pyscf_molecule

    mol = pyscf_molecule(symbols, coords, BASIS)
    auxbasis = pyscf_auxbasis(symbols, aux_name) if density_fit else None
    warm, mf = best_of(repeat, lambda: pyscf_df(mol, method, GRID_LEVEL, auxbasis))
    naux = mf.with_df.auxmol.nao if density_fit else ""
    return {"warm_s": warm, "energy": float(mf.e_tot), "iterations": mf.cycles,
            "nao": mol.nao, "naux": naux}


def run_dftjax(symbols, coords, method, density_fit, repeat, counter):
    import jax

    import dftjax
    from bench_hf import best_of, timed

    mol = dftjax.Molecule(symbols, coords, unit="angstrom")

    def once():
        result = dftjax.scf(mol, basis=BASIS, xc=method, conv_tol=CONV_TOL,
                            grid_level=GRID_LEVEL, density_fit=density_fit)
        if not result.converged:
            raise RuntimeError(f"dftjax {method} did not converge")
        return result

    jax.clear_caches()
    before = counter.count()
    cold, _ = timed(once)
    compiles = counter.count() - before
    warm, result = best_of(repeat, once)
    return {"cold_s": cold, "warm_s": warm, "energy": float(result.energy),
            "iterations": int(result.iterations), "nao": result.nao,
            "naux": result.naux or "", "cold_compiles": compiles}


def slope(rows, method, path, from_nao):
    """Least-squares exponent p of warm time ~ nao^p over sizes >= from_nao."""
    points = [(r["nao"], r["warm_s"]) for r in rows
              if r["method"] == method and r["path"] == path and r["status"] == "ok"
              and r["nao"] >= from_nao]
    if len(points) < 2:
        return None
    x, y = np.log([p[0] for p in points]), np.log([p[1] for p in points])
    return float(np.polyfit(x, y, 1)[0])


def plot(rows, path, methods):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)", file=sys.stderr)
        return
    styles = {"pyscf-exact": ("C0", "--", "o"), "pyscf-df": ("C0", "-", "s"),
              "dftjax-exact": ("C3", "--", "o"), "dftjax-df": ("C3", "-", "s")}
    fig, axes = plt.subplots(1, len(methods), figsize=(5.2 * len(methods), 4.2), squeeze=False)
    for ax, method in zip(axes[0], methods):
        for name, (colour, line, marker) in styles.items():
            points = sorted((r["nao"], r["warm_s"]) for r in rows
                            if r["method"] == method and r["path"] == name
                            and r["status"] == "ok")
            if points:
                ax.loglog(*zip(*points), color=colour, linestyle=line, marker=marker,
                          label=name)
        ax.set_title(f"{method.upper()}/{BASIS}, linear alkanes (warm)")
        ax.set_xlabel("basis functions")
        ax.set_ylabel("SCF wall time (s)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot written to {path}", file=sys.stderr)


def read_csv(path):
    rows = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key in ("nao", "n_carbons"):
                row[key] = int(row[key])
            for key in ("cold_s", "warm_s"):
                row[key] = float(row[key]) if row[key] else None
            rows.append(row)
    return rows


def report(rows, methods, paths, from_nao):
    header = f"{'method':7} {'path':13} {'n':>3} {'nao':>4} {'naux':>5} {'cold':>9} " \
             f"{'warm':>9} {'ratio':>6} {'dE vs PySCF':>12}  status"
    print(header)
    for r in rows:
        cold = f"{r['cold_s']:9.2f}" if r.get("cold_s") else " " * 9
        warm = f"{r['warm_s']:9.2f}" if r.get("warm_s") else " " * 9
        ratio = f"{float(r['ratio_vs_pyscf']):6.2f}" if r.get("ratio_vs_pyscf") not in (None, "") else " " * 6
        diff = f"{float(r['energy_diff_vs_pyscf']):+12.1e}" if r.get("energy_diff_vs_pyscf") not in (None, "") else " " * 12
        print(f"{r['method']:7} {r['path']:13} {r['n_carbons']:>3} {r['nao']:>4} "
              f"{str(r.get('naux', '')):>5} {cold} {warm} {ratio} {diff}  {r['status']}")
    print(f"\nscaling exponent p (warm time ~ nao^p, sizes >= {from_nao} basis functions):")
    for method in methods:
        parts = []
        for name in paths:
            p = slope(rows, method, name, from_nao)
            parts.append(f"{name} {p:.2f}" if p is not None else f"{name} -")
        print(f"  {method}: " + ", ".join(parts))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carbons", nargs="+", type=int, default=[2, 4, 8, 12, 16, 20])
    parser.add_argument("--methods", nargs="+", default=["hf", "b3lyp"])
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=PATHS)
    parser.add_argument("--repeat", type=int, default=1, help="warm calls; the best counts")
    parser.add_argument("--max-nao-pyscf-exact", type=int, default=300,
                        help="skip PySCF's exact (integral-direct) path above this size")
    parser.add_argument("--slope-from", type=int, default=100,
                        help="fit the scaling exponent over sizes >= this many functions")
    parser.add_argument("--csv", metavar="PATH", help="append each row to this CSV")
    parser.add_argument("--plot", metavar="PATH", help="draw time against size (matplotlib)")
    parser.add_argument("--from-csv", metavar="PATH",
                        help="do not run: report and plot the rows of an earlier CSV")
    parser.add_argument("--use-cache", action="store_true",
                        help="keep JAX's persistent compilation cache on")
    args = parser.parse_args(argv)

    if args.from_csv:
        rows = read_csv(args.from_csv)
        report(rows, args.methods, args.paths, args.slope_from)
        if args.plot:
            plot(rows, args.plot, args.methods)
        return

    import jax
    import pyscf
    from pyscf import lib

    import dftjax
    from bench_hf import CompileCounter
    from dftjax.basis.auxiliary import resolve_auxbasis

    jax.config.update("jax_enable_compilation_cache", bool(args.use_cache))
    counter = CompileCounter()
    print(f"dftjax {dftjax.__version__}, jax {jax.__version__} on {jax.default_backend()}; "
          f"PySCF {pyscf.__version__}; {os.cpu_count()} CPUs, PySCF threads "
          f"{lib.num_threads()}; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    print(f"{BASIS}, grid level {GRID_LEVEL}, conv_tol {CONV_TOL:g} Ha; warm = best of "
          f"{args.repeat}; ratio = dftjax warm / PySCF warm on the same path\n", flush=True)

    rows = []
    writer = None
    if args.csv:
        new_file = not os.path.exists(args.csv)
        handle = open(args.csv, "a", newline="")
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        if new_file:
            writer.writeheader()
    for n in args.carbons:
        symbols, coords = alkane(n)
        mol = dftjax.Molecule(symbols, coords, unit="angstrom")
        for method in args.methods:
            aux_name = resolve_auxbasis(mol, BASIS, None, None if method == "hf" else method).name
            reference = {}
            for path in args.paths:
                row = {"n_carbons": n, "method": method, "path": path, "status": "ok",
                       "repeat": args.repeat, "cpu_count": os.cpu_count(),
                       "jax_version": jax.__version__, "pyscf_version": pyscf.__version__,
                       "load_before": os.getloadavg()[0], "nao": 24 * n + 10}
                print(f"running C{n}H{2 * n + 2} {method} {path} ...", file=sys.stderr,
                      flush=True)
                try:
                    if path.startswith("pyscf"):
                        if path == "pyscf-exact" and row["nao"] > args.max_nao_pyscf_exact:
                            raise _Skip(f"skipped: nao > {args.max_nao_pyscf_exact}")
                        row.update(run_pyscf(symbols, coords, method, path == "pyscf-df",
                                             aux_name, args.repeat))
                        reference[path.split("-")[1]] = row
                    else:
                        row.update(run_dftjax(symbols, coords, method, path == "dftjax-df",
                                              args.repeat, counter))
                        twin = reference.get(path.split("-")[1])
                        if twin is not None:
                            row["ratio_vs_pyscf"] = row["warm_s"] / twin["warm_s"]
                            row["energy_diff_vs_pyscf"] = row["energy"] - twin["energy"]
                except MemoryError as error:
                    row["status"] = "skipped: memory"
                    print(f"  {error}", file=sys.stderr)
                except _Skip as skip:
                    row["status"] = str(skip)
                row["load_after"] = os.getloadavg()[0]
                rows.append(row)
                if writer is not None:
                    writer.writerow(row)
                    handle.flush()
                if row["status"] == "ok":
                    print(f"  nao {row['nao']}: warm {row['warm_s']:.2f} s"
                          + (f", cold {row['cold_s']:.2f} s" if "cold_s" in row else "")
                          + (f", ratio {row['ratio_vs_pyscf']:.2f}"
                             if "ratio_vs_pyscf" in row else ""), file=sys.stderr, flush=True)
    print()
    report(rows, args.methods, args.paths, args.slope_from)
    if args.plot:
        plot(rows, args.plot, args.methods)


class _Skip(Exception):
    """A path not run at this size, by the user's limits."""


if __name__ == "__main__":
    main()
