"""Correlated wavefunction methods on a Hartree-Fock reference: MP2, CCSD, CCSD(T).

``dftjax.correlated.run(molecule, basis=..., method="ccsd(t)", frozen_core=False,
relaxed_density=False)`` -> :class:`CorrelatedResult`. RHF references run the
spin-adapted closed-shell equations (:mod:`.closed_shell`), UHF references the
spin-orbital ones (:mod:`.equations`, :mod:`.triples`); relaxed densities come from
reverse-mode differentiation through the amplitude equations (implicit, the Lambda
equations) and the SCF.
"""

from .driver import METHODS, CorrelatedResult, correlation_energy, energy_function, run
from .frozen_core import chemcore

__all__ = ["METHODS", "CorrelatedResult", "chemcore", "correlation_energy", "energy_function",
           "run"]
