"""Exchange-correlation functionals: the feature contract, libxc-exact LDAs, GGAs and hybrids.

    >>> from dftjax.xc import Features, get_functional
    >>> b3lyp = get_functional("b3lyp")
    >>> e_xc = b3lyp(Features(rho=rho, sigma=sigma))   # (npts,) Hartree / Bohr^3

Energy densities are per volume and spin-resolved (``rho`` (2, npts), ``sigma`` (3, npts),
``tau`` (2, npts)); potentials come from autodiff. Names follow PySCF and libxc; see
:mod:`dftjax.xc.registry` for the names and the sum syntax.
"""

from .functional import Features, Functional
from .registry import get_functional, register

__all__ = ["Features", "Functional", "get_functional", "register"]
