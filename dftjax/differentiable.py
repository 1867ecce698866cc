"""The SCF as a pure, differentiable JAX function of coordinates, functional parameters
and an external field.

    f = dftjax.SCFFunction(mol, basis="def2-svp", xc="b3lyp")
    out = f(coordinates, xc_params=None, field=None)      # an SCFOutput pytree
    forces = -jax.grad(lambda c: f(c).energy)(coordinates)
    dmu = jax.jacrev(lambda p: f(xc_params=p).dipole)(params)

Everything from the integrals to the converged density is traced: integrals and grid
are JAX functions of the coordinates, the SCF is a ``lax.while_loop`` started from the
density of a reference calculation, and its derivative is the implicit one of
:func:`dftjax.scf.implicit.converged_scf` (coupled-perturbed equations, no unrolled loop,
no eigenvector derivatives). So ``jax.grad``, ``jax.jacrev``, ``jax.jit`` and
``jax.vmap`` (over geometries or parameters) compose with it. Energies in Hartree,
lengths in Bohr, the field in atomic units (E -> E + F . sum_i r_i - F . sum_A Z_A R_A).

Forward-mode derivatives (``jax.jvp``, ``jax.jacfwd``) are not available: the SCF and the
ERIs define reverse-mode rules only; use ``jax.jacrev``. First derivatives only: a second
reverse pass (``jax.jacrev(jax.grad(...))``) would differentiate the SCF's loop, which JAX
refuses; for Hessians use :func:`dftjax.hessian` (central differences of analytic
gradients).

The call is three compiled programs, each made once per instance and shape: the
integrals and grid at the coordinates, the SCF, and the outputs. At the reference
geometry (no ``coordinates``) the integrals are computed once and kept, so derivatives
with respect to the field or the functional's parameters compile no integral code.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .api import scf as run_scf_calculation
from .grid.ao_values import ao_values
from .grid.molecular import grid_points, grid_spec
from .integrals.eri_derivatives import eri_from_pairs
from .integrals.one_electron import one_electron_from_pairs, pair_data
from .molecule import nuclear_repulsion_energy
from .scf.energy import hf_fock_and_energy
from .scf.implicit import SolveConfig, converged_scf
from .scf.kohn_sham import ks_fock_and_energy
from .xc.blocked import dense_xc_grid
from .xc.features import density_features
from .xc.nra import neighbour_list

NRA_SKIN = 0.5
"""Bohr of slack in NN-NRA's neighbour list of an :class:`SCFFunction` (see its docstring)."""


@dataclasses.dataclass(frozen=True)
class SCFOutput:
    """What :class:`SCFFunction` returns (a pytree).

    energy : total energy (Ha), differentiable
    density_matrix : (2, nao, nao) spin densities [alpha, beta], differentiable
    dipole : (3,) e Bohr about the origin, differentiable
    occupied_energies : (2, nocc_max) orbital energies of the occupied space (Ha),
        differentiable (eigenvalues only; unoccupied slots of the shorter spin are 0)
    mo_energy (2, nmo), mo_coeff (2, nao, nmo), mo_occ (2, nmo) : orbitals, constants
        to autodiff (eigenvectors of degenerate levels have no derivative)
    converged : bool array
    """

    energy: jnp.ndarray
    density_matrix: jnp.ndarray
    dipole: jnp.ndarray
    occupied_energies: jnp.ndarray
    mo_energy: jnp.ndarray
    mo_coeff: jnp.ndarray
    mo_occ: jnp.ndarray
    converged: jnp.ndarray


jax.tree_util.register_dataclass(
    SCFOutput, data_fields=[f.name for f in dataclasses.fields(SCFOutput)], meta_fields=[])


def occupied_orbital_energies(fock, density, overlap, nocc):
    """Eigenvalues (nocc,) of F restricted to the occupied space of D (one spin).

    With S = L L^T, D' = L^T D L is the occupied-space projector in an orthonormal
    basis; P F' P + c (1 - P) (F' = L^-1 F L^-T) has the occupied orbital energies and
    eigenvalue c elsewhere. Only eigenvalues are used, so the derivative exists for
    degenerate levels too (no eigenvector derivatives).
    """
    chol = jnp.linalg.cholesky(overlap)
    inv = jax.scipy.linalg.solve_triangular(chol, jnp.eye(overlap.shape[0]), lower=True)
    projector = chol.T @ density @ chol
    f_orth = inv @ fock @ inv.T
    shift = 1e3
    eye = jnp.eye(overlap.shape[0])
    matrix = projector @ f_orth @ projector + shift * (eye - projector)
    return jnp.linalg.eigvalsh(0.5 * (matrix + matrix.T))[:nocc]


class SCFFunction:
    """A molecule's SCF as a function ``f(coordinates=None, xc_params=None, field=None)``.

    Parameters
    ----------
    molecule : Molecule (its coordinates are the reference geometry and the default)
    basis, xc, grid_level, cartesian, unrestricted : as :func:`dftjax.scf`
    conv_tol, conv_tol_grad : energy (Ha) and orbital-gradient thresholds of the traced
        SCF; tight by default because a derivative is only as good as the stationarity
        of the solution (finite differences of a looser SCF are noisy at the 1e-5 level)

    A reference SCF at the molecule's geometry supplies the starting density of every
    call (good for nearby geometries and parameters). For NN-NRA the pairs of grid points
    of its nonlocal descriptor are listed once, at the reference geometry, with
    ``NRA_SKIN`` Bohr of slack: exact for geometries whose grid points move by less than
    half that relative to each other.
    """

    def __init__(self, molecule, basis="def2-svp", xc="hf", *, grid_level=3, cartesian=False,
                 unrestricted=None, conv_tol=1e-12, conv_tol_grad=1e-10, max_cycle=100):
        reference = run_scf_calculation(molecule, basis, xc=xc, conv_tol=min(conv_tol, 1e-9),
                                        unrestricted=unrestricted, cartesian=cartesian,
                                        grid_level=grid_level)
        if reference.n_dropped:
            raise NotImplementedError(
                "the differentiable SCF keeps every basis direction; this basis is nearly "
                f"linearly dependent ({reference.n_dropped} directions dropped)")
        self.molecule, self.basis, self.functional = molecule, reference.basis, reference.functional
        self.pure_hf = reference.xc == "hf"
        self.config = SolveConfig(
            nalpha=molecule.nalpha, nbeta=molecule.nbeta, restricted=reference.restricted,
            conv_tol=conv_tol, conv_tol_grad=conv_tol_grad,
            max_cycle=max_cycle)
        d = jnp.asarray(reference.density_matrix)
        self.guess = 0.5 * jnp.stack([d, d]) if reference.restricted else d
        self.xc_params = reference.xc_params
        self.grid_spec = None if self.pure_hf else grid_spec(molecule.symbols, grid_level)
        self.neighbours = None
        if not self.pure_hf and "nra" in self.functional.needs:
            # NN-NRA's pairs of grid points, built once: exact for geometries whose grid
            # points move by under NRA_SKIN / 2 Bohr from the reference's
            grid = grid_points(self.grid_spec, jnp.asarray(molecule.coordinates))
            self.neighbours = neighbour_list(np.asarray(grid.coords), np.asarray(grid.atom),
                                             skin=NRA_SKIN)
        self.reference = reference
        # Three compiled programs, each made once per instance: the integrals, the SCF and
        # what it returns. Under an eager jax.grad or jax.jacrev the SCF's pieces would
        # otherwise run op by op (water/STO-3G B3LYP polarisability: 15 s a call op by
        # op, 0.5 s compiled). Apart, a second loss of the same function recompiles only
        # the last stage's backward (N2/STO-3G: 0.3 s instead of 5 s for all of it),
        # and a call at the reference geometry compiles no integrals at all (it computes
        # them once, on the host paths of dftjax.scf).
        self._integrals = jax.jit(self._integrals_at)
        self._solve = jax.jit(self._solve_from)
        self._finish = jax.jit(self._finish_from)
        self._reference_integrals = None

    def _integrals_at(self, coords):
        """Everything of the model that depends on the coordinates (Bohr) alone: a dict of
        h_core, overlap, dipole (3, nao, nao), eri, eri_lr and the XC grid."""
        basis, functional = self.basis, self.functional
        charges = jnp.asarray(self.molecule.atomic_numbers, jnp.float64)
        data = pair_data(basis, coords, charges, coords)
        overlap, kinetic, dipole, nuclear = one_electron_from_pairs(basis, data)
        pairs = [d[:3] for d in data]
        ints = {"h_core": kinetic + nuclear, "overlap": overlap, "dipole": dipole,
                "eri": eri_from_pairs(basis, pairs, 0.0), "eri_lr": None, "xc_grid": None}
        if not self.pure_hf:
            if functional.hf_long_range != 0.0:
                ints["eri_lr"] = eri_from_pairs(basis, pairs, functional.omega)
            grid = grid_points(self.grid_spec, coords)
            ao = ao_values(basis, coords, grid.coords,
                           deriv=0 if functional.family == "lda" else 1)
            ints["xc_grid"] = dense_xc_grid(ao, grid.weights, grid.coords, self.neighbours)
        return ints

    def _model_from(self, ints, xc_params, field):
        """The EnergyModel of the integrals ``ints`` with ``xc_params`` and ``field``."""
        h_core = ints["h_core"]
        if field is not None:
            h_core = h_core + jnp.einsum("x,xij->ij", field, ints["dipole"])
        if self.pure_hf:
            return hf_fock_and_energy(h_core, ints["eri"])
        params = self.xc_params if xc_params is None else xc_params
        return ks_fock_and_energy(self.functional, h_core, ints["eri"], ints["xc_grid"], None,
                                  ints["eri_lr"], params)

    def model(self, coordinates, xc_params=None, field=None):
        """(EnergyModel, overlap, dipole integrals) at ``coordinates`` (Bohr)."""
        ints = self._integrals_at(jnp.asarray(coordinates, jnp.float64))
        return self._model_from(ints, xc_params, field), ints["overlap"], ints["dipole"]

    def __call__(self, coordinates=None, xc_params=None, field=None) -> SCFOutput:
        if coordinates is None:
            # the reference geometry: its integrals once, then only the SCF is traced
            if self._reference_integrals is None:
                # Concrete coordinates take the integrals' and grid's host paths (their
                # stored programs, shared by molecules): water/STO-3G B3LYP 0.4 s against
                # 2 s to compile the traced ones, equal to 1e-14. Computed now even inside
                # a user's jax.jit or vmap, so what is kept is arrays, never tracers.
                with jax.ensure_compile_time_eval():
                    self._reference_integrals = jax.device_put(self._integrals_at(
                        jnp.asarray(self.molecule.coordinates, jnp.float64)))
            coords = jnp.asarray(self.molecule.coordinates, jnp.float64)
            ints = self._reference_integrals
        else:
            coords = jnp.asarray(coordinates, jnp.float64)
            ints = self._integrals(coords)
        solved = self._solve(ints, xc_params, field)
        return self._finish(ints, coords, xc_params, field, solved)

    def _solve_from(self, ints, xc_params, field):
        """(density, mo_energy, mo_coeff, mo_occ, converged) of the converged SCF."""
        return converged_scf(self.config, self._model_from(ints, xc_params, field),
                             ints["overlap"], self.guess)

    def _finish_from(self, ints, coords, xc_params, field, solved):
        charges = jnp.asarray(self.molecule.atomic_numbers, jnp.float64)
        model = self._model_from(ints, xc_params, field)
        overlap = ints["overlap"]
        density, mo_energy, mo_coeff, mo_occ, converged = solved
        energy = model.energy_fn(density, model.params) + nuclear_repulsion_energy(charges, coords)
        if field is not None:
            energy = energy - jnp.dot(field, charges @ coords)
        total = density.sum(axis=0)
        dipole = charges @ coords - jnp.einsum("xij,ji->x", ints["dipole"], total)
        fock = model(density)[0]
        nocc = max(self.config.nalpha, self.config.nbeta)
        occupied = jnp.stack([
            jnp.pad(occupied_orbital_energies(fock[s], density[s], overlap, n)[:n], (0, nocc - n))
            for s, n in enumerate((self.config.nalpha, self.config.nbeta))])
        return SCFOutput(energy=energy, density_matrix=density, dipole=dipole,
                         occupied_energies=occupied, mo_energy=jax.lax.stop_gradient(mo_energy),
                         mo_coeff=jax.lax.stop_gradient(mo_coeff),
                         mo_occ=jax.lax.stop_gradient(mo_occ), converged=converged)

    def density_on_grid(self, output, points, coordinates=None):
        """Total electron density (npts,) at ``points`` (npts, 3) Bohr, differentiable."""
        coords = jnp.asarray(self.molecule.coordinates if coordinates is None else coordinates)
        ao = ao_values(self.basis, coords, points, deriv=0)
        return density_features(ao, output.density_matrix, ("rho",)).rho.sum(axis=0)
