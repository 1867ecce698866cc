"""Fitting functionals self-consistently.

* :class:`Sample`: a molecule with integrals, grid and AO values computed once; compiled,
  warm-started forward SCF and checked implicit gradient with respect to the functional's
  parameters (:mod:`dftjax.train.sample`);
* losses on SCF outputs: total and atomization energies, density errors, user terms
  (:mod:`dftjax.train.losses`);
* an optax optimiser, the train state and checkpoints (:mod:`dftjax.train.state`);
* :func:`prefit`: the starting parameters fitted to a teacher functional's energy density
  on its own SCF densities, before the self-consistent fit (:mod:`dftjax.train.prefit`);
* :func:`fit`, the loop that never applies a silently wrong gradient
  (:mod:`dftjax.train.fit`); the ``dftjax train CONFIG.toml`` command (:mod:`dftjax.train.cli`).
"""

from .fit import StepReport, distribute, fit, loss_and_gradient, train_step
from .losses import (DensityReference, Item, Loss, Term, atomization_energy, density_error,
                     total_energy, user_term)
from .prefit import PrefitError, PrefitReport, TeacherPoints, prefit, teacher_points
from .sample import BackwardReport, Outputs, Sample, Solution
from .state import (TrainState, init_state, load_checkpoint, make_optimizer, match_params,
                    save_checkpoint)

__all__ = ["BackwardReport", "DensityReference", "Item", "Loss", "Outputs", "Sample",
           "Solution", "StepReport", "Term", "TrainState", "atomization_energy",
           "density_error", "distribute", "fit", "init_state", "load_checkpoint",
           "loss_and_gradient", "make_optimizer", "match_params", "prefit", "PrefitError",
           "PrefitReport", "save_checkpoint", "teacher_points", "TeacherPoints",
           "total_energy", "train_step", "user_term"]
