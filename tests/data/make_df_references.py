"""Freeze PySCF density-fitting references for tests/test_density_fit.py.

Run from the repository root (needs pyscf with libxc and basis-set-exchange):

    python tests/data/make_df_references.py

Writes
  tests/data/df_integrals.npz   three-centre (ij|P) (``df.incore.aux_e2``, int3c2e, packed
                                i >= j as PySCF's aosym='s2ij') and
                                two-centre (P|Q) (``auxmol.intor('int2c2e')``, P >= Q) integrals,
                                plain and long-range (omega = 0.3, PySCF's ``mol.omega``);
  tests/data/df_reference.json  density-fitted SCF energies (``mf.density_fit(auxbasis=...)``),
                                PySCF's default auxiliary-basis choices and even-tempered
                                (ETB) specifications.
The tests never import PySCF.

PySCF gets exactly what dftjax computes with: each element's orbital and auxiliary basis
from basis-set-exchange in NWChem format, parsed by ``gto.basis.parse`` on its own
(cc-pVDZ-JKFIT, which basis-set-exchange lacks, is cc-pVTZ-JKFIT without its highest
angular momentum, as dftjax builds it; PySCF's own file has the same exponents to 8-9
digits); the same Bohr coordinates; auxiliary functions spherical unless the orbital
basis is Cartesian (PySCF's auxmol copies ``mol.cart``). SCFs: conv_tol 1e-11, Kohn-Sham on
``grids.level`` 3 with every grid point kept (PySCF 2.14's default small_rho_cutoff 0).

The default auxiliary-basis choices are what ``mf.density_fit()`` picks for a molecule
whose ``mol.basis`` is the basis *name* (PySCF's own basis library), HF or the
functional: DEFAULT_AUXBASIS table, basis-set-exchange recommendations, Pople roots, and
even-tempered functions (``df.addons._aug_etb_element`` with beta 2) where none applies.
"""

import json
from pathlib import Path

import basis_set_exchange as bse
import numpy as np
import pyscf
from pyscf import df, dft, gto, scf
from pyscf.df import addons

HERE = Path(__file__).resolve().parent

# Bohr. Water bent and slightly asymmetric (no symmetry zeros in the integrals).
WATER = [("O", (0.0, 0.0, 0.2217)), ("H", (0.0, 1.4309, -0.8867)), ("H", (0.12, -1.4309, -0.8867))]
OH = [("O", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, 1.8330))]
NH3 = [("N", (0.0, 0.0, 0.1890)), ("H", (0.0, 1.7763, -0.4724)),
       ("H", (1.5383, -0.8882, -0.4724)), ("H", (-1.5383, -0.8882, -0.4724))]
MOLECULES = {"water": WATER, "oh": OH, "nh3": NH3}

# name, molecule, basis, auxbasis, cartesian, omega
INTEGRAL_CASES = [
    ("water_svp", "water", "def2-svp", "def2-universal-jkfit", False, 0.0),
    ("water_dz_cart", "water", "cc-pvdz", "cc-pvdz-jkfit", True, 0.0),
    ("water_svp_lr", "water", "def2-svp", "def2-universal-jkfit", False, 0.3),
    ("oh_sto3g_jfit", "oh", "sto-3g", "def2-universal-jfit", False, 0.0),
]

# name, molecule, multiplicity, basis, xc, auxbasis, unrestricted
ENERGY_CASES = [
    ("water_rhf_svp", "water", 1, "def2-svp", "hf", "def2-universal-jkfit", False),
    ("oh_uhf_svp", "oh", 2, "def2-svp", "hf", "def2-universal-jkfit", True),
    ("nh3_rks_b3lyp_dz", "nh3", 1, "cc-pvdz", "b3lyp", "cc-pvdz-jkfit", False),
    ("water_rks_wb97x_svp", "water", 1, "def2-svp", "wb97x", "def2-universal-jkfit", False),
    ("oh_uks_pbe_svp", "oh", 2, "def2-svp", "pbe", "def2-universal-jfit", True),
    ("oh_uks_camb3lyp_svp", "oh", 2, "def2-svp", "cam-b3lyp", "def2-universal-jkfit", True),
    ("water_uks_pbe0_dz", "water", 1, "cc-pvdz", "pbe0", "cc-pvdz-jkfit", True),
    ("water_rhf_sto3g_etb", "water", 1, "sto-3g", "hf", "etb", False),
]

DEFAULT_CASES = [(basis, xc) for basis in
                 ("def2-svp", "def2-tzvp", "cc-pvdz", "cc-pvtz", "sto-3g", "3-21g", "6-31g*",
                  "6-311g**", "pcseg-1", "sto-6g")
                 for xc in ("hf", "b3lyp", "pbe", "wb97x")]

ETB_CASES = [("pcseg-1", "O"), ("pcseg-1", "H"), ("sto-6g", "C"), ("def2-svp", "Fe"),
             ("6-31g*", "Cl"), ("cc-pvtz", "Na")]


def parse(name, element):
    if name == "cc-pvdz-jkfit":
        shells = gto.basis.parse(bse.get_basis("cc-pvtz-jkfit", elements=[element], fmt="nwchem"))
        top = max(s[0] for s in shells)
        return [s for s in shells if s[0] < top]
    return gto.basis.parse(bse.get_basis(name, elements=[element], fmt="nwchem"))


def molecule(name, basis, cartesian=False, spin=0):
    atoms = MOLECULES[name]
    elements = sorted({a for a, _ in atoms})
    return gto.M(atom=atoms, unit="bohr", basis={e: parse(basis, e) for e in elements},
                 cart=cartesian, spin=spin, verbose=0)


def auxiliary(mol, auxbasis):
    elements = sorted(set(mol.elements))
    if auxbasis == "etb":
        return addons.aug_etb(mol)
    return {e: parse(auxbasis, e) for e in elements}


def integrals():
    out = {}
    for name, mol_name, basis, auxbasis, cartesian, omega in INTEGRAL_CASES:
        nelectron = sum(gto.charge(a) for a, _ in MOLECULES[mol_name])
        mol = molecule(mol_name, basis, cartesian, spin=nelectron % 2)
        auxmol = df.addons.make_auxmol(mol, auxiliary(mol, auxbasis))
        mol.omega = omega
        auxmol.omega = omega
        # (ij|P) = (ji|P): the lower triangle i >= j only, (nao (nao + 1) / 2, naux)
        out[f"{name}_3c"] = df.incore.aux_e2(mol, auxmol, "int3c2e", aosym="s2ij")
        out[f"{name}_2c"] = auxmol.intor("int2c2e")[np.tril_indices(auxmol.nao)]  # symmetric
        print(name, out[f"{name}_3c"].shape, out[f"{name}_2c"].shape)
    np.savez_compressed(HERE / "df_integrals.npz", **out)
    return [dict(zip(("name", "molecule", "basis", "auxbasis", "cartesian", "omega"), c))
            for c in INTEGRAL_CASES]


def energies():
    out = []
    for name, mol_name, multiplicity, basis, xc, auxbasis, unrestricted in ENERGY_CASES:
        mol = molecule(mol_name, basis, spin=multiplicity - 1)
        if xc == "hf":
            mf = scf.UHF(mol) if unrestricted else scf.RHF(mol)
        else:
            mf = dft.UKS(mol) if unrestricted else dft.RKS(mol)
            mf.xc = xc
            mf.grids.level = 3
            mf.small_rho_cutoff = 0
        mf = mf.density_fit(auxbasis=auxiliary(mol, auxbasis))
        mf.conv_tol = 1e-11
        mf.max_cycle = 200
        energy = mf.kernel()
        if not mf.converged:  # DIIS stalling at 1e-11: finish with second order
            mf = mf.newton()
            energy = mf.kernel(mf.make_rdm1())
        assert mf.converged, name
        if unrestricted:  # an internally stable state, as the KS references
            for _ in range(5):
                mo, _, stable, _ = mf.stability(return_status=True)
                if stable:
                    break
                energy = mf.kernel(mf.make_rdm1(mo, mf.mo_occ))
        out.append({"name": name, "molecule": mol_name, "multiplicity": multiplicity,
                    "basis": basis, "xc": xc, "auxbasis": auxbasis,
                    "unrestricted": unrestricted, "energy": float(energy),
                    "naux": int(mf.with_df.auxmol.nao), "nao": int(mol.nao)})
        print(name, energy)
    return out


def defaults():
    out = []
    for basis, xc in DEFAULT_CASES:
        mol = gto.M(atom="O 0 0 0; H 0 0 1; H 0 1 0", basis=basis, verbose=0)
        if xc == "hf":
            mf = scf.RHF(mol).density_fit()
        else:
            mf = dft.RKS(mol)
            mf.xc = xc
            mf = mf.density_fit()
        chosen = mf.with_df.auxbasis
        if chosen is None:
            chosen = addons.make_auxbasis(mol)
        if isinstance(chosen, str):
            chosen = {"O": chosen, "H": chosen}
        names = {k: (v if isinstance(v, str) else "etb") for k, v in chosen.items()}
        out.append({"basis": basis, "xc": xc, "auxbasis": names})
    return out


def etb_specs():
    out = []
    for basis, element in ETB_CASES:
        spec = addons._aug_etb_element(gto.charge(element), parse(basis, element), 2.0)
        out.append({"basis": basis, "element": element,
                    "spec": [[int(l), int(n), float(e), float(b)] for l, n, e, b in spec]})
    return out


def main():
    record = {
        "pyscf_version": pyscf.__version__,
        "basis_set_exchange_version": bse.version(),
        "molecules_bohr": {k: [[a, list(c)] for a, c in v] for k, v in MOLECULES.items()},
        "integrals": integrals(),
        "energies": energies(),
        "defaults": defaults(),
        "etb": etb_specs(),
    }
    (HERE / "df_reference.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
