"""dftjax: differentiable Gaussian-basis Hartree-Fock and Kohn-Sham DFT in JAX.

Atomic units inside (Bohr, Hartree); float64 throughout. The public surface:

* :class:`Molecule` - atoms, coordinates, charge, multiplicity
* :func:`build_basis` - a basis-set-exchange basis laid out as PySCF does
* :func:`scf` - a full calculation, returning an :class:`SCFCalculation`
"""

import jax

jax.config.update("jax_enable_x64", True)

from ._cache import enable_persistent_cache  # noqa: E402

enable_persistent_cache()

from .molecule import Molecule  # noqa: E402
from .basis import BasisSet, build_basis  # noqa: E402
from .api import Integrals, SCFCalculation, compute_integrals  # noqa: E402
from .api import scf  # noqa: E402  (after the dftjax.scf subpackage, which it shadows)

__version__ = "0.1.0"

__all__ = ["BasisSet", "Integrals", "Molecule", "SCFCalculation", "build_basis",
           "compute_integrals", "scf"]
