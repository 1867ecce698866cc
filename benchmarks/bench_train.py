"""Cost of training: the re-SCF with cached integrals and grid, and one training step.

For each set of samples (``water``: water alone; ``seed``: the seed protocol's H2O, NH3,
NO and the H, N, O atoms), one basis and functional, this script times in one run:

* build: integrals, grid, AO values and SAD guess of every sample (once per training run);
* warm SCF: ``dftjax.scf`` of each sample, compiled (second call), summed over samples:
  what one evaluation costs without the cached data;
* re-SCF: :meth:`dftjax.train.Sample.solve` with the parameters moved by 1e-4 (relative)
  each time, warm-started from the last density: the inner loop of fitting; median of
  ``--repeat``, summed over samples;
* train step: one :func:`dftjax.train.fit` step (forward SCFs, losses, implicit
  backward, optax update) over all samples, median of ``--repeat``.

The ratios are the issue's figures: re-SCF of water/def2-SVP against dftax's 0.13 s, and
train step / warm SCF (target <= 3). Cold (first-call) times include XLA compilation.
Geometries in Angstrom (experimental, NIST CCCBDB).
"""

import argparse
import time

import jax
import numpy as np

import dftjax
from dftjax.train import (Loss, Sample, atomization_energy, density_error, fit, init_state,
                          make_optimizer)

MOLECULES = {
    "h2o": ("O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692", 1),
    "nh3": ("N 0 0 0.1162; H 0 0.9377 -0.2711; H 0.8121 -0.4689 -0.2711; "
            "H -0.8121 -0.4689 -0.2711", 1),
    "no": ("N 0 0 0; O 0 0 1.1508", 2),
    "h": ("H 0 0 0", 2),
    "n": ("N 0 0 0", 4),
    "o": ("O 0 0 0", 3),
}
SETS = {"water": ["h2o"], "seed": ["h2o", "nh3", "no", "h", "n", "o"]}
ATOMS = {"h2o": {"o": 1, "h": 2}, "nh3": {"n": 1, "h": 3}, "no": {"n": 1, "o": 1}}


def median_seconds(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(function())
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def scaled(params, factor):
    return jax.tree_util.tree_map(lambda x: x * factor, params)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--set", choices=sorted(SETS), default="water")
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--xc", default="pbe")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--ladder", action="store_true",
                        help="samples padded onto dftjax.scf's ladder (Sample(ladder=True))")
    parser.add_argument("--density-fit", action="store_true",
                        help="density-fitted samples and SCFs (default: exact ERIs)")
    args = parser.parse_args()
    names = SETS[args.set]
    molecules = {n: dftjax.Molecule.from_xyz(MOLECULES[n][0], multiplicity=MOLECULES[n][1])
                 for n in names}

    start = time.perf_counter()
    samples = {n: Sample(n, m, args.xc, args.basis, grid_level=args.grid_level,
                         density_fit=args.density_fit, ladder=args.ladder)
               for n, m in molecules.items()}
    build = time.perf_counter() - start
    params = next(iter(samples.values())).functional.params

    warm_scf = 0.0
    for n, m in molecules.items():
        options = dict(basis=args.basis, xc=args.xc, grid_level=args.grid_level,
                       density_fit=args.density_fit)
        dftjax.scf(m, **options)
        warm_scf += median_seconds(lambda: dftjax.scf(m, **options).energy, args.repeat)

    cold, resolve = 0.0, 0.0
    for sample in samples.values():
        start = time.perf_counter()
        sample.solve(params)
        cold += time.perf_counter() - start
        moves = iter(range(10**6))
        resolve += median_seconds(
            lambda: sample.solve(scaled(params, 1.0 + 1e-4 * (-1) ** next(moves))).density,
            args.repeat)

    terms = [density_error([(s, 0.99 * np.asarray(s.outputs(params, s.solve(params)).rho))
                            for s in samples.values()])]
    entries = [(n, ATOMS[n], 0.3) for n in names if n in ATOMS and set(ATOMS[n]) <= set(names)]
    if entries:
        terms.append(atomization_energy(entries))
    loss = Loss(terms)
    optimizer = make_optimizer(params, "adam", 1e-4)
    state = init_state(params, optimizer)
    start = time.perf_counter()
    state, _ = fit(samples, loss, optimizer, state, 1, log=None)
    step_cold = time.perf_counter() - start
    step_times = []
    for _ in range(args.repeat):
        state, history = fit(samples, loss, optimizer, state, 1, log=None)
        assert history[-1].applied and not history[-1].failed, history[-1].line()
        step_times.append(history[-1].seconds)
    step = float(np.median(step_times))

    nao = {n: s.nao for n, s in samples.items()}
    print(f"set {args.set} ({', '.join(names)}), {args.basis}, {args.xc}, grid level "
          f"{args.grid_level}, nao {nao}, {'density fitting' if args.density_fit else 'exact ERIs'}"
          f"{', on the ladder' if args.ladder else ''}, devices {jax.devices()}")
    print(f"build (integrals, grid, AOs, guess)  {build:8.3f} s")
    print(f"warm dftjax.scf, all samples         {warm_scf:8.3f} s")
    print(f"first solve (compile), all samples   {cold:8.3f} s")
    print(f"re-SCF warm-started, all samples     {resolve:8.3f} s")
    print(f"train step cold                      {step_cold:8.3f} s")
    print(f"train step (fwd + bwd + update)      {step:8.3f} s")
    print(f"train step / warm SCF                {step / warm_scf:8.2f}")


if __name__ == "__main__":
    main()
