"""The contract between the SCF engine and an exchange-correlation functional.

A functional sees the density through a fixed vocabulary of *features* on grid points
(all spin-resolved, libxc conventions, atomic units):

* ``rho``   (2, npts)  spin densities rho_alpha, rho_beta (electrons / Bohr^3)
* ``sigma`` (3, npts)  grad rho_a . grad rho_a, grad rho_a . grad rho_b, grad rho_b . grad rho_b
* ``tau``   (2, npts)  kinetic-energy densities tau_s = 1/2 sum_i |grad phi_is|^2 (libxc's, no 1/2 dropped)
* ``nra``   (npts,)    the nonlocal descriptor R of NN-NRA (:mod:`dftjax.xc.nra`): a sum
  over the whole grid, which the engine computes from the total density before the
  point-wise pass and differentiates through (its potential is nonlocal)

and returns the XC energy density *per volume* e_xc (npts,) in Hartree / Bohr^3, so that
E_xc = sum_g w_g e_xc(g). Closed shells are evaluated with rho_a = rho_b = rho / 2.
Potentials are derivatives of E_xc, taken by autodiff; a functional only writes energy.

Hybrids add exact exchange: ``hf_full`` times the full-range exchange energy plus
``hf_long_range`` times the erf-attenuated (long-range, parameter ``omega`` in 1/Bohr)
exchange energy. Parameters (``params``) are a pytree, traced and differentiable, so
fitted and neural functionals use the same interface.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class Features:
    """Density features on grid points; unused ones may be None."""

    rho: jnp.ndarray
    sigma: Optional[jnp.ndarray] = None
    tau: Optional[jnp.ndarray] = None
    nra: Optional[jnp.ndarray] = None


jax.tree_util.register_dataclass(Features, data_fields=["rho", "sigma", "tau", "nra"],
                                 meta_fields=[])

FEATURE_NAMES = ("rho", "sigma", "tau", "nra")


@dataclass(frozen=True, eq=False)
class Functional:
    """An exchange-correlation functional.

    Compared and hashed by identity, so that it can be static structure in JAX
    transformations (a new SCF with the same functional object reuses compiled code)
    even when its ``params`` are unhashable arrays.

    Attributes
    ----------
    name : str
        Lower-case name (libxc/PySCF spelling where one exists).
    energy_density : callable ``(params, Features) -> (npts,)``
        Semi-local XC energy per volume (Hartree / Bohr^3). Must be finite, with finite
        derivatives, at rho = 0, sigma = 0 and tau = 0.
    needs : tuple of str
        Which of ``FEATURE_NAMES`` it reads ("rho" always).
    params : pytree
        Default parameters passed to ``energy_density``.
    hf_full, hf_long_range, omega : float
        Exact-exchange fractions (full range, erf long range) and the range-separation
        parameter (1/Bohr). All zero for a pure semi-local functional.
    """

    name: str
    energy_density: Callable[[Any, Features], jnp.ndarray]
    needs: tuple = ("rho",)
    params: Any = field(default=None)
    hf_full: float = 0.0
    hf_long_range: float = 0.0
    omega: float = 0.0

    @property
    def family(self) -> str:
        """"lda", "gga" or "mgga", from the features it needs."""
        if "tau" in self.needs:
            return "mgga"
        if "sigma" in self.needs:
            return "gga"
        return "lda"

    @property
    def is_hybrid(self) -> bool:
        return self.hf_full != 0.0 or self.hf_long_range != 0.0

    def stable_key(self):
        """Its name, for dftjax's built-in functionals (whose code is dftjax's); None for
        any other (see :func:`dftjax.stored_programs.describe`)."""
        return f"dftjax functional {self.name}" if id(self) in _BUILT_IN else None

    def __call__(self, features: Features, params=None) -> jnp.ndarray:
        """Energy density per volume (npts,) with ``params`` (default: the functional's)."""
        return self.energy_density(self.params if params is None else params, features)


#: ids of dftjax's own functionals (module-level objects, alive as long as the process):
#: filled by :mod:`dftjax.xc.registry` before any user registers one of their own
_BUILT_IN = set()


def mark_built_in(functionals) -> None:
    """Record ``functionals`` as dftjax's own (:meth:`Functional.stable_key`)."""
    _BUILT_IN.update(id(functional) for functional in functionals)
