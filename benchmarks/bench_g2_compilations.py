"""Compilations per species when many G2 species run in one process.

Runs the given G2 species (default: eight of G2-1, closed and open shells, 2 to 8
atoms) one after the other in this process, as ``dftjax bench g2`` does, with the
persistent compilation cache OFF (so every compilation is a real one), and prints per
species: basis functions, wall and CPU seconds, compile seconds, the number of XLA
compilations, and which jitted functions compiled (from JAX's ``jax_log_compiles`` log).
A species whose shapes fall in buckets an earlier species compiled should compile
(next to) nothing.

Usage: DFTJAX_CACHE_DIR=off python benchmarks/bench_g2_compilations.py
       [--species CH4 NH3 ...] [--xc hf] [--basis sto-3g] [--density-fit] [--json]
"""

import argparse
import collections
import json
import logging
import os
import re
import time

os.environ.setdefault("DFTJAX_CACHE_DIR", "off")

import jax  # noqa: E402
import numpy as np  # noqa: E402

DEFAULT_SPECIES = ("CH4", "NH3", "H2O", "HF", "C2H6", "CH3OH", "H2CO", "CN", "HCO", "C2H4")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--species", nargs="+", default=list(DEFAULT_SPECIES))
    parser.add_argument("--xc", default="hf")
    parser.add_argument("--basis", default="sto-3g")
    parser.add_argument("--density-fit", action="store_true",
                        help="density-fitted J/K (default: chosen by size, exact here)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    names = collections.Counter()
    seconds = collections.Counter()

    class Counter(logging.Handler):
        def emit(self, record):
            match = re.search(r"Finished XLA compilation of (\S+) in ([0-9.e-]+) s",
                              record.getMessage())
            if match:
                names[match.group(1)] += 1
                seconds[match.group(1)] += float(match.group(2))

    jax.config.update("jax_log_compiles", True)
    logger = logging.getLogger("jax")
    logger.addHandler(Counter())
    logger.setLevel(logging.WARNING)
    logger.propagate = False

    from dftjax.basis import build_basis
    from dftjax.benchmarks.g2 import load_g2, run_species
    from dftjax.molecule import Molecule
    from dftjax.xc import get_functional

    entries = {e["name"]: e for e in load_g2()["molecules"] + load_g2()["atoms"]}
    settings = {"xc": args.xc, "basis": args.basis, "grid_level": 3,
                "density_fit": True if args.density_fit else None,
                "functional": get_functional(args.xc)}
    rows = []
    for name in args.species:
        entry = entries[name]
        names.clear()
        seconds.clear()
        cpu = time.process_time()
        record = run_species(entry, settings)
        molecule = Molecule(entry["symbols"], np.array(entry["positions_angstrom"]),
                            charge=entry["charge"], multiplicity=entry["multiplicity"])
        row = {"species": name, "nao": build_basis(molecule, args.basis).nao,
               "energy": record.get("energy"), "error": record["error"],
               "time_s": record["time_s"], "cpu_s": time.process_time() - cpu,
               "compile_s": record.get("compile_s"), "compilations": record.get("compilations"),
               "names": dict(names.most_common()),
               "name_seconds": {k: round(v, 3) for k, v in seconds.most_common()}}
        rows.append(row)
        if not args.json:
            print(f"{name:8s} nao={row['nao']:3d} wall {row['time_s']:6.1f} s  cpu {row['cpu_s']:6.1f} s"
                  f"  compile {row['compile_s'] or 0:6.1f} s  {row['compilations']} compilations"
                  + (f"  ERROR {row['error']}" if row["error"] else ""),
                  flush=True)
            print("    " + ", ".join(f"{k} x{v} {seconds[k]:.2f} s" for k, v in row["names"].items()),
                  flush=True)
    total = {key: sum(r[key] or 0 for r in rows)
             for key in ("time_s", "cpu_s", "compile_s", "compilations")}
    if args.json:
        print(json.dumps({"rows": rows, "total": total}))
    else:
        print(f"total: wall {total['time_s']:.1f} s, cpu {total['cpu_s']:.1f} s, compile "
              f"{total['compile_s']:.1f} s, {total['compilations']} compilations")


if __name__ == "__main__":
    main()
