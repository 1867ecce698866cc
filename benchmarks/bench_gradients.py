"""Cost of derivatives relative to the energy: forces and one implicit backward pass.

For each molecule (bench_hf.py's geometries) and method (HF, B3LYP), one basis, this
script times, in one run,

* energy: ``dftjax.scf`` (conv_tol 1e-9), warm (best of ``--repeat``);
* forces: ``dftjax.gradient`` of that result (no orbital response), cold and warm; the
  "energy + forces / energy" ratio is the issue's figure (target <= 3);
* implicit backward: ``jax.grad`` of the dipole's z component through the converged SCF
  (:class:`dftjax.SCFFunction`, coupled-perturbed solve), forward and backward timed
  separately, warm;
* PySCF: RHF/RKS energy and its analytic gradient (``grid_response`` on for DFT) on the
  same geometry, basis-set-exchange basis data, grid level and thresholds, for scale.

Cold includes XLA compilation (the persistent cache is off unless ``--use-cache``).
"""

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

import dftjax
from bench_hf import (GEOMETRIES, CompileCounter, best_of, parse_geometry, print_table,
                      pyscf_molecule, timed, write_csv)

CONV_TOL = 1e-9

COLUMNS = [("molecule", "{}"), ("method", "{}"), ("nao", "{}"),
           ("pyscf_energy_s", "{:.2f}"), ("pyscf_grad_s", "{:.2f}"),
           ("energy_s", "{:.2f}"), ("forces_cold_s", "{:.1f}"), ("forces_s", "{:.2f}"),
           ("forces_ratio", "{:.2f}"), ("implicit_fwd_s", "{:.2f}"), ("implicit_bwd_s", "{:.2f}"),
           ("implicit_ratio", "{:.2f}"), ("max_diff_vs_pyscf", "{:.1e}")]
HEADERS = ["molecule", "method", "nao", "PySCF E", "PySCF grad", "dftjax E warm", "forces cold",
           "forces warm", "(E+F)/E", "implicit fwd", "implicit bwd", "bwd/E", "|g-g_PySCF|"]


def pyscf_energy_and_gradient(symbols, coords, basis, method):
    from pyscf import dft, scf

    mol = pyscf_molecule(symbols, coords, basis)
    if method == "hf":
        mf = scf.RHF(mol)
    else:
        mf = dft.RKS(mol)
        mf.xc, mf.grids.level = method, 3
    mf.conv_tol = CONV_TOL
    seconds_e, _ = timed(mf.kernel)
    g = mf.nuc_grad_method()
    if method != "hf":
        g.grid_response = True
    seconds_g, grad = timed(g.kernel)
    return seconds_e, seconds_g, np.asarray(grad)


def benchmark(name, basis, method, repeat, implicit):
    symbols, coords = parse_geometry(GEOMETRIES[name])
    mol = dftjax.Molecule(symbols, coords)
    pyscf_e, pyscf_g, pyscf_grad = pyscf_energy_and_gradient(symbols, coords, basis, method)
    dftjax.scf(mol, basis, xc=method, conv_tol=CONV_TOL)  # compile the energy path
    energy_s, calc = best_of(repeat, lambda: dftjax.scf(mol, basis, xc=method, conv_tol=CONV_TOL))
    forces_cold, grad = timed(lambda: dftjax.gradient(calc))
    forces_s, grad = best_of(repeat, lambda: dftjax.gradient(calc))
    row = {"molecule": name, "method": method, "nao": calc.nao, "pyscf_energy_s": pyscf_e,
           "pyscf_grad_s": pyscf_g, "energy_s": energy_s, "forces_cold_s": forces_cold,
           "forces_s": forces_s, "forces_ratio": (energy_s + forces_s) / energy_s,
           "max_diff_vs_pyscf": float(np.abs(grad - pyscf_grad).max()),
           "implicit_fwd_s": float("nan"), "implicit_bwd_s": float("nan"),
           "implicit_ratio": float("nan")}
    if implicit:
        f = dftjax.SCFFunction(mol, basis, xc=method)
        c0 = jnp.asarray(mol.coordinates)
        loss = lambda c: f(c).dipole[2]
        jax.block_until_ready(jax.grad(loss)(c0))  # compile
        fwd_s, _ = best_of(repeat, lambda: jax.block_until_ready(loss(c0)))
        total_s, _ = best_of(repeat, lambda: jax.block_until_ready(jax.grad(loss)(c0)))
        row.update(implicit_fwd_s=fwd_s, implicit_bwd_s=total_s - fwd_s,
                   implicit_ratio=(total_s - fwd_s) / energy_s)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--molecules", nargs="+", default=["pyrrole"], choices=sorted(GEOMETRIES))
    parser.add_argument("--methods", nargs="+", default=["hf", "b3lyp"])
    parser.add_argument("--basis", default="def2-svp")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--no-implicit", action="store_true", help="skip the implicit backward pass")
    parser.add_argument("--csv", metavar="PATH")
    parser.add_argument("--use-cache", action="store_true")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_compilation_cache", bool(args.use_cache))
    CompileCounter()
    print(f"dftjax {dftjax.__version__}, jax {jax.__version__} on {jax.default_backend()}; "
          f"basis {args.basis}, conv_tol {CONV_TOL:g}; times in seconds, warm = best of {args.repeat}")
    rows = []
    for name in args.molecules:
        for method in args.methods:
            print(f"running {name} {method} ...", file=sys.stderr, flush=True)
            rows.append(benchmark(name, args.basis, method, args.repeat, not args.no_implicit))
    print_table(rows, COLUMNS, HEADERS)
    if args.csv:
        write_csv(args.csv, rows, [key for key, _ in COLUMNS], args.use_cache)


if __name__ == "__main__":
    main()
