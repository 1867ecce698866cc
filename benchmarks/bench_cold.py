"""Cold start: what a new user waits for on the first run, and on the second.

For each molecule (water, ethanol, benzene, the methyl radical; geometries below,
Angstrom) and each method (HF, B3LYP) in one basis (default def2-SVP), this script runs

* dftjax in a fresh process with an EMPTY persistent compilation cache ("cold"), then
  again in a fresh process with the cache that first run left ("warm");
* PySCF in a fresh process (RHF/RKS or UHF/UKS as dftjax picks, conv_tol 1e-9, grid
  level 3 as dftjax's default).

Each row: wall time of the whole process (Python start, imports, the calculation), the
``dftjax.scf`` call itself (``result.timings['total']``), its compile share
(``timings['compile']``: wall seconds during which lowering, XLA compilation or a
persistent-cache load was under way in some thread; before session 27 the durations
summed over threads, which overstated it for cold runs), the
number of XLA compilations (cache loads included),
the CPU seconds of the whole process (all threads; less sensitive than wall time to
other work on a shared machine), and the 1-minute load average when the row finished
(the machine may be shared: other work slows every number). PySCF's column is its process wall time and its kernel time.

``--by-name`` prints, for one cold dftjax run, the compilations counted by jitted
function name (from JAX's ``jax_log_compiles`` log), the list to cut.

Usage: python benchmarks/bench_cold.py [--molecules water ethanol benzene ch3]
       [--xyz FILE.xyz ...] [--xc hf b3lyp] [--basis def2-svp] [--by-name] [--json]
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time

# Angstrom. Water as examples/water.xyz; ethanol (staggered, from its microwave
# structure); benzene D6h with C-C 1.397 and C-H 1.084; methyl radical D3h, C-H 1.079.
# Water, ethanol and benzene are also dftjax.warmup.MOLECULES; they are written out here
# because PySCF's worker times its whole process and must not import dftjax (~1 s).
GEOMETRIES = {
    "water": """
O    0.0000    0.0000    0.1173
H    0.0000    0.7572   -0.4692
H    0.0000   -0.7572   -0.4692
""",
    "ethanol": """
C    1.1879   -0.3829    0.0000
C    0.0000    0.5526    0.0000
O   -1.1867   -0.2472    0.0000
H   -1.9237    0.3850    0.0000
H    2.1181    0.1881    0.0000
H    1.1484   -1.0200    0.8829
H    1.1484   -1.0200   -0.8829
H    0.0405    1.1962    0.8829
H    0.0405    1.1962   -0.8829
""",
    "benzene": "\n".join(
        f"{symbol} {radius * __import__('math').cos(k * __import__('math').pi / 3):.6f} "
        f"{radius * __import__('math').sin(k * __import__('math').pi / 3):.6f} 0.0"
        for symbol, radius in (("C", 1.397), ("H", 1.397 + 1.084)) for k in range(6)),
    "ch3": """
C    0.0000    0.0000    0.0000
H    1.0790    0.0000    0.0000
H   -0.5395    0.9344    0.0000
H   -0.5395   -0.9344    0.0000
""",
}
MULTIPLICITY = {"ch3": 2}
CONV_TOL = 1e-9


def _atoms(name):
    """[(symbol, x, y, z)] of a built-in molecule, or of an XYZ file (Angstrom) by path."""
    if name in GEOMETRIES:
        return [line.split() for line in GEOMETRIES[name].strip().splitlines()]
    with open(name) as handle:
        lines = handle.read().splitlines()
    return [line.split()[:4] for line in lines[2:2 + int(lines[0])]]


def _label(name):
    return os.path.splitext(os.path.basename(name))[0]


def _worker_dftjax(name, basis, xc, by_name):
    """One dftjax calculation in this (fresh) process; prints one JSON line."""
    import logging

    import jax

    names = collections.Counter()
    if by_name:
        class Counter(logging.Handler):
            def emit(self, record):
                match = re.search(r"Finished XLA compilation of (\S+)", record.getMessage())
                if match:
                    names[match.group(1)] += 1
        jax.config.update("jax_log_compiles", True)
        logger = logging.getLogger("jax")
        logger.addHandler(Counter())
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    import dftjax

    atoms = _atoms(name)
    xyz = f"{len(atoms)}\n\n" + "\n".join(" ".join(atom) for atom in atoms) + "\n"
    mol = dftjax.Molecule.from_xyz(xyz, multiplicity=MULTIPLICITY.get(name, 1))
    result = dftjax.scf(mol, basis=basis, xc=xc, conv_tol=CONV_TOL)
    print(json.dumps({
        "energy": float(result.energy), "nao": int(result.nao), "iterations": int(result.iterations),
        "scf_seconds": result.timings["total"], "compile_seconds": result.timings["compile"],
        "compilations": int(result.compilations), "cpu_seconds": time.process_time(),
        "names": dict(names.most_common())}))


def _worker_pyscf(name, basis, xc):
    from pyscf import dft, gto, scf

    mol = gto.M(atom=[(s, tuple(map(float, xyz))) for s, *xyz in _atoms(name)], basis=basis,
                spin=MULTIPLICITY.get(name, 1) - 1, verbose=0)
    open_shell = mol.spin != 0
    if xc == "hf":
        mf = scf.UHF(mol) if open_shell else scf.RHF(mol)
    else:
        mf = dft.UKS(mol) if open_shell else dft.RKS(mol)
        mf.xc, mf.grids.level = xc, 3
    mf.conv_tol = CONV_TOL
    tick = time.perf_counter()
    energy = mf.kernel()
    print(json.dumps({"energy": float(energy), "scf_seconds": time.perf_counter() - tick}))


def _run(argv, env):
    """Run this script as a worker in a fresh process: (its JSON, wall seconds)."""
    tick = time.perf_counter()
    completed = subprocess.run([sys.executable, __file__, *argv], capture_output=True, text=True,
                               env=env, check=False)
    wall = time.perf_counter() - tick
    if completed.returncode != 0:
        raise RuntimeError(f"worker {argv} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1]), wall


def _load():
    return os.getloadavg()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--molecules", nargs="+", default=None, choices=list(GEOMETRIES))
    parser.add_argument("--xyz", nargs="+", default=[], metavar="FILE",
                        help="also (or, without --molecules, only) these closed-shell molecules "
                             "(XYZ files, Angstrom)")
    parser.add_argument("--xc", nargs="+", default=["hf", "b3lyp"])
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--by-name", action="store_true",
                        help="count the cold run's compilations by function name")
    parser.add_argument("--no-pyscf", action="store_true")
    parser.add_argument("--json", action="store_true", help="one JSON line per row on stdout")
    parser.add_argument("--worker", nargs=3, metavar=("PROGRAM", "MOLECULE", "XC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        program, name, xc = args.worker
        if program == "dftjax":
            _worker_dftjax(name, args.basis, xc, args.by_name)
        else:
            _worker_pyscf(name, args.basis, xc)
        return

    env = dict(os.environ)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env.get("PYTHONPATH", "")])
    header = (f"{'molecule':8s} {'xc':6s} {'nao':>4s} | {'cold wall':>9s} {'cpu':>6s} {'scf':>6s} "
              f"{'compile':>7s} {'n':>4s} | {'warm wall':>9s} {'cpu':>6s} {'scf':>6s} {'compile':>7s} {'n':>4s} | "
              f"{'PySCF wall':>10s} {'scf':>6s} | {'load':>4s}")
    if not args.json:
        print(f"# basis {args.basis}, {os.cpu_count()} cores, load {_load():.2f} at start")
        print(header)
    molecules = (args.molecules or ([] if args.xyz else list(GEOMETRIES))) + list(args.xyz)
    for name in molecules:
        for xc in args.xc:
            with tempfile.TemporaryDirectory(prefix="dftjax_cold_") as cache:
                env["DFTJAX_CACHE_DIR"] = cache
                worker = ["--worker", "dftjax", name, xc, "--basis", args.basis]
                cold, cold_wall = _run(worker + (["--by-name"] if args.by_name else []), env)
                warm, warm_wall = _run(worker, env)
            pyscf, pyscf_wall = ({"scf_seconds": float("nan"), "energy": float("nan")}, float("nan"))
            if not args.no_pyscf:
                pyscf, pyscf_wall = _run(["--worker", "pyscf", name, xc, "--basis", args.basis], env)
            row = {"molecule": _label(name), "xc": xc, "basis": args.basis, "nao": cold["nao"],
                   "cold_wall": cold_wall, "cold_scf": cold["scf_seconds"],
                   "cold_compile": cold["compile_seconds"], "cold_compilations": cold["compilations"],
                   "cold_cpu": cold["cpu_seconds"], "warm_cpu": warm["cpu_seconds"],
                   "warm_wall": warm_wall, "warm_scf": warm["scf_seconds"],
                   "warm_compile": warm["compile_seconds"], "warm_compilations": warm["compilations"],
                   "pyscf_wall": pyscf_wall, "pyscf_scf": pyscf["scf_seconds"],
                   "energy": cold["energy"], "energy_pyscf": pyscf["energy"], "load": _load()}
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(f"{row['molecule']:8s} {xc:6s} {row['nao']:4d} | {cold_wall:9.2f} {row['cold_cpu']:6.2f} "
                      f"{row['cold_scf']:6.2f} {row['cold_compile']:7.2f} {row['cold_compilations']:4d} | "
                      f"{warm_wall:9.2f} {row['warm_cpu']:6.2f} {row['warm_scf']:6.2f} {row['warm_compile']:7.2f} {row['warm_compilations']:4d} "
                      f"| {pyscf_wall:10.2f} {row['pyscf_scf']:6.2f} | {row['load']:4.2f}",
                      flush=True)
            if args.by_name:
                for function, count in cold["names"].items():
                    print(f"#   {count:4d}  {function}", file=sys.stderr)


if __name__ == "__main__":
    main()
