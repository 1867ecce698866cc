"""Gaussian basis sets: loading from basis-set-exchange, normalisation, AO layout."""

from .basis_set import BasisSet, build_basis
from .load import element_shells
from .spherical import cart_to_sph, cartesian_powers, ncart, nsph

__all__ = ["BasisSet", "build_basis", "element_shells", "cart_to_sph", "cartesian_powers", "ncart", "nsph"]
