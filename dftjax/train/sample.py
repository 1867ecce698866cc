"""One training sample: a molecule at a fixed geometry with everything that does not
depend on the functional's parameters computed once.

A :class:`Sample` builds its basis, integrals (exact four-index ERIs, or density-fitted
three-index ones for larger molecules), grid, the AO values on the grid
(:class:`~dftjax.xc.blocked.XCGrid`) and the SAD guess when it is made; a training step
then only re-runs the SCF with new parameters:

* **forward** (:meth:`Sample.solve`): one compiled ``lax.while_loop`` SCF
  (:func:`dftjax.scf.implicit.solve_scf`) warm-started from this sample's last converged
  density; parameters, guess and the retry settings are traced, so every call reuses the
  same program. If it does not converge, the retry ladder runs: the SAD guess, then
  damping and level shifts (:data:`dftjax.scf.driver.RETRY_LADDER`), then trust-region
  Newton steps (:mod:`dftjax.scf.second_order`) from the best attempt.
* **shapes on a ladder** (``ladder=True``): the basis is padded to a rung of
  :func:`dftjax.scf.energy.padded_size` and the grid's points and blocks onto theirs,
  exactly as :func:`dftjax.scf` does (every real quantity unchanged), so samples on the
  same rungs share every compiled program: the compilations of a training set are
  bounded by its rungs, not its size. The electron counts are traced in any case, so
  samples of equal shapes share programs whatever their charge and spin.
* **outputs** (:meth:`Sample.outputs`): total energy (Ha), spin density matrices and the
  total density on the grid, as differentiable functions of (params, density).
* **backward** (:meth:`Sample.gradient`): the pullback of a cotangent of the outputs to
  the parameters, their direct dependence plus the implicit (coupled-perturbed) one
  through the converged density (:func:`dftjax.scf.implicit.cpks_multipliers`), whose
  residual is checked; a failed solve is retried with more CG iterations, and reported.

Only semi-local and hybrid Kohn-Sham functionals with parameters are trained (Hartree-
Fock has none). Atomic units: energies in Hartree, lengths in Bohr.
"""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..api import chosen_integrals, energy_model, sad_guess
from ..basis import build_basis
from ..eri_choice import choose_eri
from ..grid import build_grid
from ..grid.ao_values import ao_values
from ..molecule import Molecule
from ..scf.driver import RETRY_LADDER, canonical_state, make_settings
from ..scf.implicit import SolveConfig, cpks_multipliers, implicit_objective, solve_scf
from ..scf.ladder import _integer_occupations
from ..scf.energy import PaddedModel, on_the_ladder, pad_matrix
from ..scf.second_order import descend_from
from ..xc import Functional, get_functional
from ..xc.blocked import grid_density
from ..xc.features import density_features

#: CG iterations of the backward retry, as a multiple of the config's.
CG_RETRY_FACTOR = 5


@partial(jax.tree_util.register_dataclass,
         data_fields=["density", "mo_energy", "mo_coeff", "mo_occ", "energy", "gradient_norm",
                      "iterations", "converged"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class Solution:
    """A forward SCF: spin densities (2, size, size), orbitals (2, nmo), (2, size, nmo),
    occupations (2, nmo), electronic energy (Ha), final orbital-gradient norm, cycles,
    converged (bool array). ``size`` is the sample's basis padded onto the SCF's ladder
    (:attr:`Sample.size`); the padding functions come last, and so do their orbitals,
    which stay empty."""

    density: jnp.ndarray
    mo_energy: jnp.ndarray
    mo_coeff: jnp.ndarray
    mo_occ: jnp.ndarray
    energy: jnp.ndarray
    gradient_norm: jnp.ndarray
    iterations: jnp.ndarray
    converged: jnp.ndarray


@partial(jax.tree_util.register_dataclass,
         data_fields=["energy", "density_matrix", "rho"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class Outputs:
    """What losses see of a sample: total energy (Ha), spin density matrices
    (2, nao, nao), total density on the sample's grid (npts,) in electrons / Bohr^3."""

    energy: jnp.ndarray
    density_matrix: jnp.ndarray
    rho: jnp.ndarray


@dataclasses.dataclass(frozen=True)
class BackwardReport:
    """The coupled-perturbed solve of one sample: residual norm, right-hand-side norm,
    accepted, and CG iteration limit used."""

    residual: float
    rhs: float
    ok: bool
    cg_maxiter: int


def as_float_arrays(params):
    """Every leaf a float64 array (not a weakly typed Python float), so calls with new
    values of the same shapes reuse the compiled programs."""
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float64), params)


def _with_params(model, xc_params):
    return dataclasses.replace(model, params={**model.params, "xc": xc_params})


@partial(jax.jit, static_argnums=0)
def _forward(config, model, xc_params, overlap, guess, settings):
    state, converged = solve_scf(config, _with_params(model, xc_params), overlap, guess, settings)
    return Solution(state.density, state.mo_energy, state.mo_coeff, state.mo_occ, state.energy,
                    state.gradient_norm, state.iteration, converged)


def _outputs(model, xc_params, density, e_nuc):
    energy = model.energy_fn(density, _with_params(model, xc_params).params) + e_nuc
    return Outputs(energy, density, grid_density(model.params["xc_grid"], density))


_outputs_jit = jax.jit(_outputs)
_grid_density_jit = jax.jit(grid_density)


@partial(jax.jit, static_argnums=0)
def _gradient(config, model, xc_params, overlap, e_nuc, solution, outputs_bar):
    """d(<outputs_bar, outputs>)/d xc_params: direct part plus the implicit one through D*."""
    _, pullback = jax.vjp(lambda p, d: _outputs(model, p, d, e_nuc), xc_params, solution.density)
    direct, d_bar = pullback(outputs_bar)
    lam, residual, rhs, ok = cpks_multipliers(
        config, _with_params(model, xc_params), overlap, solution.mo_coeff, solution.mo_occ,
        solution.mo_energy, d_bar)
    implicit = jax.grad(lambda p: implicit_objective(
        config, _with_params(model, p), overlap, solution.mo_coeff, solution.mo_occ, lam,
        d_bar))(xc_params)
    return jax.tree_util.tree_map(jnp.add, direct, implicit), residual, rhs, ok


def _default_device():
    """The device that uncommitted arrays go to (``jax.default_device`` if set)."""
    device = jax.config.jax_default_device
    if isinstance(device, str):
        return jax.devices(device)[0]
    return device if device is not None else jax.devices()[0]


def resolve_functional(functional) -> Functional:
    """A :class:`Functional` from itself or a registry name."""
    return functional if isinstance(functional, Functional) else get_functional(str(functional))


class Sample:
    """A molecule at a fixed geometry, ready for repeated SCFs with new parameters.

    Parameters
    ----------
    name : str, how reports name it
    molecule : Molecule
    functional : Functional or registry name; its structure (features, exact exchange)
        is fixed, its parameters are the argument of every call
    basis : basis-set-exchange name
    grid_level : 0..9 (PySCF's levels)
    unrestricted : None: restricted for singlets, unrestricted otherwise
    conv_tol, conv_tol_grad : energy (Ha) and orbital-gradient thresholds of the forward
        SCF; the gradient is only as good as the stationarity of the solution
    max_cycle : SCF cycles per attempt
    density_fit : None (chosen by size, as :func:`dftjax.scf`), True or False: J and K
        from the density-fitted three-index tensor (nao^2 naux) instead of the exact
        four-index ERIs (nao^4), for samples too large to keep those
    auxbasis : the fitting basis (None: PySCF's default for the basis and functional)
    ladder : pad the basis, grid points and blocks onto the ladder of :func:`dftjax.scf`
        (every real quantity unchanged), so that samples on the same rungs share compiled
        programs. The grid grows by up to 25 % (water/def2-SVP at grid level 3: 33698 ->
        40960 points), and so does each step's XC work: worth it for many molecules
        trained for few steps each, not for a few molecules trained for many.
    ao_memory : bytes of AO values on the grid this sample may keep (None: what
        :func:`dftjax.scf` would keep, a share of the machine's memory); beyond them they
        are evaluated again in every step. A training set shares one budget among its
        samples (:mod:`dftjax.train.config`), or eighty samples would each keep a share.
    """

    def __init__(self, name: str, molecule: Molecule, functional, basis="sto-3g", *,
                 grid_level=3, unrestricted=None, conv_tol=1e-11, conv_tol_grad=1e-8,
                 max_cycle=100, density_fit=None, auxbasis=None, ladder=False, ao_memory=None):
        if not isinstance(molecule, Molecule):
            raise TypeError(f"sample {name!r}: molecule must be a dftjax.Molecule")
        self.name, self.molecule = name, molecule
        self.functional = resolve_functional(functional)
        if self.functional.name == "hf":
            raise ValueError(f"sample {name!r}: Hartree-Fock has no parameters to train")
        if unrestricted is None:
            unrestricted = molecule.multiplicity != 1
        if not unrestricted and molecule.multiplicity != 1:
            raise ValueError(f"sample {name!r}: restricted SCF needs multiplicity 1")
        self.basis = build_basis(molecule, basis)
        self.basis_name = basis
        self.grid = build_grid(molecule, level=grid_level)
        self.grid_level = grid_level
        self.eri = choose_eri(molecule, self.basis, basis, self.functional, density_fit,
                              auxbasis, int(self.grid.weights.shape[0]))
        self.memory_estimate = self.eri.peak_bytes
        ints = chosen_integrals(molecule, self.basis, self.functional, self.eri)
        kept = self.eri.ao_memory if ao_memory is None else min(int(ao_memory), self.eri.ao_memory)
        model = energy_model(molecule, self.basis, ints, self.functional, self.grid,
                             not unrestricted, None, kept, ladder=ladder)
        padded = on_the_ladder(model, self.nao) if ladder else model
        self.model = padded.model if isinstance(padded, PaddedModel) else model
        self.size = padded.size if isinstance(padded, PaddedModel) else self.nao
        self.overlap = jax.device_put(pad_matrix(ints.overlap, self.size, 1.0))
        self.e_nuc = jnp.asarray(molecule.nuclear_repulsion(), jnp.float64)
        # The electron counts travel in the traced settings, not in the static config,
        # so that molecules with different counts on the same rungs share programs.
        self.nalpha, self.nbeta = molecule.nalpha, molecule.nbeta
        self.config = SolveConfig(nalpha=None, nbeta=None, restricted=not unrestricted,
                                  conv_tol=conv_tol, conv_tol_grad=conv_tol_grad,
                                  max_cycle=max_cycle)
        self.device = None
        self.guess = self.place(pad_matrix(sad_guess(molecule, self.basis, ints), self.size))
        self.warm = self.guess  # the last converged density: the next forward's start

    @property
    def nao(self):
        return self.basis.nao

    @property
    def kept_ao_bytes(self) -> int:
        """Bytes of AO values this sample keeps on its grid (0: evaluated in every step)."""
        grid = self.model.params.get("xc_grid")
        return 0 if grid is None or grid.ao is None else sum(int(a.nbytes) for a in grid.ao)

    @property
    def _npts_on_ladder(self):
        return self.model.params["xc_grid"].npts

    @property
    def _padded(self):
        """Whether the basis or the grid is padded onto the ladder (``ladder=True``)."""
        return self.size != self.nao or self._npts_on_ladder != self.grid.npts

    def set_warm(self, density):
        """Start the next forward SCF from ``density`` (2, nao, nao) or (2, size, size)."""
        if np.shape(density)[-1] != self.size:
            density = pad_matrix(density, self.size)
        self.warm = self.place(density)

    def to_device(self, device):
        """Keep this sample's cached arrays on ``device`` (a jax.Device); its SCFs and
        gradients then run there, and parameters are copied there for each call."""
        self.model, self.overlap, self.e_nuc, self.guess, self.warm = jax.device_put(
            (self.model, self.overlap, self.e_nuc, self.guess, self.warm), device)
        self.device = device
        return self

    def place(self, tree):
        """``tree`` as float64 arrays committed to this sample's device (the default one
        until :meth:`to_device`). Committed as jit's outputs are: jit keys its programs
        on whether an argument is committed, so an uncommitted SAD guess beside the
        committed converged densities that become warm starts made a second forward
        program."""
        device = self.device if self.device is not None else _default_device()
        return jax.device_put(as_float_arrays(tree), device)

    def dispatch(self, xc_params) -> Solution:
        """Start the first forward attempt (warm start, plain DIIS) without waiting for
        it: samples on different devices then run at the same time. Pass the result to
        :meth:`solve` as ``first``."""
        settings = make_settings(self.nalpha, self.nbeta)
        return _forward(self.config, self.model, self.place(xc_params), self.overlap,
                        self.warm, settings)

    def solve(self, xc_params, retry=True, first=None) -> Solution:
        """The converged SCF at ``xc_params``; tries the warm start (``first``, if
        :meth:`dispatch` started it), then (if ``retry``) the SAD guess plain, damped and
        level-shifted, then trust-region Newton steps from the best of those. A converged
        solution becomes the next warm start; an unconverged one is returned with
        ``converged`` False."""
        xc_params = self.place(xc_params)
        attempts = [(self.warm, 0.0, 0.0)]
        if retry:
            attempts += [(self.guess, d, s) for d, s in ((0.0, 0.0),) + RETRY_LADDER]
        best = None
        for attempt, (guess, damping, shift) in enumerate(attempts):
            settings = make_settings(self.nalpha, self.nbeta, damping, shift)
            solution = (first if attempt == 0 and first is not None else
                        _forward(self.config, self.model, xc_params, self.overlap, guess, settings))
            if bool(solution.converged):
                self.warm = solution.density
                return solution
            if best is None or not float(best.gradient_norm) <= float(solution.gradient_norm):
                best = solution
        if retry and np.isfinite(float(best.energy)) and _integer_occupations(best.mo_occ):
            solution = self._second_order(xc_params, best)
            if bool(solution.converged):
                self.warm = solution.density
                return solution
            if not float(best.gradient_norm) <= float(solution.gradient_norm):
                best = solution
        return best

    def _second_order(self, xc_params, best):
        """The last rung, as :func:`dftjax.scf.run_scf`'s: trust-region Newton steps from
        the best attempt's orbitals. Converged, their state is the solution, with its
        orbitals canonicalised (:func:`~dftjax.scf.driver.canonical_state`): a state whose
        occupied orbitals are not the lowest (a near-degenerate pair, as NO's pi* can be
        while a functional is trained) is one that aufbau diagonalisations would leave.
        Not converged, the compiled SCF continues from where they stopped."""
        config = self.config
        state, converged = descend_from(
            _with_params(self.model, xc_params), best.mo_coeff, best.mo_occ,
            restricted=config.restricted, conv_tol=config.conv_tol,
            conv_tol_grad=config.conv_tol_grad, max_cycle=config.max_cycle)
        if not converged:
            return _forward(config, self.model, xc_params, self.overlap, state.density,
                            make_settings(self.nalpha, self.nbeta))
        state = canonical_state(state)
        return Solution(state.density, state.mo_energy, state.mo_coeff, state.mo_occ,
                        state.energy, state.gradient_norm, state.iteration,
                        jnp.asarray(True))

    def outputs(self, xc_params, solution: Solution) -> Outputs:
        """What losses see, on the sample's own nao basis functions and grid points."""
        outputs = _outputs_jit(self.model, self.place(xc_params), solution.density, self.e_nuc)
        if not self._padded:
            return outputs
        nao, npts = self.nao, self.grid.npts
        return Outputs(outputs.energy, np.asarray(outputs.density_matrix)[:, :nao, :nao],
                       np.asarray(outputs.rho)[:npts])

    def _on_the_ladder(self, outputs_bar: Outputs) -> Outputs:
        """A cotangent of :meth:`outputs` on the padded basis and grid (zero on the padding)."""
        if not self._padded:
            return self.place(outputs_bar)
        rho = np.zeros(self._npts_on_ladder)
        rho[:self.grid.npts] = np.asarray(outputs_bar.rho)
        return self.place(Outputs(outputs_bar.energy,
                                  pad_matrix(outputs_bar.density_matrix, self.size), rho))

    def dispatch_gradient(self, xc_params, solution: Solution, outputs_bar: Outputs):
        """Start the first backward attempt without waiting (see :meth:`dispatch`); pass
        the result to :meth:`gradient` as ``first``."""
        return _gradient(self.config, self.model, self.place(xc_params), self.overlap,
                         self.e_nuc, solution, self._on_the_ladder(outputs_bar))

    def gradient(self, xc_params, solution: Solution, outputs_bar: Outputs, retry=True,
                 first=None):
        """(d<outputs_bar, outputs>/d xc_params, BackwardReport). The coupled-perturbed
        solve is retried once with CG_RETRY_FACTOR times the iterations if its residual
        fails the check; the report says whether the derivative can be used. ``first``:
        the first attempt, from :meth:`dispatch_gradient`."""
        config, xc_params = self.config, self.place(xc_params)
        outputs_bar = self._on_the_ladder(outputs_bar)
        for attempt in range(2 if retry else 1):
            grad, residual, rhs, ok = (
                first if attempt == 0 and first is not None else
                _gradient(config, self.model, xc_params, self.overlap, self.e_nuc, solution,
                          outputs_bar))
            report = BackwardReport(float(residual), float(rhs), bool(ok), config.cg_maxiter)
            if report.ok:
                break
            config = dataclasses.replace(config, cg_maxiter=CG_RETRY_FACTOR * config.cg_maxiter)
        return grad, report

    def grid_density(self, density_matrix):
        """Total density (npts,) on this sample's grid of a density matrix in its basis,
        (nao, nao) total or (2, nao, nao) spin: :meth:`density_on_grid` as a JAX function,
        differentiable in the density matrix (for losses). The result is on JAX's default
        device, as the outputs losses see are on the host."""
        density_matrix = jnp.asarray(density_matrix, jnp.float64)
        if density_matrix.ndim == 2:
            density_matrix = 0.5 * jnp.stack([density_matrix, density_matrix])
        pad = self.size - density_matrix.shape[-1]
        density_matrix = jnp.pad(density_matrix, [(0, 0), (0, pad), (0, pad)])
        if self.device is not None:
            density_matrix = jax.device_put(density_matrix, self.device)
        rho = _grid_density_jit(self.model.params["xc_grid"], density_matrix)[:self.grid.npts]
        return rho if self.device is None else jax.device_put(rho, jax.devices()[0])

    def density_on_grid(self, density_matrix, basis=None):
        """Total density (npts,) on this sample's grid of an AO density matrix, (nao, nao)
        total or (2, nao, nao) spin, in this sample's basis (or on its padded ``size``
        basis functions, as a :class:`Solution`'s) or in ``basis`` (a name; its AO order
        as PySCF's) at this sample's geometry: a reference for density losses."""
        density_matrix = jnp.asarray(density_matrix, jnp.float64)
        if density_matrix.ndim == 2:
            density_matrix = 0.5 * jnp.stack([density_matrix, density_matrix])
        if basis is None:
            expected = self.size if density_matrix.shape[-1] == self.size else self.nao
            rho = lambda: self.grid_density(density_matrix)
        else:
            other = build_basis(self.molecule, basis)
            expected = other.nao
            rho = lambda: density_features(
                ao_values(other, jnp.asarray(self.molecule.coordinates), self.grid.coords,
                          deriv=0, block_size=4096), density_matrix, ("rho",)).rho.sum(axis=0)
        if density_matrix.shape[-2:] != (expected, expected):
            raise ValueError(f"sample {self.name!r}: reference density matrix of shape "
                             f"{tuple(density_matrix.shape)} does not fit {expected} basis functions")
        return np.asarray(rho())

    def __repr__(self):
        return (f"Sample({self.name!r}, {self.basis_name}, nao={self.nao} (size {self.size}), "
                f"npts={self.grid.npts})")
