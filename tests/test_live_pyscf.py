"""Live cross-checks against PySCF computed now (marker ``live``; needs the test extra).

Run with ``python -m pytest -m live``. Geometries are randomly displaced so that they
are not the ones frozen in tests/data. PySCF gets exactly the basis data dftjax reads:
each element from basis-set-exchange in NWChem format, parsed separately.
"""

import numpy as np
import pytest

import dftjax
from dftjax.integrals import electron_repulsion, one_electron_matrices, point_charge_matrix

pytestmark = pytest.mark.live

gto = pytest.importorskip("pyscf.gto")
pyscf_scf = pytest.importorskip("pyscf.scf")
bse = pytest.importorskip("basis_set_exchange")

# integrals: 1e-10 absolute, the project tolerance; both codes are exact to ~1e-14
INT_TOL = 1e-10
# energies: 1e-8 Ha, no grid and exact integrals; dftjax converged to conv_tol 1e-10
E_TOL = 1e-8


def pyscf_mol(symbols, coords, basis, cartesian=False, charge=0, multiplicity=1):
    basis_data = {s: gto.basis.parse(bse.get_basis(basis, elements=[s], fmt="nwchem"))
                  for s in set(symbols)}
    return gto.M(atom=[[s, tuple(xyz)] for s, xyz in zip(symbols, coords)], unit="Angstrom",
                 basis=basis_data, cart=cartesian, charge=charge, spin=multiplicity - 1,
                 verbose=0)


def displaced(coords, seed, amplitude=0.05):
    coords = np.asarray(coords, dtype=float)
    return coords + amplitude * np.random.default_rng(seed).uniform(-1, 1, coords.shape)


def test_integrals_formaldehyde_def2svp_cartesian():
    symbols = ["C", "O", "H", "H"]
    coords = displaced([[0, 0, 0], [0, 0, 1.21], [0, 0.94, -0.58], [0, -0.94, -0.58]], seed=1)
    mol = dftjax.Molecule(symbols, coords)
    basis = dftjax.build_basis(mol, "def2-svp", cartesian=True)
    ref = pyscf_mol(symbols, coords, "def2-svp", cartesian=True)
    assert basis.nao == ref.nao
    overlap, kinetic, dipole = one_electron_matrices(basis, mol.coordinates)
    nuclear = point_charge_matrix(basis, mol.coordinates, mol.atomic_numbers.astype(float),
                                  mol.coordinates)
    eri = electron_repulsion(basis, mol.coordinates)
    for name, ours, theirs in [("S", overlap, ref.intor("int1e_ovlp")),
                               ("T", kinetic, ref.intor("int1e_kin")),
                               ("V", nuclear, ref.intor("int1e_nuc")),
                               ("dipole", dipole, ref.intor("int1e_r")),
                               ("eri", eri, ref.intor("int2e"))]:
        error = np.abs(np.asarray(ours) - theirs).max()
        assert error < INT_TOL, f"{name}: max abs error {error:.2e}"


@pytest.mark.parametrize(
    "symbols, coords, basis, charge, multiplicity",
    [
        (["C", "N", "H"], [[0, 0, 0], [0, 0, 1.156], [0, 0, -1.064]], "6-31g", 0, 1),
        (["N", "H", "H"], [[0, 0, 0.15], [0, 0.80, -0.45], [0, -0.80, -0.45]], "sto-3g", 0, 2),
    ],
)
def test_hf_energy(symbols, coords, basis, charge, multiplicity):
    coords = displaced(coords, seed=2)
    ref = pyscf_mol(symbols, coords, basis, charge=charge, multiplicity=multiplicity)
    mf = pyscf_scf.RHF(ref) if multiplicity == 1 else pyscf_scf.UHF(ref)
    mf.conv_tol = 1e-12
    e_ref = mf.kernel()
    assert mf.converged
    mol = dftjax.Molecule(symbols, coords, charge=charge, multiplicity=multiplicity)
    result = dftjax.scf(mol, basis=basis, conv_tol=1e-10)
    assert result.converged
    assert abs(float(result.energy) - e_ref) < E_TOL, (float(result.energy), e_ref)
    dipole_ref = mf.dip_moment(unit="au", verbose=0)
    np.testing.assert_allclose(np.asarray(result.dipole), dipole_ref, atol=1e-6)
