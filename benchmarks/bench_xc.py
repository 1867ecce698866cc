"""The XC step alone on larger molecules: dftjax's screened, blocked path against PySCF.

A full Kohn-Sham SCF of a molecule with hundreds of basis functions needs density fitting
for its Coulomb and exchange terms; the grid work does not. This script times what the
grid costs per SCF cycle, on the same molecule, basis, grid level and density in both
programs, each in a process of its own so that its peak memory can be read:

* PySCF: ``Grids(mol)`` with ``level`` built once, then ``dft.numint.NumInt().nr_rks(mol,
  grids, xc, dm)`` (E_xc and V_xc) for the density ``dm``, best of ``--repeat``;
* dftjax: :func:`dftjax.grid.build_grid` and :func:`dftjax.xc.blocked.xc_grid` (blocks,
  screening, AO values if they fit in ``--ao-memory``), then
  :func:`dftjax.xc.blocked.xc_energy_and_potential` (jitted; restricted, as ``nr_rks``),
  cold (compilation included) and warm (best of ``--repeat``).

The density is PySCF's ``minao`` guess, handed to dftjax as a matrix. Printed: sizes, the
screening (AO-point pairs kept against the dense count), times, |E_xc difference| and
max |V_xc difference| (same grid up to PySCF's padding points, so ~1e-9 or better), and
each process's peak resident memory (``ru_maxrss``).

Molecules: ``alkane:N`` (C_N H_{2N+2}, all-trans zigzag), ``water:N`` (N water molecules
on a cubic lattice 2.9 Angstrom apart), or the small ones of bench_hf.py.

Usage: python benchmarks/bench_xc.py [--molecules alkane:20 water:20] [--xc b3lyp r2scan]
       [--basis def2-svp] [--grid-level 3] [--repeat 2] [--ao-memory BYTES]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from molecules import alkane, water_cluster  # noqa: E402


def molecule(spec):
    kind, _, size = spec.partition(":")
    if kind == "alkane":
        return alkane(int(size))
    if kind == "water" and size:
        return water_cluster(int(size))
    from bench_hf import GEOMETRIES, parse_geometry
    return parse_geometry(GEOMETRIES[kind])


def peak_memory_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def pyscf_worker(args):
    from bench_hf import pyscf_molecule
    from pyscf import dft
    symbols, coords = molecule(args.molecule)
    mol = pyscf_molecule(symbols, coords, args.basis)
    dm = dft.RKS(mol).get_init_guess(key="minao")
    start = time.perf_counter()
    grids = dft.Grids(mol)
    grids.level = args.grid_level
    grids.build()
    grid_s = time.perf_counter() - start
    ni = dft.numint.NumInt()
    best = np.inf
    for _ in range(args.repeat):
        start = time.perf_counter()
        _, exc, vxc = ni.nr_rks(mol, grids, args.xc, dm)
        best = min(best, time.perf_counter() - start)
    np.save(args.out + ".dm.npy", dm)
    np.save(args.out + ".vxc.npy", vxc)
    return {"nao": mol.nao, "grid_points": int(grids.weights.size), "grid_s": grid_s,
            "xc_s": best, "exc": float(exc), "peak_mb": peak_memory_mb()}


def dftjax_worker(args):
    import jax
    import jax.numpy as jnp

    import dftjax
    from dftjax.grid import build_grid
    from dftjax.xc import get_functional
    from dftjax.xc.blocked import xc_energy_and_potential, xc_grid

    jax.config.update("jax_enable_compilation_cache", False)
    symbols, coords = molecule(args.molecule)
    mol = dftjax.Molecule(symbols, coords, unit="angstrom")
    basis = dftjax.build_basis(mol, args.basis)
    functional = get_functional(args.xc)
    dm = np.load(args.out + ".dm.npy")
    density = jnp.asarray(0.5 * np.stack([dm, dm]))
    deriv = 0 if functional.family == "lda" else 1

    def setup():
        grid = build_grid(mol, level=args.grid_level)
        xcg = xc_grid(basis, grid, mol.coordinates, deriv=deriv, ao_memory=args.ao_memory)
        return jax.block_until_ready(xcg)

    step = jax.jit(lambda xcg, d: xc_energy_and_potential(functional, functional.params, xcg, d,
                                                          restricted=True))
    start = time.perf_counter()
    xcg = setup()
    setup_cold = time.perf_counter() - start
    start = time.perf_counter()
    exc, vxc = jax.block_until_ready(step(xcg, density))
    xc_cold = time.perf_counter() - start
    xcg = None  # free the first setup's AO values before the second
    start = time.perf_counter()
    xcg = setup()
    setup_warm = time.perf_counter() - start
    best = np.inf
    for _ in range(args.repeat):
        start = time.perf_counter()
        exc, vxc = jax.block_until_ready(step(xcg, density))
        best = min(best, time.perf_counter() - start)
    points, pairs = xcg.layout.slots()
    reference = np.load(args.out + ".vxc.npy")
    return {"nao": basis.nao, "grid_points": xcg.npts, "setup_cold_s": setup_cold,
            "setup_s": setup_warm, "xc_cold_s": xc_cold, "xc_s": best, "exc": float(exc),
            "vxc_diff": float(np.abs(np.asarray(vxc[0]) - reference).max()),
            "signature": str(xcg.layout.signature), "pairs_kept": pairs,
            "pairs_dense": xcg.npts * basis.nao, "ao_kept": xcg.ao is not None,
            "peak_mb": peak_memory_mb()}


def run_worker(program, args, spec, xc, out):
    command = [sys.executable, os.path.abspath(__file__), "--worker", program, "--molecule", spec,
               "--xc", xc, "--basis", args.basis, "--grid-level", str(args.grid_level),
               "--repeat", str(args.repeat), "--ao-memory", str(args.ao_memory), "--out", out]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{program} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", nargs="+", default=["alkane:20"])
    parser.add_argument("--xc", nargs="+", default=["b3lyp", "r2scan"])
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--ao-memory", type=int, default=2 * 1024**3,
                        help="bytes of AO values dftjax may keep (default 2 GiB; 0: evaluate each time)")
    parser.add_argument("--worker", choices=["pyscf", "dftjax"], help=argparse.SUPPRESS)
    parser.add_argument("--molecule", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.xc = args.xc[0]
        worker = pyscf_worker if args.worker == "pyscf" else dftjax_worker
        print(json.dumps(worker(args)))
        return
    print(f"os.cpu_count() = {os.cpu_count()}; load average {os.getloadavg()}; basis {args.basis}, "
          f"grid level {args.grid_level}, warm = best of {args.repeat}; times in seconds, memory in MB")
    out = f"/tmp/bench_xc_{os.getpid()}"
    for spec in args.molecules:
        for xc in args.xc:
            ref = run_worker("pyscf", args, spec, xc, out)
            ours = run_worker("dftjax", args, spec, xc, out)
            print(f"{spec} {xc}: nao {ours['nao']}, grid points {ours['grid_points']} "
                  f"(PySCF {ref['grid_points']}); blocks {ours['signature']}, AO-point pairs kept "
                  f"{ours['pairs_kept'] / ours['pairs_dense']:.1%} of dense, AO values "
                  f"{'kept' if ours['ao_kept'] else 'evaluated each step'}")
            print(f"  PySCF  grid {ref['grid_s']:.2f}, nr_rks {ref['xc_s']:.2f}, peak {ref['peak_mb']:.0f}")
            print(f"  dftjax grid+setup cold {ours['setup_cold_s']:.2f} warm {ours['setup_s']:.2f}, "
                  f"XC step cold {ours['xc_cold_s']:.2f} warm {ours['xc_s']:.2f}, peak {ours['peak_mb']:.0f}; "
                  f"ratio (warm XC step) {ours['xc_s'] / ref['xc_s']:.2f}")
            print(f"  E_xc: PySCF {ref['exc']:.10f}, dftjax {ours['exc']:.10f}, diff "
                  f"{ours['exc'] - ref['exc']:+.1e}; max |V_xc diff| {ours['vxc_diff']:.1e}", flush=True)
    for suffix in (".dm.npy", ".vxc.npy"):
        if os.path.exists(out + suffix):
            os.remove(out + suffix)


if __name__ == "__main__":
    main()
