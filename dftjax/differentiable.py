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
ERIs define reverse-mode rules only; use ``jax.jacrev`` (it also gives Hessians of small
molecules as ``jax.jacrev(jax.grad(...))``).
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
        # One compiled program for the call, and through it one for each derivative: under
        # an eager jax.grad or jax.jacrev, the SCF's pieces would otherwise run op by op
        # (water/STO-3G B3LYP polarisability by jax.jacrev: 15 s a call op by op, 0.5 s
        # compiled, after a first call of 51 s and 28 s)
        self._evaluate = jax.jit(self._outputs)

    def model(self, coordinates, xc_params=None, field=None):
        """(EnergyModel, overlap, dipole integrals) at ``coordinates`` (Bohr)."""
        basis, functional = self.basis, self.functional
        coords = jnp.asarray(coordinates, jnp.float64)
        charges = jnp.asarray(self.molecule.atomic_numbers, jnp.float64)
        data = pair_data(basis, coords, charges, coords)
        overlap, kinetic, dipole, nuclear = one_electron_from_pairs(basis, data)
        h_core = kinetic + nuclear
        if field is not None:
            h_core = h_core + jnp.einsum("x,xij->ij", field, dipole)
        pairs = [d[:3] for d in data]
        eri = eri_from_pairs(basis, pairs, 0.0)
        if self.pure_hf:
            return hf_fock_and_energy(h_core, eri), overlap, dipole
        eri_lr = (eri_from_pairs(basis, pairs, functional.omega)
                  if functional.hf_long_range != 0.0 else None)
        grid = grid_points(self.grid_spec, coords)
        ao = ao_values(basis, coords, grid.coords, deriv=0 if functional.family == "lda" else 1)
        params = self.xc_params if xc_params is None else xc_params
        xcg = dense_xc_grid(ao, grid.weights, grid.coords, self.neighbours)
        model = ks_fock_and_energy(functional, h_core, eri, xcg, None, eri_lr, params)
        return model, overlap, dipole

    def __call__(self, coordinates=None, xc_params=None, field=None) -> SCFOutput:
        coords = jnp.asarray(self.molecule.coordinates if coordinates is None else coordinates,
                             jnp.float64)
        return self._evaluate(coords, xc_params, field)

    def _outputs(self, coords, xc_params, field):
        charges = jnp.asarray(self.molecule.atomic_numbers, jnp.float64)
        model, overlap, dipole_ints = self.model(coords, xc_params, field)
        density, mo_energy, mo_coeff, mo_occ, converged = converged_scf(
            self.config, model, overlap, self.guess)
        energy = model.energy_fn(density, model.params) + nuclear_repulsion_energy(charges, coords)
        if field is not None:
            energy = energy - jnp.dot(field, charges @ coords)
        total = density.sum(axis=0)
        dipole = charges @ coords - jnp.einsum("xij,ji->x", dipole_ints, total)
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
