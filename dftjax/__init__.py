"""dftjax: differentiable Gaussian-basis Hartree-Fock and Kohn-Sham DFT in JAX.

Atomic units inside (Bohr, Hartree); float64 throughout. The public surface:

* :class:`Molecule` - atoms, coordinates, charge, multiplicity
* :func:`build_basis` - a basis-set-exchange basis laid out as PySCF does
* :func:`scf` - a full calculation, returning an :class:`SCFCalculation`
* :func:`stability` - the lowest orbital-Hessian eigenvalue of a finished SCF
* :func:`optimize` - a geometry optimisation, returning an :class:`OptimizationResult`
* :func:`gradient` - analytic dE/dR (forces), dE/dfield, dE/dparams of a finished SCF
* :class:`SCFFunction` - the SCF as a differentiable JAX function (implicit derivatives)
* :func:`hessian`, :func:`harmonic_frequencies` - second derivatives and vibrations
* :func:`release_compiled_code` - free compiled XLA code in long loops over molecules
"""

import jax

from .compiler_flags import set_compiler_flags  # noqa: E402

set_compiler_flags()  # before JAX starts its backend, which reads XLA_FLAGS once
jax.config.update("jax_enable_x64", True)

from ._cache import enable_persistent_cache, release_compiled_code  # noqa: E402

enable_persistent_cache()

from .molecule import Molecule  # noqa: E402
from .basis import BasisSet, build_basis  # noqa: E402
from .api import Integrals, SCFCalculation, compute_integrals  # noqa: E402
from .api import scf, stability  # noqa: E402  (after the dftjax.scf subpackage, which it shadows)
from .optimize import OptimizationResult, optimize  # noqa: E402  (shadows the module)
from .gradients import gradient  # noqa: E402
from .differentiable import SCFFunction, SCFOutput  # noqa: E402
from .vibrations import harmonic_frequencies, hessian  # noqa: E402
from . import correlated  # noqa: E402  (dftjax.correlated.run: MP2, CCSD, CCSD(T))

__version__ = "0.1.0"

__all__ = ["BasisSet", "Integrals", "Molecule", "OptimizationResult", "SCFCalculation",
           "SCFFunction", "SCFOutput", "build_basis", "compute_integrals", "gradient",
           "harmonic_frequencies", "hessian", "optimize", "release_compiled_code", "scf", "stability"]
