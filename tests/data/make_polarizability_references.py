"""Freeze PySCF static dipole polarizabilities for tests/test_implicit.py.

Run from the repository root (needs pyscf with libxc and basis-set-exchange):

    python tests/data/make_polarizability_references.py

Writes tests/data/polarizability_reference.json. The tests never import PySCF.

Method: finite field on the PySCF side (PySCF's analytic ``pyscf.prop.polarizability``
lives in the separate pyscf-properties package). A uniform field F adds F . <i|r|j> to
the core Hamiltonian (PySCF's ``int1e_r``, origin at zero), as dftjax's field does; the
dipole mu(F) (``mf.dip_moment(unit="au")``, origin at zero) of the SCF converged to
conv_tol 1e-13, conv_tol_grad 1e-10 from the zero-field density gives
alpha_ij = d mu_i / d F_j by the five-point stencil
(-mu(2h) + 8 mu(h) - 8 mu(-h) + mu(-2h)) / 12h with h = 1e-3 au: truncation O(h^4 mu^(5))
~ 1e-10 au and rounding ~ (1e-11 / h) ~ 1e-8 au for alpha of a few au, well inside
the tests' 1e-6 relative tolerance.

Sign: with h -> h + F . r, the energy is E0 - F . mu - 1/2 F alpha F and
mu(F) = mu0 + alpha F, so alpha = +d mu / d F (positive definite).

PySCF gets exactly what dftjax computes with (as make_ks_reference.py): each element's
basis from basis-set-exchange in NWChem format parsed on its own, the same coordinates
(Angstrom), spherical functions, ``grids.level`` as given with every grid point kept
(``small_rho_cutoff = 0``).

JSON: ``polarizabilities``: name -> symbols, coords (Angstrom), basis, xc, grid_level,
charge, multiplicity, energy (Ha, zero field), dipole (3,) au, polarizability (3, 3) au,
field_step (au).
"""

import basis_set_exchange as bse
import numpy as np
import pyscf
from pyscf import dft, gto, scf
from reference_json import write_reference

STEP = 1e-3

WATER = [("O", (0.0, 0.02, 0.12)), ("H", (0.03, 0.80, -0.47)), ("H", (-0.02, -0.74, -0.44))]

# name -> (atoms, basis, xc, grid_level)
CASES = {
    "water_sto3g_rhf": (WATER, "sto-3g", "hf", None),
    "water_sto3g_b3lyp": (WATER, "sto-3g", "b3lyp", 1),
}


def mean_field(mol, xc, grid_level):
    if xc == "hf":
        mf = scf.RHF(mol)
    else:
        mf = dft.RKS(mol)
        mf.xc = xc
        mf.grids.level = grid_level
        mf.small_rho_cutoff = 0.0
    mf.conv_tol = 1e-13
    mf.conv_tol_grad = 1e-10
    mf.max_cycle = 200
    return mf


def dipole_in_field(mol, xc, grid_level, field, dm0):
    mf = mean_field(mol, xc, grid_level)
    h = mf.get_hcore() + np.einsum("x,xij->ij", field, mol.intor("int1e_r"))
    mf.get_hcore = lambda *args: h
    mf.kernel(dm0=dm0)
    assert mf.converged
    return np.asarray(mf.dip_moment(unit="au", verbose=0))


def reference(atoms, basis, xc, grid_level):
    symbols = [s for s, _ in atoms]
    mol = gto.M(atom=[[s, xyz] for s, xyz in atoms], unit="Angstrom", verbose=0,
                basis={e: gto.basis.parse(bse.get_basis(basis, elements=[e], fmt="nwchem"))
                       for e in sorted(set(symbols))})
    mf = mean_field(mol, xc, grid_level)
    mf.kernel()
    assert mf.converged
    dm0 = mf.make_rdm1()
    alpha = np.zeros((3, 3))
    for j in range(3):
        unit = np.eye(3)[j]
        mu = {k: dipole_in_field(mol, xc, grid_level, k * STEP * unit, dm0) for k in (-2, -1, 1, 2)}
        alpha[:, j] = (-mu[2] + 8 * mu[1] - 8 * mu[-1] + mu[-2]) / (12 * STEP)
    return {"symbols": symbols, "coords": [list(xyz) for _, xyz in atoms], "basis": basis,
            "xc": xc, "grid_level": grid_level, "charge": 0, "multiplicity": 1,
            "energy": float(mf.e_tot), "dipole": np.asarray(mf.dip_moment(unit="au", verbose=0)).tolist(),
            "polarizability": alpha.tolist(), "field_step": STEP}


def main():
    out = {"meta": {"pyscf": pyscf.__version__, "basis_set_exchange": bse.version(),
                    "method": "finite field, five-point stencil",
                    "units": "coords Angstrom; energy Ha; dipole and polarizability au"},
           "polarizabilities": {}}
    for name, spec in CASES.items():
        entry = reference(*spec)
        out["polarizabilities"][name] = entry
        a = np.asarray(entry["polarizability"])
        print(f"  {name}: E={entry['energy']:.10f} alpha diag={np.diag(a)} "
              f"asym={np.max(np.abs(a - a.T)):.1e}", flush=True)
    write_reference("polarizability_reference.json", out)


if __name__ == "__main__":
    main()
