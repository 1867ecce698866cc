"""Freeze PySCF's lowest orbital-Hessian eigenvalues for tests/test_scf_stability.py.

Run from the repository root (needs pyscf and basis-set-exchange):

    python tests/data/make_stability_reference.py

Writes tests/data/stability_reference.json. For each case PySCF converges the SCF
(conv_tol 1e-12, grid level 3 for Kohn-Sham, small_rho_cutoff 0 as dftjax keeps every
grid point) and builds the operator its ``mf.stability()`` diagonalises:
``newton_ah.gen_g_hop_rhf/uhf`` (``hop(x).real * 2``, scf/stability.py's rhf_internal /
uhf_internal; the XC kernel from libxc) and, for RHF -> UHF, ``_gen_hop_rhf_external``'s
second operator. Here the matrices are built column by column and diagonalised exactly
(Davidson finds the same lowest value). Their normalisation is d^2E/dkappa^2 for the
rotations C -> C exp(kappa - kappa^T), dftjax's convention. Basis sets come from
basis-set-exchange, parsed element by element, as dftjax reads them.

Cases: UHF O2/STO-3G at PySCF's default (saddle-point) state; stretched H2 (2.5 A,
6-31G) RHF and RKS-PBE, internal and external (negative: the RHF -> UHF instability);
NH2/6-31G UKS-PBE (stable).

And the ethoxy radical CH3CH2O (G2 geometry, dftjax/benchmarks/data/g2/molecules.json),
UKS-B3LYP/6-31G: ``energy_default`` the state PySCF's default run converges to (an internal
saddle point, ~2 kcal/mol high) and ``energy`` the stable state after following
``mf.stability()`` (no eigenvalues: its Hessian is too big to build column by column).
"""

import json
import os

import basis_set_exchange
import numpy as np
from pyscf import dft, gto, scf
from pyscf.scf.stability import _gen_hop_rhf_external
from pyscf.soscf import newton_ah

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    "o2_uhf_sto3g": ([("O", (0, 0, 0)), ("O", (0, 0, 1.21))], "sto-3g", 3, "hf"),
    "h2_rhf_631g": ([("H", (0, 0, 0)), ("H", (0, 0, 2.5))], "6-31g", 1, "hf"),
    "h2_rks_pbe_631g": ([("H", (0, 0, 0)), ("H", (0, 0, 2.5))], "6-31g", 1, "pbe"),
    # NH2: r(NH) 1.024 A, angle 103.4 deg
    "nh2_uks_pbe_631g": ([("N", (0, 0, 0)), ("H", (0, 0.8013, -0.6376)),
                          ("H", (0, -0.8013, -0.6376))], "6-31g", 2, "pbe"),
}


def bse_basis(name, symbols):
    return {s: gto.basis.parse(basis_set_exchange.get_basis(name, elements=[s], fmt="nwchem"))
            for s in set(symbols)}


def lowest(operator, size, count=3):
    matrix = np.array([operator(column) for column in np.eye(size)])
    return np.linalg.eigvalsh(0.5 * (matrix + matrix.T))[:count].tolist()


def run(atoms, basis, multiplicity, xc):
    mol = gto.M(atom=atoms, basis=bse_basis(basis, [a for a, _ in atoms]),
                spin=multiplicity - 1, verbose=0)
    restricted = multiplicity == 1
    if xc == "hf":
        mf = scf.RHF(mol) if restricted else scf.UHF(mol)
    else:
        mf = dft.RKS(mol) if restricted else dft.UKS(mol)
        mf.xc, mf.grids.level, mf.small_rho_cutoff = xc, 3, 0
    mf.conv_tol = 1e-12
    mf.kernel()
    out = {"atoms": [[a, list(map(float, xyz))] for a, xyz in atoms], "basis": basis,
           "multiplicity": multiplicity, "xc": xc, "energy": mf.e_tot, "converged": mf.converged}
    if restricted:
        g, hop, _ = newton_ah.gen_g_hop_rhf(mf, mf.mo_coeff, mf.mo_occ)
        out["internal"] = lowest(lambda x: hop(x).real * 2, g.size)
        _, _, hop_external, diagonal = _gen_hop_rhf_external(mf)
        out["external"] = lowest(hop_external, diagonal.size)
    else:
        g, hop, _ = newton_ah.gen_g_hop_uhf(mf, mf.mo_coeff, mf.mo_occ)
        out["internal"] = lowest(lambda x: hop(x).real * 2, g.size)
    return out


def ethoxy(basis):
    data = os.path.join(HERE, "..", "..", "dftjax", "benchmarks", "data", "g2", "molecules.json")
    entry = next(m for m in json.load(open(data))["molecules"] if m["name"] == "CH3CH2O")
    atoms = list(zip(entry["symbols"], entry["positions_angstrom"]))
    mol = gto.M(atom=atoms, basis=bse_basis(basis, entry["symbols"]), spin=1, verbose=0)
    mf = dft.UKS(mol)
    mf.xc, mf.grids.level, mf.small_rho_cutoff, mf.conv_tol = "b3lyp", 3, 0, 1e-10
    default = mf.kernel()
    for _ in range(10):
        mo, _, stable, _ = mf.stability(return_status=True)
        if stable:
            break
        mf.kernel(mf.make_rdm1(mo, mf.mo_occ))
    assert stable and mf.converged
    return {"basis": basis, "xc": "b3lyp", "energy_default": default, "energy": mf.e_tot}


if __name__ == "__main__":
    reference = {name: run(*case) for name, case in CASES.items()}
    reference["ch3ch2o_uks_b3lyp_631g"] = ethoxy("6-31g")
    # def2-SVP: DIIS from the rotated orbitals goes back to the saddle point; the descent
    # (dftjax.scf.second_order.descend_from) is needed
    reference["ch3ch2o_uks_b3lyp_def2svp"] = ethoxy("def2-svp")
    with open(os.path.join(HERE, "stability_reference.json"), "w") as handle:
        json.dump(reference, handle, indent=1)
    print(json.dumps(reference, indent=1))
