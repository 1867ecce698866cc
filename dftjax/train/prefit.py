"""Pre-fitting a functional's parameters to a teacher functional, before the
self-consistent fit.

A neural functional from a random start describes no physics, and a self-consistent fit
to a handful of molecules pins it down only where those molecules' densities go: trained
that way on H2O, NH3 and NO, NN-meta-GGA overbinds hydrocarbons by 20-70 kcal/mol
(``benchmarks/README.md``). A pre-fit first makes the network reproduce a sound
functional of the same ingredients (the *teacher*, e.g. r2SCAN for a meta-GGA network),
so that the self-consistent fit corrects it instead of defining it. It needs no reference
data: only the teacher's own SCF densities of the training molecules.

* :func:`teacher_points`: for each sample, the teacher's converged SCF density in the
  sample's basis, its features on the sample's grid, and the teacher's energy density
  there (one NumPy copy of each).
* :func:`prefit`: full-batch L-BFGS (optax) on

      L = sum_g w_g (e(p; g) - e_T(g))^2 / sum_g w_g e_T(g)^2  +  lambda sum_m dE_m^2

  over every sample's points g (quadrature weights w_g, taken by magnitude in the first term), where e and e_T are the energy
  densities per volume (Ha / Bohr^3) of the functional and the teacher, and dE_m (Ha) is
  the error in sample m's XC energy. The first term shapes the whole function; the
  second pins what atomization energies are made of. A pointwise fit alone is not
  enough: with the first term at 4e-5, the XC energies were still 40-160 kcal/mol off
  (session 17's Adam fit), while this loss brings them within a few tenths of a kcal/mol
  in a few hundred L-BFGS iterations (``benchmarks/README.md``).

Only semi-local features (rho, sigma, tau) are fitted: a nonlocal student (NN-NRA) is
started from a pre-fitted meta-GGA instead (``params_form``). Atomic units throughout.
"""

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..benchmarks.g2 import KCAL_PER_HARTREE
from ..grid.ao_values import ao_values
from ..xc import Functional
from ..xc.features import density_features
from ..xc.functional import Features

#: Features a pre-fit can give (a nonlocal descriptor needs the whole density).
SEMILOCAL = ("rho", "sigma", "tau")
#: Points per block when the features are evaluated (bounds the AO values' memory).
POINT_BLOCK = 8192


class PrefitError(ValueError):
    """A pre-fit that cannot run: the message names the problem."""


@dataclasses.dataclass(frozen=True)
class TeacherPoints:
    """The teacher on every sample's grid, all samples' points one after the other.

    names: the samples' names (nsample,); features: :class:`Features`, rho and tau (2, npts),
    sigma (3, npts) (spin-resolved, libxc conventions); weights (npts,) Bohr^3; segment
    (npts,) the sample each point belongs to; energy_density (npts,) the teacher's, Ha /
    Bohr^3; xc_energy (nsample,) the teacher's XC energies (Ha); total_energy (nsample,)
    the teacher's SCF energies (Ha)."""

    names: tuple
    features: Features
    weights: np.ndarray
    segment: np.ndarray
    energy_density: np.ndarray
    xc_energy: np.ndarray
    total_energy: np.ndarray

    @property
    def npts(self) -> int:
        return int(self.weights.shape[0])


@dataclasses.dataclass
class PrefitReport:
    """What a pre-fit reached: iterations, seconds, the pointwise term, each sample's XC
    energy error (Ha) against the teacher, at the start and at the end."""

    teacher: str
    iterations: int
    seconds: float
    npts: int
    pointwise_start: float
    pointwise: float
    xc_errors_start: dict
    xc_errors: dict

    def lines(self):
        errors = ", ".join(f"{k} {v * KCAL_PER_HARTREE:+.2f}" for k, v in self.xc_errors.items())
        return [f"pre-fit to {self.teacher}: {self.iterations} L-BFGS iterations on "
                f"{self.npts} points in {self.seconds:.1f} s; pointwise term "
                f"{self.pointwise_start:.3e} -> {self.pointwise:.3e}",
                f"  XC energy errors against {self.teacher} (kcal/mol): {errors}"]


def _teacher_scf(sample, teacher, conv_tol):
    from ..api import scf  # the API imports dftjax.train's neighbours; import when used
    calc = scf(sample.molecule, basis=sample.basis_name, xc=teacher, conv_tol=conv_tol,
               unrestricted=not sample.config.restricted, grid_level=sample.grid_level,
               stability=False)
    if not calc.converged:
        raise PrefitError(f"pre-fit: the {teacher.name} SCF of sample {sample.name!r} did "
                          f"not converge (|g| = {float(calc.gradient_norm):.1e})")
    density = jnp.asarray(calc.density_matrix, jnp.float64)
    if density.ndim == 2:
        density = 0.5 * jnp.stack([density, density])
    return calc, density


@jax.jit
def _block_features(ao, density):
    return density_features(ao, density, SEMILOCAL)


def sample_features(sample, density):
    """Semi-local features (rho, sigma, tau) of spin densities ``density`` (2, nao, nao)
    on ``sample``'s grid, as NumPy arrays, evaluated POINT_BLOCK points at a time."""
    coordinates = jnp.asarray(sample.molecule.coordinates)
    points = np.asarray(sample.grid.coords)
    blocks = []
    for start in range(0, points.shape[0], POINT_BLOCK):
        chunk = points[start:start + POINT_BLOCK]
        pad = POINT_BLOCK - chunk.shape[0]  # one block shape: one compiled program
        chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
        ao = ao_values(sample.basis, coordinates, jnp.asarray(chunk), deriv=1)
        features = _block_features(ao, density)
        blocks.append(jax.tree_util.tree_map(lambda x: np.asarray(x)[:, :POINT_BLOCK - pad],
                                             features))
    return Features(*(np.concatenate([getattr(b, name) for b in blocks], axis=1)
                      for name in SEMILOCAL))


def teacher_points(samples, teacher: Functional, conv_tol=1e-10, log=None) -> TeacherPoints:
    """Run ``teacher``'s SCF on each of ``samples`` (:class:`~dftjax.train.Sample`, in its
    basis, grid level and spin treatment) and collect the features and the teacher's energy
    density on its grid. Raises :class:`PrefitError` when an SCF does not converge or the
    teacher needs a feature a pre-fit cannot give."""
    missing = set(teacher.needs) - set(SEMILOCAL)
    if missing:
        raise PrefitError(f"pre-fit: teacher {teacher.name!r} needs {sorted(missing)}; "
                          f"a teacher reads only {SEMILOCAL}")
    if teacher.is_hybrid:
        raise PrefitError(f"pre-fit: teacher {teacher.name!r} has exact exchange, which "
                          "no semi-local energy density reproduces; choose a semi-local one")
    parts, names, xc_energies, energies = [], [], [], []
    for index, sample in enumerate(samples):
        start = time.perf_counter()
        calc, density = _teacher_scf(sample, teacher, conv_tol)
        features = sample_features(sample, density)
        energy_density = np.asarray(teacher(jax.tree_util.tree_map(jnp.asarray, features)))
        weights = np.asarray(sample.grid.weights)
        parts.append((features, weights, np.full(weights.shape, index), energy_density))
        names.append(sample.name)
        xc_energies.append(float(weights @ energy_density))
        energies.append(float(calc.energy))
        if log is not None:
            log(f"pre-fit: {teacher.name} on {sample.name} ({weights.shape[0]} points, "
                f"E = {energies[-1]:.8f} Ha, E_xc = {xc_energies[-1]:.8f} Ha, "
                f"{time.perf_counter() - start:.1f} s)")
    features = Features(*(np.concatenate([getattr(p[0], name) for p in parts], axis=1)
                          for name in SEMILOCAL))
    return TeacherPoints(tuple(names), features, np.concatenate([p[1] for p in parts]),
                         np.concatenate([p[2] for p in parts]),
                         np.concatenate([p[3] for p in parts]), np.array(xc_energies),
                         np.array(energies))


def prefit_loss(functional: Functional, points: TeacherPoints, energy_weight=10.0):
    """``loss(params) -> (L, (pointwise term, XC energy errors (nsample,) Ha))``; see the
    module's docstring. ``energy_weight`` is lambda, in Ha^-2."""
    missing = set(functional.needs) - set(SEMILOCAL)
    if missing:
        raise PrefitError(f"pre-fit: {functional.name!r} reads {sorted(missing)}; a pre-fit "
                          f"gives only {SEMILOCAL} (start a nonlocal form from a pre-fitted "
                          "semi-local one)")
    features = jax.tree_util.tree_map(jnp.asarray, points.features)
    weights = jnp.asarray(points.weights)
    target = jnp.asarray(points.energy_density)
    segment = jnp.asarray(points.segment)
    nsample = len(points.names)
    # A few far points of some Lebedev orders carry negative weights: the pointwise term,
    # a sum of squares, takes their magnitude (the XC energies keep the quadrature's).
    magnitude = jnp.abs(weights)
    norm = jnp.sum(magnitude * target ** 2)

    def loss(params):
        error = functional.energy_density(params, features) - target
        pointwise = jnp.sum(magnitude * error ** 2) / norm
        xc_errors = jax.ops.segment_sum(weights * error, segment, nsample)
        return pointwise + energy_weight * jnp.sum(xc_errors ** 2), (pointwise, xc_errors)

    return loss


def prefit(functional: Functional, params, points: TeacherPoints, iterations=400,
           energy_weight=10.0, memory_size=20, teacher_name="teacher", log=None,
           log_every=50):
    """Fit ``params`` of ``functional`` to the teacher in ``points`` by L-BFGS (optax's,
    with its zoom line search), ``iterations`` full-batch iterations. Returns the fitted
    parameters and a :class:`PrefitReport`. Deterministic: the same inputs give the same
    parameters."""
    loss_and_aux = prefit_loss(functional, points, energy_weight)
    value = lambda p: loss_and_aux(p)[0]
    optimizer = optax.lbfgs(memory_size=memory_size)
    value_and_grad = optax.value_and_grad_from_state(value)

    @jax.jit
    def step(params, state):
        loss, grad = value_and_grad(params, state=state)
        updates, state = optimizer.update(grad, state, params, value=loss, grad=grad,
                                          value_fn=value)
        return optax.apply_updates(params, updates), state, loss

    aux = jax.jit(lambda p: loss_and_aux(p)[1])
    params = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), params)
    pointwise_start, errors_start = aux(params)
    state = optimizer.init(params)
    start = time.perf_counter()
    for iteration in range(iterations):
        params, state, loss = step(params, state)
        if not bool(jnp.isfinite(loss)):
            raise PrefitError(f"pre-fit: the loss is not finite at iteration {iteration}")
        if log is not None and log_every and (iteration + 1) % log_every == 0:
            pointwise, errors = aux(params)
            log(f"pre-fit iteration {iteration + 1:5d}: loss {float(loss):.4e} pointwise "
                f"{float(pointwise):.4e} max |dE_xc| {float(jnp.max(jnp.abs(errors))) * KCAL_PER_HARTREE:.3f} kcal/mol")
    pointwise, errors = aux(params)
    report = PrefitReport(teacher_name, iterations, time.perf_counter() - start, points.npts,
                          float(pointwise_start), float(pointwise),
                          dict(zip(points.names, map(float, errors_start))),
                          dict(zip(points.names, map(float, errors))))
    return params, report
