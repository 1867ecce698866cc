"""Fitting functionals self-consistently: samples with cached integrals and grids, losses
on SCF outputs, an optax optimiser with checks at every step, checkpoints, the
``dftjax train`` command."""

from .sample import BackwardReport, Outputs, Sample, Solution

__all__ = ["BackwardReport", "Outputs", "Sample", "Solution"]
