"""NN-NRA against NN-meta-GGA: the cost of the nonlocal descriptor in a Kohn-Sham SCF.

For one molecule, basis and grid level (default water / def2-TZVP / grid 3): the grid's
size; the neighbour list of NN-NRA's descriptor R (:func:`dftjax.xc.nra.neighbour_list`,
host) with its build time, the mean number of neighbours per point within the cutoff
(1.3816 Bohr) and the candidate slots per point that the padded blocks evaluate; R's
evaluation time (jitted, warm); and the SCF of each functional, cold (compilation
included) and warm (a second identical SCF in the same process), with the warm ratio
NN-NRA / NN-meta-GGA.

Usage: python benchmarks/bench_nn.py [--basis def2-tzvp] [--grid-level 3]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

import dftjax
from dftjax.grid import build_grid
from dftjax.xc.nra import NRA_CUTOFF, neighbour_list, nra_descriptor

WATER = dftjax.Molecule(["O", "H", "H"], [[0.0, 0.0, 0.119262], [0.0, 0.763239, -0.477047],
                                          [0.0, -0.763239, -0.477047]])


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    out = function(*args, **kwargs)
    jax.block_until_ready(getattr(out, "energy", out))
    return out, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basis", default="def2-tzvp")
    parser.add_argument("--grid-level", type=int, default=3)
    args = parser.parse_args()

    grid = build_grid(WATER, level=args.grid_level)
    points = np.asarray(grid.coords)
    neighbours, build = timed(neighbour_list, points)
    within = cKDTree(points).query_ball_point(points, NRA_CUTOFF, return_length=True)
    density = jnp.exp(-jnp.linalg.norm(grid.coords, axis=1))
    descriptor = jax.jit(nra_descriptor)
    _, cold = timed(descriptor, neighbours, grid.coords, grid.weights, density)
    _, warm = timed(descriptor, neighbours, grid.coords, grid.weights, density)
    print(f"water/{args.basis}, grid level {args.grid_level}: {len(points)} points")
    print(f"neighbour list: built in {build:.2f} s; {np.mean(within):.0f} neighbours per point "
          f"(max {np.max(within)}), {neighbours.pairs / len(points):.0f} candidate slots per point")
    print(f"R: {cold:.2f} s cold, {warm:.2f} s warm")

    warm_times = {}
    for xc in ("nn-metagga", "nn-nra"):
        result, cold = timed(dftjax.scf, WATER, basis=args.basis, xc=xc, grid_level=args.grid_level)
        result, warm = timed(dftjax.scf, WATER, basis=args.basis, xc=xc, grid_level=args.grid_level)
        warm_times[xc] = warm
        print(f"{xc:11s} E = {result.energy:.8f} Ha, converged {result.converged}, "
              f"{result.iterations} cycles: {cold:.1f} s cold, {warm:.1f} s warm")
    print(f"warm SCF ratio NN-NRA / NN-meta-GGA: {warm_times['nn-nra'] / warm_times['nn-metagga']:.2f}")


if __name__ == "__main__":
    main()
