"""Freeze PySCF MP2, CCSD and CCSD(T) energies for tests/test_correlated_*.py.

Run from the repository root:  python tests/data/make_correlated_reference.py
Writes tests/data/correlated_reference.json. PySCF is the oracle only; the tests read
the JSON and never import PySCF.

Each basis is read from basis-set-exchange element by element (PySCF's internal copies
of some bases differ slightly from the BSE data dftjax uses), and the geometry is the
one stored (Angstrom). The SCF is converged to 1e-12 Ha, the amplitudes to 1e-10 Ha
with residual norms 1e-9, so the frozen numbers carry ~1e-10 Ha.

Per case: symbols, coords (Angstrom), charge, multiplicity, basis, reference (RHF for
singlets, UHF otherwise), frozen_core, and e_scf, e_mp2, e_ccsd, e_ccsd_t (totals, Ha),
plus ncore (PySCF's chemcore count per spin).
"""

import json
import os

import basis_set_exchange
from pyscf import cc, gto, mp, scf
from pyscf.data.elements import chemcore

HERE = os.path.dirname(os.path.abspath(__file__))

GEOMETRIES = {
    "h2o": (["O", "H", "H"], [[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]], 0, 1),
    "nh3": (["N", "H", "H", "H"], [[0, 0, 0.1162], [0, 0.9397, -0.2711],
                                   [0.8138, -0.4699, -0.2711], [-0.8138, -0.4699, -0.2711]], 0, 1),
    "no": (["N", "O"], [[0, 0, 0], [0, 0, 1.1508]], 0, 2),
    "ch2": (["C", "H", "H"], [[0, 0, 0.1027], [0, 0.9955, -0.3081], [0, -0.9955, -0.3081]], 0, 3),
    "o": (["O"], [[0, 0, 0]], 0, 3),
}

CASES = {
    # name: (geometry, basis, frozen_core)
    "h2o_sto3g": ("h2o", "sto-3g", False),
    "h2o_631g": ("h2o", "6-31g", False),
    "h2o_631g_fc": ("h2o", "6-31g", True),
    "nh3_631g": ("nh3", "6-31g", False),
    "no_631g": ("no", "6-31g", False),
    "no_631g_fc": ("no", "6-31g", True),
    "ch2_631g": ("ch2", "6-31g", False),
    "ch2_631g_fc": ("ch2", "6-31g", True),
    "o_631g": ("o", "6-31g", False),
    "o_ccpvdz_fc": ("o", "cc-pvdz", True),
}


def pyscf_mol(symbols, coords, basis, charge, multiplicity):
    parsed = {s: gto.basis.parse(basis_set_exchange.get_basis(basis, elements=[s], fmt="nwchem"))
              for s in sorted(set(symbols))}
    return gto.M(atom=[[s, xyz] for s, xyz in zip(symbols, coords)], unit="Angstrom",
                 basis=parsed, charge=charge, spin=multiplicity - 1, verbose=0)


def main():
    out = {}
    for name, (geometry, basis, frozen_core) in CASES.items():
        symbols, coords, charge, multiplicity = GEOMETRIES[geometry]
        mol = pyscf_mol(symbols, coords, basis, charge, multiplicity)
        mf = scf.RHF(mol) if multiplicity == 1 else scf.UHF(mol)
        mf.conv_tol = 1e-12
        mf.conv_tol_grad = 1e-8
        mf.kernel()
        assert mf.converged
        ncore = chemcore(mol) if frozen_core else 0
        frozen = ncore if ncore else None
        pt = mp.MP2(mf, frozen=frozen)
        pt.kernel()
        coupled = cc.CCSD(mf, frozen=frozen)
        coupled.conv_tol = 1e-11
        coupled.conv_tol_normt = 1e-9
        coupled.max_cycle = 200
        coupled.kernel()
        assert coupled.converged
        e_t = coupled.ccsd_t()
        out[name] = {
            "symbols": symbols, "coords": coords, "charge": charge,
            "multiplicity": multiplicity, "basis": basis,
            "reference": "rhf" if multiplicity == 1 else "uhf",
            "frozen_core": frozen_core, "ncore": ncore,
            "e_scf": mf.e_tot, "e_mp2": pt.e_tot, "e_ccsd": coupled.e_tot,
            "e_ccsd_t": coupled.e_tot + e_t,
        }
        print(f"{name}: nao={mol.nao} ncore={ncore} E_scf={mf.e_tot:.10f} "
              f"E_mp2={pt.e_tot:.10f} E_ccsd={coupled.e_tot:.10f} E_t={e_t:.10f}")
    with open(os.path.join(HERE, "correlated_reference.json"), "w") as handle:
        json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
