"""Geometry optimisation: ``dftjax.optimize(molecule, basis=..., xc=...)``.

Minimises the SCF energy over the nuclear Cartesian coordinates with a quasi-Newton
method from :func:`scipy.optimize.minimize` (BFGS by default, or L-BFGS-B), one SCF and
one analytic nuclear gradient (:func:`dftjax.gradient`) per geometry the optimiser asks
for. Atomic units inside (Bohr, Hartree); displacement thresholds are in Angstrom, as
geomeTRIC's.

Convergence is decided here, not by scipy, with geomeTRIC's five criteria at every
accepted step: the largest gradient component (``gmax``) and its root mean square
(``grms``), Ha/Bohr; the energy change of the step (``energy``), Ha; the largest and
root-mean-square atomic displacement of the step (``dmax``, ``drms``), Angstrom, after
removing rigid translation and rotation. All five must hold. The starting geometry
counts as converged if its gradient alone meets ``gmax`` and ``grms``.

geomeTRIC's defaults (gmax 4.5e-4, grms 3e-4, energy 1e-6, dmax 1.8e-3, drms 1.2e-3)
leave bond lengths uncertain by ~1e-3 Angstrom, and soft modes (NH3's umbrella, CH4's
bends) still ~3e-4 Angstrom at gmax 1e-4. Here ``gtol`` (the gmax threshold) defaults to
3e-5 Ha/Bohr and the other four scale with it in geomeTRIC's proportions (grms = 2/3 gtol,
dmax = 4 gtol Angstrom, drms = 8/3 gtol Angstrom, energy = 1e-6 Ha x (gtol / 4.5e-4)^2
but at least 10 conv_tol), which leaves interatomic distances within ~1e-4 Angstrom of
the minimum (water, NH3, HF, CH4 against geomeTRIC converged to 1e-6 Ha/Bohr).
Pass ``convergence={"gmax": ..., ...}`` to set any of them.

The energy is invariant under rigid motions, so its gradient sums to zero over atoms
(to the SCF's precision); the net force is projected out of the gradient the optimiser
sees, so that the molecule does not drift. The gradient reported is the full one.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .elements import BOHR_TO_ANGSTROM
from .gradients import gradient as analytic_gradient
from .log import logger, verbose_logging
from .molecule import Molecule

GEOMETRIC_DEFAULTS = {"gmax": 4.5e-4, "grms": 3.0e-4, "energy": 1.0e-6, "dmax": 1.8e-3,
                      "drms": 1.2e-3}
"""geomeTRIC's default convergence criteria (Ha/Bohr, Ha, Angstrom), for reference."""

DEFAULT_GTOL = 3e-5
DEFAULT_CONV_TOL = 1e-10
METHODS = ("BFGS", "L-BFGS-B")


@dataclass(frozen=True)
class OptimizationStep:
    """One accepted geometry of an optimisation: ``step`` 0 is the start.

    ``molecule`` (coordinates in Bohr), ``energy`` (Ha), ``gradient`` (natom, 3) Ha/Bohr,
    and the convergence measures of the step (``gmax``, ``grms`` Ha/Bohr; ``denergy`` Ha;
    ``dmax``, ``drms`` Angstrom; NaN for step 0).
    """

    step: int
    molecule: Molecule
    energy: float
    gradient: np.ndarray
    gmax: float
    grms: float
    denergy: float = math.nan
    dmax: float = math.nan
    drms: float = math.nan
    scf_converged: bool = True


@dataclass(frozen=True)
class OptimizationResult:
    """A finished geometry optimisation.

    Attributes
    ----------
    molecule : Molecule
        The final geometry, coordinates in Bohr: the last step when converged, else the
        lowest-energy step.
    energy : float
        Its SCF energy, Hartree.
    gradient : numpy.ndarray
        Its nuclear gradient dE/dR, (natom, 3) Ha/Bohr.
    converged : bool
        Whether all convergence criteria were met (and the final SCF converged).
    steps : int
        Accepted optimisation steps taken (0 when the start was already converged).
    evaluations : int
        SCF + gradient evaluations, line searches included.
    trajectory : tuple of OptimizationStep
        Every accepted geometry in order, the start first.
    calculation : SCFCalculation
        The SCF at the final geometry.
    criteria : dict
        The thresholds used (gmax, grms Ha/Bohr; energy Ha; dmax, drms Angstrom).
    message : str
        Why it stopped.
    """

    molecule: Molecule
    energy: float
    gradient: np.ndarray
    converged: bool
    steps: int
    evaluations: int
    trajectory: tuple
    calculation: object
    criteria: dict
    message: str = ""

    @property
    def coordinates_angstrom(self) -> np.ndarray:
        """Final coordinates in Angstrom, (natom, 3)."""
        return np.asarray(self.molecule.coordinates) * BOHR_TO_ANGSTROM

    def to_xyz(self, comment=None) -> str:
        """The final geometry as XYZ text (Angstrom)."""
        if comment is None:
            comment = f"E = {self.energy:.10f} Ha" + ("" if self.converged else " (NOT converged)")
        return self.molecule.to_xyz(comment)

    def trajectory_xyz(self) -> str:
        """Every accepted geometry as multi-frame XYZ text (Angstrom), energies as comments."""
        return "".join(s.molecule.to_xyz(f"step {s.step}  E = {s.energy:.10f} Ha")
                       for s in self.trajectory)


def convergence_criteria(gtol=DEFAULT_GTOL, conv_tol=DEFAULT_CONV_TOL, convergence=None):
    """The five thresholds for a given ``gtol`` (see the module docstring)."""
    if not gtol > 0:
        raise ValueError(f"gtol must be positive, got {gtol}")
    scale = gtol / GEOMETRIC_DEFAULTS["gmax"]
    criteria = {
        "gmax": gtol,
        "grms": GEOMETRIC_DEFAULTS["grms"] * scale,
        "energy": max(GEOMETRIC_DEFAULTS["energy"] * scale**2, 10.0 * conv_tol),
        "dmax": GEOMETRIC_DEFAULTS["dmax"] * scale,
        "drms": GEOMETRIC_DEFAULTS["drms"] * scale,
    }
    for key, value in (convergence or {}).items():
        if key not in criteria:
            raise ValueError(f"unknown convergence criterion {key!r}: use {sorted(criteria)}")
        criteria[key] = float(value)
    return criteria


_log = logger("optimize").info  # progress, only when verbose (dftjax.log)


def _aligned_displacement(reference, coordinates):
    """Per-atom displacements (natom,) from ``reference`` to ``coordinates`` after the
    best rigid superposition (Kabsch: translation and proper rotation removed)."""
    a = reference - reference.mean(axis=0)
    b = coordinates - coordinates.mean(axis=0)
    u, _, vt = np.linalg.svd(b.T @ a)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    rotation = u @ np.diag([1.0, 1.0, d]) @ vt
    return np.linalg.norm(b @ rotation - a, axis=1)


class _Objective:
    """Energy and gradient of flat Bohr coordinates, cached per geometry."""

    def __init__(self, molecule, run_scf, gradient_fn):
        self.molecule = molecule
        self.run_scf = run_scf
        self.gradient_fn = gradient_fn
        self.cache = {}
        self.evaluations = 0

    def evaluate(self, x):
        key = np.asarray(x, dtype=np.float64).tobytes()
        if key not in self.cache:
            molecule = self.molecule.with_coordinates(np.reshape(x, (-1, 3)))
            calc = self.run_scf(molecule)
            gradient = np.asarray(self.gradient_fn(calc), dtype=np.float64).reshape(-1, 3)
            self.evaluations += 1
            self.cache[key] = (molecule, float(calc.energy), gradient, calc)
        return self.cache[key]

    def __call__(self, x):
        _, energy, gradient, _ = self.evaluate(x)
        # The net force is zero for the exact energy; remove what numerical noise leaves,
        # so that the optimiser never translates the molecule.
        projected = gradient - gradient.mean(axis=0)
        return energy, projected.ravel()


def optimize(molecule, basis="def2-svp", xc="hf", *, gtol=DEFAULT_GTOL, max_steps=100,
             method="BFGS", convergence=None, callback=None, verbose=True,
             gradient=None, conv_tol=DEFAULT_CONV_TOL, scf_verbose=False,
             **scf_options) -> OptimizationResult:
    """Minimise the SCF energy of ``molecule`` over its nuclear coordinates.

    Parameters
    ----------
    molecule : Molecule
        The starting geometry; its charge and multiplicity are kept.
    basis, xc : as for :func:`dftjax.scf`
    gtol : float
        Convergence threshold on the largest gradient component, Ha/Bohr; the other
        criteria scale with it (module docstring). Default 3e-5.
    max_steps : int
        Most accepted optimisation steps. Default 100.
    method : "BFGS" or "L-BFGS-B"
        The :func:`scipy.optimize.minimize` method.
    convergence : dict, optional
        Overrides of single thresholds: gmax, grms (Ha/Bohr), energy (Ha), dmax, drms
        (Angstrom).
    callback : callable, optional
        Called as ``callback(step)`` with each accepted :class:`OptimizationStep`.
    verbose : bool
        One progress line per accepted step, logged (INFO, logger "dftjax.optimize"; on
        stderr when logging is not configured: :mod:`dftjax.log`). Default True.
    gradient : callable, optional
        ``gradient(calc) -> (natom, 3)`` Ha/Bohr for an SCF result; default
        :func:`dftjax.gradient`.
    conv_tol : float
        SCF energy threshold (Ha) at every geometry; default 1e-10, tighter than a
        single point's, since the gradient's error follows the SCF's.
    scf_verbose : bool
        The SCF's own progress (``dftjax.scf(verbose=True)``) at every geometry.
    **scf_options
        Passed on to :func:`dftjax.scf`: grid_level, unrestricted, max_cycle,
        cartesian, conv_tol_grad, xc_params, ...

    Returns
    -------
    OptimizationResult
        Not converged within ``max_steps`` (or stopped by the optimiser) gives
        ``converged=False``, a RuntimeWarning and a logged warning, never silence.
    """
    from . import api

    _check_arguments(molecule, method, max_steps)
    criteria = convergence_criteria(gtol, conv_tol, convergence)

    def run_scf(mol):
        return api.scf(mol, basis=basis, xc=xc, conv_tol=conv_tol, verbose=scf_verbose,
                       **scf_options)

    objective = _Objective(molecule, run_scf, gradient or analytic_gradient)
    trajectory = _Trajectory(objective, criteria, verbose, callback)
    with verbose_logging(verbose):
        if verbose:
            _log(f"geometry optimisation ({method}): {_method_name(xc, scf_options, molecule)}/"
                 f"{basis}, {molecule.natom} atoms; converged when gmax <= {criteria['gmax']:.1e}, "
                 f"grms <= {criteria['grms']:.1e} Ha/Bohr, |dE| <= {criteria['energy']:.1e} Ha, "
                 f"dmax <= {criteria['dmax']:.1e}, drms <= {criteria['drms']:.1e} Angstrom")
        converged, message = _minimise(objective, trajectory, molecule, method, max_steps, verbose)
        return _finish(objective, trajectory, converged, message, criteria, verbose)


def _check_arguments(molecule, method, max_steps):
    if not isinstance(molecule, Molecule):
        raise TypeError(f"molecule must be a dftjax.Molecule, not {type(molecule).__name__}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {METHODS}")
    if int(max_steps) < 1:
        raise ValueError(f"max_steps must be at least 1, got {max_steps}")


class _Trajectory(list):
    """The accepted steps: :meth:`record` evaluates a geometry and appends its step."""

    def __init__(self, objective, criteria, verbose, callback):
        super().__init__()
        self.objective, self.criteria = objective, criteria
        self.verbose, self.callback = verbose, callback

    def record(self, x) -> OptimizationStep:
        mol, energy, grad, calc = self.objective.evaluate(x)
        gmax = float(np.max(np.abs(grad)))
        grms = float(np.sqrt(np.mean(grad**2)))
        if self:
            previous = self[-1]
            disp = _aligned_displacement(np.asarray(previous.molecule.coordinates),
                                         np.asarray(mol.coordinates)) * BOHR_TO_ANGSTROM
            step = OptimizationStep(len(self), mol, energy, grad, gmax, grms,
                                    energy - previous.energy, float(disp.max()),
                                    float(np.sqrt(np.mean(disp**2))), bool(calc.converged))
        else:
            step = OptimizationStep(0, mol, energy, grad, gmax, grms,
                                    scf_converged=bool(calc.converged))
        self.append(step)
        if self.verbose:
            _log(_progress_line(step))
        if self.callback is not None:
            self.callback(step)
        return step

    def is_converged(self, step) -> bool:
        criteria = self.criteria
        if not step.scf_converged:
            return False
        forces = step.gmax <= criteria["gmax"] and step.grms <= criteria["grms"]
        if step.step == 0:
            return forces
        return (forces and abs(step.denergy) <= criteria["energy"]
                and step.dmax <= criteria["dmax"] and step.drms <= criteria["drms"])

    def lowest(self) -> OptimizationStep:
        return min(self, key=lambda s: s.energy)


class _Converged(Exception):
    pass


def _minimise(objective, trajectory, molecule, method, max_steps, verbose):
    """Run scipy's minimiser from ``molecule``, restarting it (up to 3 times) from the
    lowest geometry when it gives up; (converged, message)."""
    x = np.asarray(molecule.coordinates, dtype=np.float64).ravel().copy()
    if trajectory.is_converged(trajectory.record(x)):
        return True, "the starting geometry already meets the convergence criteria"

    import scipy.optimize  # here, not at import: it costs 0.35 s of every dftjax start

    def scipy_callback(intermediate_result):
        step = trajectory.record(intermediate_result.x)
        if trajectory.is_converged(step):
            raise _Converged
        if step.step >= max_steps:
            raise StopIteration

    message, restarts = "", 0
    while len(trajectory) - 1 < max_steps:
        start_steps = len(trajectory)
        # scipy's own tests would stop early or never: its gtol is set below anything
        # reachable and convergence is decided in the callback.
        options = {"maxiter": max_steps - (len(trajectory) - 1) + 1, "gtol": 1e-14}
        if method == "L-BFGS-B":
            options["ftol"] = 1e-16
        try:
            outcome = scipy.optimize.minimize(objective, x, jac=True, method=method,
                                              callback=scipy_callback, options=options)
            message = f"scipy.optimize.minimize ({method}) stopped: {outcome.message}"
        except _Converged:
            return True, "converged"
        if len(trajectory) - 1 >= max_steps:
            return False, f"reached max_steps = {max_steps}"
        # The optimiser gave up (typically a line search that cannot lower a noisy
        # energy further): restart it from the lowest accepted geometry with a fresh
        # Hessian, unless the last attempt made no accepted step at all.
        if len(trajectory) == start_steps or restarts >= 3:
            break
        restarts += 1
        best = trajectory.lowest()
        x = np.asarray(best.molecule.coordinates, dtype=np.float64).ravel().copy()
        if verbose:
            _log(f"  restarting {method} from step {best.step}: {message}")
    return False, message


def _finish(objective, trajectory, converged, message, criteria, verbose):
    """The result at the last step (converged) or the lowest one; loud when not converged."""
    final = trajectory[-1] if converged else trajectory.lowest()
    _, _, _, calc = objective.evaluate(np.asarray(final.molecule.coordinates).ravel())
    converged = bool(converged and calc.converged)
    steps = len(trajectory) - 1
    if converged:
        if verbose:
            _log(f"geometry converged in {steps} steps ({objective.evaluations} energy+gradient "
                 f"evaluations): E = {final.energy:.10f} Ha, gmax = {final.gmax:.1e} Ha/Bohr")
    else:
        if not calc.converged:
            message += "; the SCF at the final geometry did not converge"
        text = (f"geometry optimisation did not converge in {steps} steps "
                f"({message}); gmax = {final.gmax:.2e} Ha/Bohr "
                f"(threshold {criteria['gmax']:.1e}), E = {final.energy:.10f} Ha")
        logger("optimize").warning(text)
        warnings.warn(text, RuntimeWarning, stacklevel=3)
    return OptimizationResult(final.molecule, final.energy, final.gradient, converged, steps,
                              objective.evaluations, tuple(trajectory), calc, criteria, message)


def _method_name(xc, scf_options, molecule):
    name = xc if isinstance(xc, str) else getattr(xc, "name", "custom")
    unrestricted = scf_options.get("unrestricted")
    if unrestricted is None:
        unrestricted = molecule.multiplicity != 1
    return ("U" if unrestricted else "R") + str(name).upper()


def _progress_line(step):
    text = (f"  step {step.step:3d}  E = {step.energy:.10f}  gmax = {step.gmax:.2e}  "
            f"grms = {step.grms:.2e}")
    if step.step:
        text += f"  dE = {step.denergy:+.2e}  dmax = {step.dmax:.2e} A"
    if not step.scf_converged:
        text += "  (SCF NOT converged)"
    return text
