"""NN-NRA against NN-meta-GGA: the cost of the nonlocal descriptor in a Kohn-Sham SCF.

For one molecule, basis and grid level (default water / def2-TZVP / grid 3): the grid's
size and the mean number of neighbours per point within the cutoff (1.3816 Bohr); the
kernel of NN-NRA's descriptor R precomputed on the grid (:func:`dftjax.xc.nra.nra_kernel`,
what each NN-NRA SCF builds once) with its build time and memory; R's evaluation per SCF
cycle (one kernel sum for R, one for its pullback: jitted, warm); and the SCF of each
functional, cold (compilation included) and warm (a second identical SCF in the same
process), with the warm ratio NN-NRA / NN-meta-GGA. Every time is given as wall and CPU
seconds (time.process_time, all threads of this process): on a shared machine the CPU
time is the one that does not depend on the neighbours' load.

Usage: python benchmarks/bench_nn.py [--basis def2-tzvp] [--grid-level 3] [--repeat 3]
"""

import argparse
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

import dftjax
from dftjax.grid import build_grid
from dftjax.memory import format_bytes
from dftjax.xc.nra import NRA_CUTOFF, nra_descriptor_and_pullback, nra_kernel

WATER = dftjax.Molecule(["O", "H", "H"], [[0.0, 0.0, 0.119262], [0.0, 0.763239, -0.477047],
                                          [0.0, -0.763239, -0.477047]])


def timed(function, *args, **kwargs):
    """(result, wall seconds, CPU seconds) of a call, waiting for JAX's results."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = function(*args, **kwargs)
    jax.block_until_ready(getattr(out, "energy", out))
    return out, time.perf_counter() - wall, time.process_time() - cpu


def both(wall, cpu):
    return f"{wall:.2f} s wall / {cpu:.2f} s CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basis", default="def2-tzvp")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3,
                        help="warm SCFs per functional; the one with the least CPU time counts")
    args = parser.parse_args()

    grid = build_grid(WATER, level=args.grid_level)
    points = np.asarray(grid.coords)
    within = cKDTree(points).query_ball_point(points, NRA_CUTOFF, return_length=True)
    print(f"water/{args.basis}, grid level {args.grid_level}: {len(points)} points, "
          f"{np.mean(within):.0f} neighbours per point within {NRA_CUTOFF:.4f} Bohr "
          f"(max {np.max(within)}, {np.sum(within):.3g} pairs)")
    nra_kernel(points)  # compiles the build's two passes
    kernel, *build = timed(nra_kernel, points)
    used = int(jnp.sum(kernel.rows < kernel.slots.shape[0] // kernel.kernel.shape[1] - 1))
    print(f"R's kernel: built in {both(*build)} (warm); {kernel.kernel.shape[0]} tiles of "
          f"{kernel.kernel.shape[1]}x{kernel.kernel.shape[2]} points ({used} used, the rest "
          f"spare), {format_bytes(kernel.nbytes)}")

    @jax.jit
    def cycle(kernel, weights, density):  # R and its pullback, as one SCF cycle needs them
        descriptor, pullback = nra_descriptor_and_pullback(kernel, None, weights, density)
        return pullback(jnp.ones_like(descriptor) / descriptor)[0]

    density = jnp.exp(-jnp.linalg.norm(grid.coords, axis=1))
    timed(cycle, kernel, grid.weights, density)
    _, *per_cycle = timed(cycle, kernel, grid.weights, density)
    print(f"R and its pullback per SCF cycle: {both(*per_cycle)}")
    del kernel

    warm = {}
    for xc in ("nn-metagga", "nn-nra"):
        run = partial(timed, dftjax.scf, WATER, basis=args.basis, xc=xc, grid_level=args.grid_level)
        result, *cold = run()
        del result  # one calculation (and one NN-NRA kernel) alive at a time
        runs = []
        for _ in range(args.repeat):
            result, *times = run()
            runs.append(times)
            split = ", ".join(f"{k} {result.timings[k]:.2f} s" for k in ("integrals", "guess", "grid", "scf"))
            energy, converged, cycles = result.energy, result.converged, result.iterations
            del result
        warm[xc] = min(runs, key=lambda t: t[1])
        print(f"{xc:11s} E = {energy:.8f} Ha, converged {converged}, {cycles} cycles: "
              f"cold {both(*cold)}, warm {both(*warm[xc])} (the least CPU of {args.repeat}: "
              + "; ".join(f"{w:.2f}/{c:.2f} s" for w, c in runs) + ")")
        print(" " * 12 + f"last warm run, wall: {split}")
    ratios = [a / b for a, b in zip(warm["nn-nra"], warm["nn-metagga"])]
    print(f"warm SCF ratio NN-NRA / NN-meta-GGA: {ratios[0]:.2f} (wall), {ratios[1]:.2f} (CPU)")


if __name__ == "__main__":
    main()
