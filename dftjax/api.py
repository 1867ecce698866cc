"""The user-facing calculation: ``dftjax.scf(molecule, basis=..., xc=...)``.

Builds the basis, computes the integrals, forms the superposition-of-atomic-densities
guess and runs the SCF; returns an :class:`SCFCalculation` holding the SCF result plus
what was computed along the way (dipole, timings, basis). Atomic units throughout.
"""

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .basis import BasisSet, build_basis
from .elements import GROUND_STATE_MULTIPLICITY, atomic_number
from .integrals import electron_repulsion, one_electron_matrices, point_charge_matrix
from .molecule import Molecule
from .scf import SCFResult, hf_fock_and_energy, run_scf, sad_density

SUPPORTED_XC = ("hf",)


@dataclass(frozen=True)
class Integrals:
    """Integrals of one molecule in one basis (Hartree atomic units, PySCF AO order).

    overlap, kinetic, nuclear : (nao, nao); eri : (nao, nao, nao, nao) = (ij|kl);
    dipole : (3, nao, nao) = <i|r|j> about the origin.
    """

    overlap: jnp.ndarray
    kinetic: jnp.ndarray
    nuclear: jnp.ndarray
    eri: jnp.ndarray
    dipole: jnp.ndarray

    @property
    def h_core(self):
        return self.kinetic + self.nuclear


def compute_integrals(molecule: Molecule, basis: BasisSet, coordinates=None) -> Integrals:
    """All integrals HF needs; ``coordinates`` (Bohr) default to the molecule's."""
    coords = jnp.asarray(molecule.coordinates if coordinates is None else coordinates)
    overlap, kinetic, dipole = one_electron_matrices(basis, coords)
    nuclear = point_charge_matrix(basis, coords, molecule.atomic_numbers.astype(float), coords)
    eri = electron_repulsion(basis, coords)
    return Integrals(overlap, kinetic, nuclear, eri, dipole)


def _atom_integrals_fn(basis_spec, cartesian: bool):
    """Integrals of an isolated neutral atom, for the SAD guess."""

    def atom_integrals(symbol):
        z = atomic_number(symbol)
        atom = Molecule([symbol], np.zeros((1, 3)), unit="bohr",
                        multiplicity=GROUND_STATE_MULTIPLICITY.get(z, 1 + z % 2))
        ints = compute_integrals(atom, build_basis(atom, basis_spec, cartesian))
        return {"S": ints.overlap, "T": ints.kinetic, "V": ints.nuclear, "eri": ints.eri,
                "nelectron": z}

    return atom_integrals


@dataclass(frozen=True)
class SCFCalculation:
    """A finished SCF: the :class:`~dftjax.scf.SCFResult` fields plus context.

    Attributes beyond the SCF result: ``molecule``, ``basis``, ``xc``, ``integrals``,
    ``dipole`` ((3,) a.u., about the origin as PySCF), ``timings`` (seconds per stage).
    Every field of the SCF result (``energy``, ``converged``, ``iterations``,
    ``mo_energy``, ``mo_coeff``, ``mo_occ``, ``density_matrix``, ...) reads through.
    """

    result: SCFResult
    molecule: Molecule
    basis: BasisSet
    xc: str
    integrals: Integrals
    dipole: np.ndarray
    timings: dict

    def __getattr__(self, name):
        return getattr(self.result, name)

    @property
    def nao(self) -> int:
        return self.basis.nao

    @property
    def e_nuc(self) -> float:
        return float(self.result.nuclear_repulsion)


def scf(molecule: Molecule, basis="def2-svp", xc: str = "hf", conv_tol: float = 1e-9,
        unrestricted=None, max_cycle: int = 100, cartesian: bool = False,
        conv_tol_grad=None, verbose: bool = False, guess: str = "sad") -> SCFCalculation:
    """Run a self-consistent field calculation.

    Parameters
    ----------
    molecule : Molecule
    basis : str or dict, basis-set-exchange name(s), case-insensitive
    xc : "hf" (Hartree-Fock; Kohn-Sham functionals are planned)
    conv_tol : energy convergence threshold (Ha); the orbital-gradient threshold defaults
        to sqrt(conv_tol), as PySCF
    unrestricted : None picks restricted for singlets and unrestricted otherwise;
        True forces UHF; False forces RHF (singlets only)
    guess : "sad" (superposition of atomic densities) or "core"
    """
    if not isinstance(molecule, Molecule):
        raise TypeError(f"molecule must be a dftjax.Molecule, not {type(molecule).__name__}")
    method = str(xc).strip().lower()
    if method not in SUPPORTED_XC:
        raise ValueError(f"unknown or unsupported xc '{xc}': supported are {SUPPORTED_XC}")
    if unrestricted is None:
        unrestricted = molecule.multiplicity != 1
    if not unrestricted and molecule.multiplicity != 1:
        raise ValueError(f"restricted SCF needs multiplicity 1, got {molecule.multiplicity}")
    if guess not in ("sad", "core"):
        raise ValueError(f"unknown guess '{guess}': use 'sad' or 'core'")
    timings = {}
    start = time.perf_counter()
    basis_set = build_basis(molecule, basis, cartesian=cartesian)
    ints = compute_integrals(molecule, basis_set)
    jax.block_until_ready(ints.eri)
    timings["integrals"] = time.perf_counter() - start
    tick = time.perf_counter()
    density = None
    if guess == "sad":
        density = sad_density(basis_set.atom_ao_ranges(), molecule.symbols,
                              _atom_integrals_fn(basis, cartesian))
    timings["guess"] = time.perf_counter() - tick
    tick = time.perf_counter()
    result = run_scf(hf_fock_and_energy(ints.h_core, ints.eri), ints.overlap, ints.h_core,
                     molecule.nuclear_repulsion(), molecule.nalpha, molecule.nbeta,
                     restricted=not unrestricted, D0=density, conv_tol=conv_tol,
                     conv_tol_grad=conv_tol_grad, max_cycle=max_cycle, verbose=verbose)
    timings["scf"] = time.perf_counter() - tick
    dipole = np.asarray(result.dipole_moment(ints.dipole, molecule.atomic_numbers,
                                             molecule.coordinates))
    timings["total"] = time.perf_counter() - start
    return SCFCalculation(result, molecule, basis_set, method, ints, dipole, timings)
