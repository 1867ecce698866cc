"""Freeze PySCF density-fitted nuclear gradients for tests/test_gradients.py.

Run from the repository root (needs pyscf with libxc and basis-set-exchange):

    python tests/data/make_df_gradient_references.py

Writes tests/data/df_gradient_reference.json. The tests never import PySCF.

PySCF gets exactly what dftjax computes with (the conventions of make_df_references.py
and make_gradient_references.py): each element's orbital and auxiliary basis from
basis-set-exchange in NWChem format, parsed by ``gto.basis.parse`` on its own; the same
coordinates in Angstrom, converted by PySCF's factor; spherical functions; the auxiliary
basis dftjax picks by default for the basis and method (``auxbasis`` in every entry),
given explicitly to ``mf.density_fit(auxbasis=...)``; Kohn-Sham on ``grids.level`` 3 with
every grid point kept (``small_rho_cutoff = 0``). SCF ``conv_tol = 1e-12``,
``conv_tol_grad = 1e-8``. Gradients from ``mf.nuc_grad_method()`` (PySCF's density-fitted
gradients: three-centre and metric derivatives, auxiliary functions moving with their
atoms, ``auxbasis_response`` on by default); for DFT with ``g.grid_response = True``, the
exact derivative of the energy on the moving grid that dftjax differentiates.

JSON layout (atomic units unless the key says otherwise): ``gradients``: name -> symbols,
coords (Angstrom), basis, auxbasis, xc, charge, multiplicity, unrestricted, grid_level
(null for HF), nao, naux, energy (Ha), gradient dE/dR (natom, 3) Ha/Bohr.
"""

import basis_set_exchange as bse
import numpy as np
import pyscf
from pyscf import dft, gto, scf
from reference_json import write_reference

CONV_TOL = 1e-12
CONV_TOL_GRAD = 1e-8

# Distorted geometries (Angstrom), as in make_gradient_references.py.
WATER = [("O", (0.0, 0.02, 0.12)), ("H", (0.03, 0.80, -0.47)), ("H", (-0.02, -0.74, -0.44))]
OH = [("O", (0.0, 0.0, 0.0)), ("H", (0.26, 0.36, 0.92))]
NH2 = [("N", (0.0, 0.0, 0.0)), ("H", (0.05, 0.80, -0.64)), ("H", (0.0, -0.85, -0.60))]

# name -> (atoms, basis, auxbasis, xc, multiplicity, unrestricted, grid_level)
CASES = {
    "water_sto3g_rhf_df": (WATER, "sto-3g", "def2-universal-jkfit", "hf", 1, False, None),
    "water_def2svp_rhf_df": (WATER, "def2-svp", "def2-universal-jkfit", "hf", 1, False, None),
    "oh_def2svp_uhf_df": (OH, "def2-svp", "def2-universal-jkfit", "hf", 2, True, None),
    "water_def2svp_b3lyp_df": (WATER, "def2-svp", "def2-universal-jkfit", "b3lyp", 1, False, 3),
    "nh2_sto3g_b3lyp_uks_df": (NH2, "sto-3g", "def2-universal-jkfit", "b3lyp", 2, True, 3),
    "water_def2svp_pbe_df": (WATER, "def2-svp", "def2-universal-jfit", "pbe", 1, False, 3),
}


def parse(name, symbol):
    return gto.basis.parse(bse.get_basis(name, elements=[symbol], fmt="nwchem"))


def reference(atoms, basis, auxbasis, xc, multiplicity, unrestricted, grid_level):
    symbols = [s for s, _ in atoms]
    elements = sorted(set(symbols))
    mol = gto.M(atom=[[s, xyz] for s, xyz in atoms], unit="Angstrom",
                basis={e: parse(basis, e) for e in elements}, spin=multiplicity - 1, verbose=0)
    if xc == "hf":
        mf = scf.UHF(mol) if unrestricted else scf.RHF(mol)
    else:
        mf = dft.UKS(mol) if unrestricted else dft.RKS(mol)
        mf.xc = xc
        mf.grids.level = grid_level
        mf.small_rho_cutoff = 0.0
    mf = mf.density_fit(auxbasis={e: parse(auxbasis, e) for e in elements})
    mf.conv_tol = CONV_TOL
    mf.conv_tol_grad = CONV_TOL_GRAD
    mf.max_cycle = 200
    mf.kernel()
    assert mf.converged, f"{basis} {xc} did not converge"
    g = mf.nuc_grad_method()
    if xc != "hf":
        g.grid_response = True
    grad = np.asarray(g.kernel())
    return {"symbols": symbols, "coords": [list(xyz) for _, xyz in atoms], "basis": basis,
            "auxbasis": auxbasis, "xc": xc, "charge": 0, "multiplicity": multiplicity,
            "unrestricted": unrestricted, "grid_level": grid_level, "nao": mol.nao,
            "naux": mf.with_df.get_naoaux(), "energy": float(mf.e_tot),
            "gradient": grad.tolist()}


def main():
    out = {"meta": {"pyscf": pyscf.__version__, "basis_set_exchange": bse.version(),
                    "conv_tol": CONV_TOL, "conv_tol_grad": CONV_TOL_GRAD,
                    "units": "coords Angstrom; energy Ha; gradient Ha/Bohr (dE/dR)"},
           "gradients": {}}
    for name, spec in CASES.items():
        entry = reference(*spec)
        out["gradients"][name] = entry
        print(f"  {name}: nao={entry['nao']} naux={entry['naux']} E={entry['energy']:.10f} "
              f"|g|max={np.max(np.abs(entry['gradient'])):.4f}", flush=True)
    write_reference("df_gradient_reference.json", out)


if __name__ == "__main__":
    main()
