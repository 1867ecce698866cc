"""CCSD(T) energy and relaxed dipole: dftjax against PySCF, in one run.

dftjax: ``dftjax.correlated.run(..., method="ccsd(t)", relaxed_density=True)``, cold
(first call, XLA compilation included; ``jax.clear_caches()`` first and the persistent
compilation cache off) and warm (second call). PySCF has no relaxed CCSD(T) density API,
so its equivalent quantity is the relaxed dipole by central finite difference of the
CCSD(T) energy in a field along each requested axis (two extra RHF+CCSD(T) runs per
axis); PySCF's time is its zero-field CCSD(T) plus those runs (its energy alone is
reported too). Same geometry and basis-set-exchange data for both, all cores, SCF
1e-12 Ha, amplitudes 1e-10 Ha. Wall time and CPU time (``time.process_time``, all
threads) are both reported: on a shared machine the CPU time is the steadier number.

Usage: python benchmarks/bench_correlated.py [--basis cc-pvtz] [--axes z]
(water by default: the issue's case, RHF, so dftjax runs its closed-shell equations;
about 3 GB.)
"""

import argparse
import os
import time

os.environ.setdefault("JAX_ENABLE_COMPILATION_CACHE", "false")

import basis_set_exchange  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from pyscf import cc, gto, scf  # noqa: E402

import dftjax  # noqa: E402
from dftjax.correlated import run  # noqa: E402

WATER = (["O", "H", "H"], [[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]])
FIELD = 1e-3  # a.u.; (E(+F) - E(-F)) / 2F is off by beta F^2 / 6 ~ 1e-6 a.u. for water


def pyscf_ccsd_t(mol, field):
    mf = scf.RHF(mol)
    h = mf.get_hcore() + np.einsum("x,xij->ij", field, mol.intor("int1e_r"))
    mf.get_hcore = lambda *args: h
    mf.conv_tol = 1e-12
    mf.kernel()
    solver = cc.CCSD(mf)
    solver.conv_tol = 1e-10
    solver.kernel()
    return solver.e_tot + solver.ccsd_t()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basis", default="cc-pvtz")
    parser.add_argument("--axes", default="z", help="dipole components to compare, e.g. xyz")
    args = parser.parse_args()
    symbols, coords = WATER
    basis = {s: gto.basis.parse(basis_set_exchange.get_basis(args.basis, elements=[s],
                                                             fmt="nwchem"))
             for s in set(symbols)}
    pmol = gto.M(atom=list(zip(symbols, coords)), basis=basis, verbose=0)
    mol = dftjax.Molecule(symbols, coords)

    jax.clear_caches()
    times, cpu = [], []
    for _ in range(2):
        tick, tock = time.perf_counter(), time.process_time()
        result = run(mol, basis=args.basis, method="ccsd(t)", relaxed_density=True)
        times.append(time.perf_counter() - tick)
        cpu.append(time.process_time() - tock)

    tick, tock = time.perf_counter(), time.process_time()
    e_pyscf = pyscf_ccsd_t(pmol, np.zeros(3))
    t_energy, c_energy = time.perf_counter() - tick, time.process_time() - tock
    charges = pmol.atom_charges() @ pmol.atom_coords()
    dipole = {}
    for axis in args.axes:
        k = "xyz".index(axis)
        step = np.eye(3)[k] * FIELD
        slope = (pyscf_ccsd_t(pmol, step) - pyscf_ccsd_t(pmol, -step)) / (2 * FIELD)
        dipole[axis] = charges[k] - slope
    t_pyscf, c_pyscf = time.perf_counter() - tick, time.process_time() - tock

    print(f"water/{args.basis}: nao {result.scf.nao}, converged {result.converged}")
    print(f"  energy  dftjax {result.energy:.10f}  PySCF {e_pyscf:.10f}  "
          f"diff {result.energy - e_pyscf:.2e} Ha")
    for axis, value in dipole.items():
        ours = result.dipole["xyz".index(axis)]
        print(f"  dipole {axis}  dftjax {ours:.7f}  PySCF (finite field) {value:.7f}  "
              f"diff {ours - value:.1e} a.u.")
    for label, (ours, theirs, energy) in {"wall": (times, t_pyscf, t_energy),
                                          "CPU": (cpu, c_pyscf, c_energy)}.items():
        print(f"  {label:4s} time  dftjax energy + relaxed density cold {ours[0]:.1f} s, warm "
              f"{ours[1]:.1f} s; PySCF energy {energy:.1f} s, energy + "
              f"{2 * len(args.axes)} field runs {theirs:.1f} s; ratio warm/PySCF "
              f"{ours[1] / theirs:.2f}, cold/PySCF {ours[0] / theirs:.2f}")


if __name__ == "__main__":
    main()
