"""Reference energies and densities for training, one ``.npz`` file per molecule.

``write_reference(path, molecule, basis=..., method="ccsd(t)")`` runs the correlated
calculation with its relaxed density and stores (atomic units; layout documented in
docs/reference_data.md, read back by :func:`read_reference`):

    format            "dftjax-reference-1"
    name, method, basis   strings; cartesian (bool): spherical (False) or Cartesian AOs
    symbols (natom,), atomic_numbers (natom,), coordinates (natom, 3) Bohr,
    charge, multiplicity, frozen_core (bool), converged (bool)
    energy, scf_energy, correlation_energy   Ha (energy: the method's total)
    dipole (3,)       relaxed dipole, e Bohr about the origin, nuclei included
    density_matrix (nao, nao)   relaxed AO density (total over spins), PySCF AO order of
                      ``dftjax.build_basis(molecule, basis, cartesian=cartesian)``
    grid_level, grid_coords (npts, 3) Bohr, grid_weights (npts,) Bohr^3: the molecule's
                      own dftjax grid (``dftjax.grid.build_grid(molecule, grid_level)``)
    grid_density (npts,)   the relaxed density on those points, electrons / Bohr^3

Run as a script to make the training set (cc-pVTZ CCSD(T): about a minute per molecule
for the closed shells, longer for NO):

    python -m dftjax.correlated.reference_data OUTDIR [--basis cc-pvtz] [--method ccsd(t)]
        [--only h2o nh3 ...]

The files of :data:`TRAINING_SET` in cc-pVTZ ship with the package
(``dftjax/data/reference/cc-pvtz/``, provenance in its README.md):
``read_reference(packaged_reference("h2o"))``.
"""

import argparse
import pathlib

import numpy as np

from ..grid import build_grid
from ..molecule import Molecule
from .driver import run

FORMAT = "dftjax-reference-1"
PACKAGED = pathlib.Path(__file__).resolve().parents[1] / "data" / "reference"

# Geometries in Angstrom (experimental equilibrium structures, NIST CCCBDB) and
# ground-state multiplicities.
TRAINING_SET = {
    "h2o": (["O", "H", "H"], [[0, 0, 0.1173], [0, 0.7572, -0.4692], [0, -0.7572, -0.4692]], 1),
    "nh3": (["N", "H", "H", "H"], [[0, 0, 0.1162], [0, 0.9397, -0.2711],
                                   [0.8138, -0.4699, -0.2711], [-0.8138, -0.4699, -0.2711]], 1),
    "no": (["N", "O"], [[0, 0, 0], [0, 0, 1.1508]], 2),
    "h": (["H"], [[0, 0, 0]], 2),
    "n": (["N"], [[0, 0, 0]], 4),
    "o": (["O"], [[0, 0, 0]], 3),
}


def write_reference(path, molecule: Molecule, basis="cc-pvtz", method="ccsd(t)",
                    name="", frozen_core=False, grid_level=3, **options) -> dict:
    """Compute and write one reference file; returns what was written."""
    result = run(molecule, basis=basis, method=method, frozen_core=frozen_core,
                 relaxed_density=True, **options)
    grid = build_grid(molecule, level=grid_level)
    coords, weights = np.asarray(grid.coords), np.asarray(grid.weights)
    data = {
        "format": FORMAT, "name": name, "method": result.method, "basis": basis,
        "cartesian": False,  # the correlated run builds spherical functions
        "symbols": np.array(molecule.symbols), "atomic_numbers": molecule.atomic_numbers,
        "coordinates": molecule.coordinates, "charge": molecule.charge,
        "multiplicity": molecule.multiplicity, "frozen_core": frozen_core,
        "converged": result.converged, "energy": result.energy,
        "scf_energy": result.scf_energy, "correlation_energy": result.correlation_energy,
        "dipole": result.dipole, "density_matrix": result.density,
        "grid_level": grid_level, "grid_coords": coords, "grid_weights": weights,
        "grid_density": result.density_on_points(coords),
    }
    np.savez_compressed(path, **data)
    return data


def packaged_reference(name, basis="cc-pvtz") -> pathlib.Path:
    """Path of a reference file shipped with dftjax, e.g. ("h2o", "cc-pvtz")."""
    path = PACKAGED / basis.lower() / f"{name.lower()}.npz"
    if not path.is_file():
        shipped = sorted(p.relative_to(PACKAGED).with_suffix("").as_posix()
                         for p in PACKAGED.glob("*/*.npz"))
        raise FileNotFoundError(f"no packaged reference '{name}' in {basis}; shipped: "
                                f"{', '.join(shipped) or 'none'}")
    return path


def read_reference(path) -> dict:
    """The arrays of a reference file, scalars as Python numbers and strings."""
    with np.load(path) as stored:
        if str(stored["format"]) != FORMAT:
            raise ValueError(f"{path}: not a {FORMAT} file (format {stored['format']})")
        return {key: (value.item() if value.ndim == 0 else value)
                for key, value in stored.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write correlated reference .npz files")
    parser.add_argument("outdir")
    parser.add_argument("--basis", default="cc-pvtz")
    parser.add_argument("--method", default="ccsd(t)")
    parser.add_argument("--grid-level", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=list(TRAINING_SET))
    args = parser.parse_args(argv)
    outdir = pathlib.Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        symbols, coords, multiplicity = TRAINING_SET[name]
        mol = Molecule(symbols, coords, multiplicity=multiplicity)
        data = write_reference(outdir / f"{name}.npz", mol, args.basis, args.method, name,
                               grid_level=args.grid_level)
        electrons = float(np.dot(data["grid_weights"], data["grid_density"]))
        print(f"{name}: E = {data['energy']:.10f} Ha, converged {data['converged']}, "
              f"dipole {np.round(data['dipole'], 6)}, grid electrons {electrons:.6f}")


if __name__ == "__main__":
    main()
