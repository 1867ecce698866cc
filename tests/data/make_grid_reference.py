"""Freeze PySCF integration grids and AO values for tests/test_grid_*.py.

Run from the repository root (needs pyscf and basis-set-exchange):

    python tests/data/make_grid_reference.py

Writes tests/data/grid_reference.npz; the tests never import PySCF. Grids are PySCF's
``dft.gen_grid.Grids(mol)`` with ``grids.level = L`` and every other setting default
(Treutler-Ahlrichs radial grids with atom-specific xi, NWChem pruning, Becke partition
with Treutler's radii adjustment). PySCF's zero-weight padding points (``atm_idx == -1``)
are dropped. Basis data for the AO values is basis-set-exchange's, parsed by
``gto.basis.parse`` per element, as dftjax reads it. Atomic units throughout.

Contents:
  level_radial, level_angular   (10, 103) int: PySCF's (n_radial, n_angular) for
                                level 0..9 and Z = 1..103
  element_Z                     (nel,) elements whose bare atomic grids are stored
  element_npts, element_moments (10, nel), (10, nel, 2): per level, the number of points
                                of the atomic grid (no Becke partition) and
                                sum w exp(-r), sum w exp(-r/4) cos(k . r), k = ELEMENT_K
  <mol>_symbols, <mol>_coords   element symbols and coordinates (Bohr)
  <mol>_L<level>_moments        (natom, 8) per owning atom: count, sum w, sum w x,
                                sum w y, sum w z, sum w |r|^2, sum w exp(-|r - R_A|^2),
                                sum w cos(k . r), k = MOLECULE_K; levels 0..9
  water_L<level>_atom, _coords, _weights   full grids for levels 0 and 1
  water_def2svp_S               (nao, nao) PySCF overlap matrix, def2-SVP
  ao_<case>_points, ao_<case>   (200, 3) points and eval_gto values (ncomp, 200, nao)
                                with cases water_def2svp (sph, deriv 2),
                                water_def2svp_cart (cart, deriv 2), hf_ccpvtz (sph,
                                deriv 2), hf_ccpvtz_cart (cart, deriv 1)
"""

import os
import sys

import basis_set_exchange
import numpy as np
from pyscf import dft, gto
from pyscf.data import elements
from pyscf.dft import gen_grid, radi

HERE = os.path.dirname(os.path.abspath(__file__))
ELEMENT_K = np.array((0.7, 1.3, 2.1))
MOLECULE_K = np.array((0.9, -0.6, 1.7))
MAX_Z = 103

# Angstrom; slightly non-symmetric so no moment vanishes by symmetry.
MOLECULES = {
    "water": [("O", (0.010, -0.020, 0.1173)), ("H", (0.030, 0.7572, -0.4692)),
              ("H", (-0.020, -0.7400, -0.4800))],
    # Not a molecule: four rows of the periodic table (H, Li, Cl, Br) near each other.
    "hlicl_br": [("H", (0.0, 0.0, 0.0)), ("Li", (0.1, 0.2, 1.6)), ("Cl", (1.5, -0.3, 2.5)),
                 ("Br", (-1.0, 1.0, -1.2))],
}
HYDROGEN_FLUORIDE = [("F", (0.0, 0.0, 0.0)), ("H", (0.020, -0.010, 0.917))]
ELEMENTS = (1, 2, 3, 6, 8, 10, 11, 17, 18, 19, 26, 35, 36, 37, 53, 55, 79, 86, 87, 92, 103)


def pyscf_mol(atoms, basis="sto-3g", cartesian=False):
    symbols = sorted({s for s, _ in atoms})
    parsed = {s: gto.basis.parse(basis_set_exchange.get_basis(basis, elements=[s], fmt="nwchem"))
              for s in symbols}
    nelectron = sum(gto.charge(s) for s, _ in atoms)
    return gto.M(atom=atoms, unit="Angstrom", basis=parsed, cart=cartesian,
                 spin=nelectron % 2, verbose=0)


def pyscf_grid(mol, level):
    grids = dft.gen_grid.Grids(mol)
    grids.level = level
    grids.build()
    keep = grids.atm_idx >= 0
    return grids.atm_idx[keep], grids.coords[keep], grids.weights[keep]


def molecule_moments(atom, coords, weights, atom_coords):
    rows = []
    for a in range(len(atom_coords)):
        mine = atom == a
        c, w = coords[mine], weights[mine]
        rows.append([
            mine.sum(), w.sum(), w @ c[:, 0], w @ c[:, 1], w @ c[:, 2],
            w @ (c**2).sum(axis=1),
            w @ np.exp(-((c - atom_coords[a]) ** 2).sum(axis=1)),
            w @ np.cos(c @ MOLECULE_K),
        ])
    return np.array(rows)


class _BareAtom:
    """What gen_atomic_grids reads of a Mole, for one atom of any element (no basis)."""

    natm = 1
    verbose = 0
    stdout = sys.stdout

    def __init__(self, z):
        self.symbol = elements.ELEMENTS[z]

    def atom_symbol(self, index):
        return self.symbol


def element_tables(out):
    levels = range(10)
    out["level_radial"] = np.array([[gen_grid._default_rad(z, L) for z in range(1, MAX_Z + 1)]
                                    for L in levels])
    out["level_angular"] = np.array([[gen_grid._default_ang(z, L) for z in range(1, MAX_Z + 1)]
                                     for L in levels])
    npts = np.zeros((10, len(ELEMENTS)), dtype=np.int64)
    moments = np.zeros((10, len(ELEMENTS), 2))
    for L in levels:
        for i, z in enumerate(ELEMENTS):
            atom = _BareAtom(z)
            coords, vol = gen_grid.gen_atomic_grids(atom, radi_method=radi.treutler, level=L,
                                                    prune=gen_grid.nwchem_prune)[atom.symbol]
            r = np.linalg.norm(coords, axis=1)
            npts[L, i] = len(vol)
            moments[L, i] = (vol @ np.exp(-r), vol @ (np.exp(-r / 4) * np.cos(coords @ ELEMENT_K)))
    out["element_Z"] = np.array(ELEMENTS)
    out["element_npts"] = npts
    out["element_moments"] = moments


def main():
    out = {"element_k": ELEMENT_K, "molecule_k": MOLECULE_K}
    element_tables(out)
    for name, atoms in MOLECULES.items():
        mol = pyscf_mol(atoms)
        out[f"{name}_symbols"] = np.array([s for s, _ in atoms])
        out[f"{name}_coords"] = mol.atom_coords()
        for level in range(10):
            atom, coords, weights = pyscf_grid(mol, level)
            out[f"{name}_L{level}_moments"] = molecule_moments(atom, coords, weights,
                                                              mol.atom_coords())
            if name == "water" and level <= 1:
                out[f"water_L{level}_atom"] = atom
                out[f"water_L{level}_coords"] = coords
                out[f"water_L{level}_weights"] = weights
    out["water_def2svp_S"] = pyscf_mol(MOLECULES["water"], "def2-svp").intor("int1e_ovlp")

    rng = np.random.default_rng(20240607)
    ao_cases = {
        "water_def2svp": (MOLECULES["water"], "def2-svp", False, 2),
        "water_def2svp_cart": (MOLECULES["water"], "def2-svp", True, 2),
        "hf_ccpvtz": (HYDROGEN_FLUORIDE, "cc-pvtz", False, 2),
        "hf_ccpvtz_cart": (HYDROGEN_FLUORIDE, "cc-pvtz", True, 1),
    }
    for name, (atoms, basis, cartesian, deriv) in ao_cases.items():
        mol = pyscf_mol(atoms, basis, cartesian)
        centres = mol.atom_coords()[rng.integers(0, mol.natm, 200)]
        scale = rng.choice([0.1, 0.5, 1.5, 3.0], size=(200, 1))
        points = centres + scale * rng.normal(size=(200, 3))
        kind = f"GTOval_{'cart' if cartesian else 'sph'}_deriv{deriv}"
        out[f"ao_{name}_points"] = points
        out[f"ao_{name}"] = mol.eval_gto(kind, points)

    path = os.path.join(HERE, "grid_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
