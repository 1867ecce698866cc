"""Freeze PySCF HF/STO-3G energies of a few G2 species for tests/test_benchmarks_g2.py.

Run from the repository root (needs pyscf and basis-set-exchange):

    python tests/data/make_g2_bench_reference.py

Writes tests/data/g2_bench_reference.json: total energies (Ha) of LiH, H2O, OH and their
atoms H, Li, O at the packaged G2 geometries (dftjax/benchmarks/data/g2/molecules.json),
HF/STO-3G from basis-set-exchange (parsed per element, as dftjax reads it), RHF for
singlets and UHF otherwise, conv_tol 1e-12, with PySCF's internal stability check
followed until stable for the open shells (as dftjax's bench does).
"""

import json
import os

import basis_set_exchange
from pyscf import gto, scf

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "dftjax", "benchmarks", "data", "g2", "molecules.json")
SPECIES = ("LiH", "H2O", "OH", "H", "Li", "O")


def energy(entry):
    basis = {s: gto.basis.parse(basis_set_exchange.get_basis("sto-3g", elements=[s], fmt="nwchem"))
             for s in set(entry["symbols"])}
    mol = gto.M(atom=list(zip(entry["symbols"], entry["positions_angstrom"])), basis=basis,
                charge=entry["charge"], spin=entry["multiplicity"] - 1, verbose=0)
    mf = (scf.RHF if entry["multiplicity"] == 1 else scf.UHF)(mol)
    mf.conv_tol = 1e-12
    mf.kernel()
    if entry["multiplicity"] != 1 and mol.nao > mol.nelec[0]:  # H/STO-3G: nothing to rotate
        for _ in range(10):
            mo, _, stable, _ = mf.stability(return_status=True)
            if stable:
                break
            mf.kernel(mf.make_rdm1(mo, mf.mo_occ))
    assert mf.converged
    return mf.e_tot


if __name__ == "__main__":
    data = json.load(open(DATA))
    entries = {e["name"]: e for e in data["molecules"] + data["atoms"]}
    reference = {name: energy(entries[name]) for name in SPECIES}
    with open(os.path.join(HERE, "g2_bench_reference.json"), "w") as handle:
        json.dump(reference, handle, indent=1)
    print(reference)
