"""Freeze PySCF energies for tests/test_scf_second_order.py.

Run from the repository root (needs pyscf and basis-set-exchange):

    python tests/data/make_second_order_reference.py

Writes tests/data/second_order_reference.json: for each case (G2 geometries from
dftjax/benchmarks/data/g2/molecules.json, basis sets from basis-set-exchange parsed
element by element, as dftjax reads them) PySCF's second-order SCF (``mf.newton()``,
conv_tol 1e-12) total energy in Hartree, and whether it converged.

Cases: the HCO radical, UHF/STO-3G (DIIS is chaotic there: PySCF's and dftjax's
first-order SCF converge or not depending on 1e-12 A of geometry), and formaldehyde
H2CO, RHF/STO-3G.
"""

import json
import os

import basis_set_exchange
from pyscf import gto, scf

HERE = os.path.dirname(os.path.abspath(__file__))
G2 = os.path.join(HERE, "..", "..", "dftjax", "benchmarks", "data", "g2", "molecules.json")

CASES = {"hco_uhf_sto3g": ("HCO", "sto-3g"), "h2co_rhf_sto3g": ("H2CO", "sto-3g")}


def bse_basis(name, symbols):
    return {s: gto.basis.parse(basis_set_exchange.get_basis(name, elements=[s], fmt="nwchem"))
            for s in set(symbols)}


def run(entry, basis):
    atoms = list(zip(entry["symbols"], entry["positions_angstrom"]))
    mol = gto.M(atom=atoms, basis=bse_basis(basis, entry["symbols"]), charge=entry["charge"],
                spin=entry["multiplicity"] - 1, verbose=0)
    mf = (scf.RHF(mol) if entry["multiplicity"] == 1 else scf.UHF(mol)).newton()
    mf.conv_tol = 1e-12
    mf.kernel()
    return {"molecule": entry["name"], "basis": basis, "energy": mf.e_tot,
            "converged": bool(mf.converged)}


def main():
    with open(G2) as handle:
        molecules = {m["name"]: m for m in json.load(handle)["molecules"]}
    out = {name: run(molecules[molecule], basis) for name, (molecule, basis) in CASES.items()}
    with open(os.path.join(HERE, "second_order_reference.json"), "w") as handle:
        json.dump(out, handle, indent=1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
