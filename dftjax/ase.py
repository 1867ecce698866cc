"""An ASE calculator: dftjax energies and analytic forces for ``ase.Atoms``.

Needs ASE (``pip install "dftjax[ase]"``)::

    from ase.build import molecule
    from ase.optimize import BFGS
    from dftjax.ase import DFTJaxCalculator

    atoms = molecule("H2O")
    atoms.calc = DFTJaxCalculator(basis="def2-svp", xc="b3lyp")
    BFGS(atoms).run(fmax=0.01)          # eV/Angstrom

Units are ASE's: energy in eV (``ase.units.Hartree`` per Hartree), forces in eV/Angstrom,
dipole in e*Angstrom. Positions are read in Angstrom and converted with dftjax's own
Bohr radius (PySCF's), and forces use the same factor, so they are the exact
derivative of the energy the calculator returns. Only molecules: periodic ``Atoms``
are rejected. An SCF that does not converge raises ``ase.calculators.calculator.SCFError``.
"""

import numpy as np
from ase.calculators.calculator import Calculator, SCFError, all_changes
from ase.units import Hartree

from .elements import BOHR_TO_ANGSTROM
from .molecule import Molecule


class DFTJaxCalculator(Calculator):
    """dftjax Hartree-Fock / Kohn-Sham as an ASE calculator.

    Parameters
    ----------
    basis : str
        Basis set name (basis-set-exchange), default "def2-svp".
    xc : str
        "hf" or a functional name, as for :func:`dftjax.scf`; default "hf".
    charge : int
        Total charge; default 0.
    multiplicity : int
        Spin multiplicity 2S+1; default 1.
    **scf_options
        Passed on to :func:`dftjax.scf` (grid_level, conv_tol, unrestricted, ...).

    After a calculation, ``calc.scf_result`` holds the :class:`dftjax.SCFCalculation`.
    """

    implemented_properties = ["energy", "free_energy", "forces", "dipole"]
    default_parameters = {"basis": "def2-svp", "xc": "hf", "charge": 0, "multiplicity": 1}
    # Forces need a tighter SCF than energies: the gradient's error follows the density's.
    default_conv_tol = 1e-10

    def __init__(self, basis="def2-svp", xc="hf", charge=0, multiplicity=1, label=None,
                 **scf_options):
        super().__init__(label=label, basis=basis, xc=xc, charge=charge,
                         multiplicity=multiplicity, **scf_options)
        self.scf_result = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        import dftjax

        super().calculate(atoms, properties, system_changes)
        if any(self.atoms.pbc):
            raise NotImplementedError("DFTJaxCalculator handles molecules only, not periodic "
                                      "systems (set atoms.pbc = False)")
        options = dict(self.parameters)
        molecule = Molecule(self.atoms.get_chemical_symbols(), self.atoms.get_positions(),
                            unit="angstrom", charge=options.pop("charge"),
                            multiplicity=options.pop("multiplicity"))
        options.setdefault("conv_tol", self.default_conv_tol)
        result = dftjax.scf(molecule, **options)
        self.scf_result = result
        if not result.converged:
            raise SCFError(f"dftjax SCF did not converge in {result.iterations} iterations "
                           f"(last energy {float(result.energy):.10f} Ha)")
        energy = float(result.energy) * Hartree
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "dipole": np.asarray(result.dipole, dtype=float) * BOHR_TO_ANGSTROM,
        }
        if "forces" in properties:
            gradient = np.asarray(dftjax.gradient(result), dtype=float)  # Ha/Bohr
            self.results["forces"] = -gradient * (Hartree / BOHR_TO_ANGSTROM)
