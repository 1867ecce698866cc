"""PySCF numbers for checking the packaged cc-pVTZ reference files (dftjax/data/reference).

Run once from the repository root:  python tests/data/make_reference_file_checks.py
Writes tests/data/reference_files_pyscf.json. PySCF is the oracle only; the default test
(tests/test_correlated_reference_files.py) reads the JSON and never imports PySCF.

For each molecule of ``dftjax.correlated.reference_data.TRAINING_SET`` (same geometry,
basis-set-exchange cc-pVTZ read element by element, RHF for singlets and UHF otherwise,
SCF to 1e-12 Ha, amplitudes to 1e-11 Ha): the HF, CCSD and CCSD(T) total energies
(all electrons correlated). For the polar molecules (H2O, NH3, NO; dipole along z) also the
relaxed CCSD(T) dipole's z component by a four-point central difference of the energy in
a field F = +-5e-4, +-1e-3 a.u. along z (truncation O(F^4) ~ 1e-10 a.u.; energies to
~1e-10 Ha give ~2e-7 a.u. of noise), with nuclei, about the origin.
"""

import json
import os
import sys
import time

import numpy as np
from pyscf import cc, scf

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".."))
from dftjax.correlated.reference_data import TRAINING_SET  # noqa: E402
from make_correlated_reference import pyscf_mol  # noqa: E402

FIELD = 5e-4
POLAR = ("h2o", "nh3", "no")


def ccsd_t(mol, field_z=0.0):
    """(E_scf, E_ccsd, E_ccsd(t)) with h_core + F z."""
    mf = scf.RHF(mol) if mol.spin == 0 else scf.UHF(mol)
    if field_z:
        h = mf.get_hcore() + field_z * mol.intor("int1e_r")[2]
        mf.get_hcore = lambda *args: h
    mf.conv_tol = 1e-12
    mf.conv_tol_grad = 1e-8
    mf.kernel()
    assert mf.converged
    coupled = cc.CCSD(mf)
    coupled.conv_tol = 1e-11
    coupled.conv_tol_normt = 1e-9
    coupled.max_cycle = 200
    coupled.kernel()
    assert coupled.converged
    return mf.e_tot, coupled.e_tot, coupled.e_tot + coupled.ccsd_t()


def main(names):
    path = os.path.join(HERE, "reference_files_pyscf.json")
    out = json.load(open(path)) if os.path.exists(path) else {}
    for name in names:
        symbols, coords, multiplicity = TRAINING_SET[name]
        mol = pyscf_mol(symbols, coords, "cc-pvtz", 0, multiplicity)
        tick = time.perf_counter()
        e_scf, e_ccsd, e_ccsd_t = ccsd_t(mol)
        entry = {"basis": "cc-pvtz", "nao": mol.nao, "e_scf": e_scf, "e_ccsd": e_ccsd,
                 "e_ccsd_t": e_ccsd_t}
        if name in POLAR:
            e = {k: ccsd_t(mol, k * FIELD)[2] for k in (-2, -1, 1, 2)}
            slope = (e[-2] - 8 * e[-1] + 8 * e[1] - e[2]) / (12 * FIELD)
            entry["dipole_z"] = float(mol.atom_charges() @ mol.atom_coords()[:, 2] - slope)
        out[name] = entry
        print(name, entry, f"{time.perf_counter() - tick:.0f} s", flush=True)
        with open(path, "w") as handle:
            json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:] or list(TRAINING_SET))
