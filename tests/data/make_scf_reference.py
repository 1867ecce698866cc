"""Freeze integrals and PySCF reference numbers for the SCF tests (tests/test_scf_*.py).

Run from the repository root:  python tests/data/make_scf_reference.py
Writes tests/data/scf_reference.npz. PySCF is the oracle here only; the tests
themselves read the npz and never import PySCF.

Per molecule <name> the file holds (atomic units, PySCF AO order, spherical):
  <name>_S, _T, _V (nao, nao); _eri (nao, nao, nao, nao) chemists' (ij|kl);
  _dip_ints (3, nao, nao) = <i|r|j> with origin (0, 0, 0); _e_nuc;
  _ao_ranges (natm, 2) [start, stop); _charges (natm,); _coords (natm, 3) Bohr;
  _nalpha, _nbeta; PySCF's default-run reference _e_tot, _mo_energy, _dipole (a.u.),
  _s2, _mult, and _e_tot_stable after following internal instabilities;
  and per element X present, the isolated-atom integrals _atom_X_{S,T,V,eri}.
"""

import os

import numpy as np
from pyscf import gto, scf

HERE = os.path.dirname(os.path.abspath(__file__))

MOLECULES = {
    # name: (geometry in Angstrom, basis, spin = nalpha - nbeta, restricted)
    "h2o_631g": ("O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692", "6-31g", 0, True),
    "oh_631g": ("O 0 0 0; H 0 0 0.97", "6-31g", 1, False),
    "o2_sto3g": ("O 0 0 0; O 0 0 1.21", "sto-3g", 2, False),
}


def atom_integrals(symbol, basis):
    atom = gto.M(atom=f"{symbol} 0 0 0", basis=basis, spin=None, verbose=0)
    return {
        "S": atom.intor("int1e_ovlp"),
        "T": atom.intor("int1e_kin"),
        "V": atom.intor("int1e_nuc"),
        "eri": atom.intor("int2e"),
    }


def main():
    out = {}
    for name, (geometry, basis, spin, restricted) in MOLECULES.items():
        mol = gto.M(atom=geometry, basis=basis, spin=spin, verbose=0)
        mf = scf.RHF(mol) if restricted else scf.UHF(mol)
        mf.conv_tol = 1e-12
        mf.conv_tol_grad = 1e-9
        mf.kernel()
        assert mf.converged
        # PySCF's default run is the reference the tests match. For O2/sto-3g it is
        # a saddle point: following the internal instability leads to a lower UHF
        # state, frozen as _e_tot_stable for when dftjax gains a stability check.
        reference = {
            f"{name}_e_tot": mf.e_tot,
            f"{name}_mo_energy": np.asarray(mf.mo_energy),
            f"{name}_dipole": mf.dip_moment(unit="au", verbose=0),
        }
        reference[f"{name}_s2"], reference[f"{name}_mult"] = mf.spin_square()
        # The broken-symmetry state has a soft mode: |g| stalls near 3e-9 while E is
        # converged to 1e-13, so the gradient threshold is relaxed for it.
        mf.conv_tol_grad = 1e-7
        for _ in range(5):
            mo_coeff, stable = mf.stability(return_status=True)[0::2]
            if stable:
                break
            mf.kernel(mf.make_rdm1(mo_coeff, mf.mo_occ))
            assert mf.converged
        assert stable
        reference[f"{name}_e_tot_stable"] = mf.e_tot
        out.update({
            f"{name}_S": mol.intor("int1e_ovlp"),
            f"{name}_T": mol.intor("int1e_kin"),
            f"{name}_V": mol.intor("int1e_nuc"),
            f"{name}_eri": mol.intor("int2e"),
            f"{name}_dip_ints": mol.intor("int1e_r"),
            f"{name}_e_nuc": mol.energy_nuc(),
            f"{name}_ao_ranges": mol.aoslice_by_atom()[:, 2:4],
            f"{name}_charges": mol.atom_charges().astype(np.float64),
            f"{name}_coords": mol.atom_coords(),
            f"{name}_symbols": np.array([mol.atom_pure_symbol(i) for i in range(mol.natm)]),
            f"{name}_nalpha": mol.nelec[0],
            f"{name}_nbeta": mol.nelec[1],
        })
        out.update(reference)
        for symbol in sorted(set(mol.atom_pure_symbol(i) for i in range(mol.natm))):
            for key, value in atom_integrals(symbol, basis).items():
                out[f"{name}_atom_{symbol}_{key}"] = value
        print(f"{name}: nao={mol.nao} E={reference[name + '_e_tot']:.12f} stable E={mf.e_tot:.12f}")
    np.savez_compressed(os.path.join(HERE, "scf_reference.npz"), **out)


if __name__ == "__main__":
    main()
