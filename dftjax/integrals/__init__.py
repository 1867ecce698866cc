"""Gaussian integrals by McMurchie-Davidson, vectorised per angular-momentum class.

Public functions take a :class:`~dftjax.basis.BasisSet` and coordinates (Bohr, (natom, 3))
and return dense matrices in PySCF's AO order, in Hartree atomic units.
"""

from .boys import boys
from .one_electron import one_electron_matrices, point_charge_matrix
from .two_electron import electron_repulsion

__all__ = ["boys", "electron_repulsion", "one_electron_matrices", "point_charge_matrix"]
