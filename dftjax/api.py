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
from .integrals.one_electron import one_electron_from_pairs, pair_data
from .integrals.two_electron import electron_repulsion_from_pairs
from .molecule import Molecule
from .grid import ao_values, build_grid
from .scf import SCFResult, hf_fock_and_energy, run_scf, sad_density
from .scf.kohn_sham import ks_fock_and_energy
from .xc import Functional, get_functional
from .xc.features import xc_energy



@dataclass(frozen=True)
class Integrals:
    """Integrals of one molecule in one basis (Hartree atomic units, PySCF AO order).

    overlap, kinetic, nuclear : (nao, nao); eri : (nao, nao, nao, nao) = (ij|kl);
    dipole : (3, nao, nao) = <i|r|j> about the origin;
    eri_long_range : erf-attenuated ERIs, only for range-separated functionals.
    """

    overlap: jnp.ndarray
    kinetic: jnp.ndarray
    nuclear: jnp.ndarray
    eri: jnp.ndarray
    dipole: jnp.ndarray
    eri_long_range: jnp.ndarray = None

    @property
    def h_core(self):
        return self.kinetic + self.nuclear


def compute_integrals(molecule: Molecule, basis: BasisSet, coordinates=None,
                      omega: float = 0.0) -> Integrals:
    """All integrals HF needs; ``coordinates`` (Bohr) default to the molecule's.

    ``omega`` > 0 also computes the long-range ERIs erf(omega r12)/r12 (``eri_long_range``)
    from the same pair data.
    """
    coords = jnp.asarray(molecule.coordinates if coordinates is None else coordinates)
    data = pair_data(basis, coords, molecule.atomic_numbers.astype(float), coords)
    overlap, kinetic, dipole, nuclear = one_electron_from_pairs(basis, data)
    pairs = [d[:3] for d in data]
    eri = electron_repulsion_from_pairs(basis, pairs)
    eri_long_range = electron_repulsion_from_pairs(basis, pairs, omega) if omega > 0.0 else None
    return Integrals(overlap, kinetic, nuclear, eri, dipole, eri_long_range)


def _atom_integrals_fn(molecule: Molecule, basis: BasisSet, ints: Integrals):
    """Integrals of each isolated neutral atom, for the SAD guess, cut from the molecule's.

    An atom's overlap, kinetic and two-electron integrals are the diagonal blocks of the
    molecular ones; only its nuclear attraction differs (its own nucleus alone), which
    the same compiled pair kernels give with the other charges set to zero. So the guess
    compiles no new integral code.
    """
    ranges = basis.atom_ao_ranges()
    overlap, kinetic, eri = (np.asarray(m) for m in (ints.overlap, ints.kinetic, ints.eri))
    coords = jnp.asarray(molecule.coordinates)

    def atom_integrals(symbol):
        atom = molecule.symbols.index(symbol)
        start, stop = ranges[atom]
        block = slice(start, stop)
        charges = np.zeros(molecule.natom)
        charges[atom] = molecule.atomic_numbers[atom]
        own_nucleus = np.asarray(one_electron_from_pairs(basis, pair_data(basis, coords, charges, coords))[3])
        return {"S": overlap[block, block], "T": kinetic[block, block],
                "V": own_nucleus[block, block], "eri": eri[block, block, block, block],
                "nelectron": int(molecule.atomic_numbers[atom])}

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
    functional: Functional = None
    grid: object = None
    xc_energy: float = 0.0

    def __getattr__(self, name):
        return getattr(self.result, name)

    @property
    def nao(self) -> int:
        return self.basis.nao

    @property
    def e_nuc(self) -> float:
        return float(self.result.nuclear_repulsion)


def scf(molecule: Molecule, basis="def2-svp", xc="hf", conv_tol: float = 1e-9,
        unrestricted=None, max_cycle: int = 100, cartesian: bool = False,
        conv_tol_grad=None, verbose: bool = False, guess: str = "sad",
        grid_level: int = 3, xc_params=None) -> SCFCalculation:
    """Run a self-consistent field calculation: Hartree-Fock or Kohn-Sham.

    Parameters
    ----------
    molecule : Molecule
    basis : str or dict, basis-set-exchange name(s), case-insensitive
    xc : "hf", a functional name as PySCF/libxc spell it ("b3lyp", "pbe", "r2scan", ...),
        or a :class:`dftjax.xc.Functional` (user-defined and neural functionals)
    grid_level : 0..9, PySCF's grid levels (Kohn-Sham only); default 3 as PySCF
    xc_params : parameters for the functional (default: its own)
    conv_tol : energy convergence threshold (Ha); the orbital-gradient threshold defaults
        to sqrt(conv_tol), as PySCF
    unrestricted : None picks restricted for singlets and unrestricted otherwise;
        True forces UHF; False forces RHF (singlets only)
    guess : "sad" (superposition of atomic densities) or "core"
    """
    if not isinstance(molecule, Molecule):
        raise TypeError(f"molecule must be a dftjax.Molecule, not {type(molecule).__name__}")
    functional = xc if isinstance(xc, Functional) else get_functional(str(xc))
    method = functional.name
    pure_hf = method == "hf"
    if unrestricted is None:
        unrestricted = molecule.multiplicity != 1
    if not unrestricted and molecule.multiplicity != 1:
        raise ValueError(f"restricted SCF needs multiplicity 1, got {molecule.multiplicity}")
    if guess not in ("sad", "core"):
        raise ValueError(f"unknown guess '{guess}': use 'sad' or 'core'")
    timings = {}
    start = time.perf_counter()
    basis_set = build_basis(molecule, basis, cartesian=cartesian)
    ints = compute_integrals(molecule, basis_set,
                             omega=functional.omega if functional.hf_long_range else 0.0)
    jax.block_until_ready(ints.eri)
    timings["integrals"] = time.perf_counter() - start
    tick = time.perf_counter()
    density = None
    if guess == "sad":
        density = sad_density(basis_set.atom_ao_ranges(), molecule.symbols,
                              _atom_integrals_fn(molecule, basis_set, ints))
    timings["guess"] = time.perf_counter() - tick
    grid = None
    if pure_hf:
        model = hf_fock_and_energy(ints.h_core, ints.eri)
    else:
        tick = time.perf_counter()
        coords = jnp.asarray(molecule.coordinates)
        grid = build_grid(molecule, level=grid_level)
        ao = ao_values(basis_set, coords, grid.coords, deriv=0 if functional.family == "lda" else 1)
        model = ks_fock_and_energy(functional, ints.h_core, ints.eri, ao, grid.weights,
                                   eri_long_range=ints.eri_long_range, xc_params=xc_params)
        jax.block_until_ready(model.params)
        timings["grid"] = time.perf_counter() - tick
    tick = time.perf_counter()
    result = run_scf(model, ints.overlap, ints.h_core,
                     molecule.nuclear_repulsion(), molecule.nalpha, molecule.nbeta,
                     restricted=not unrestricted, D0=density, conv_tol=conv_tol,
                     conv_tol_grad=conv_tol_grad, max_cycle=max_cycle, verbose=verbose)
    timings["scf"] = time.perf_counter() - tick
    dipole = np.asarray(result.dipole_moment(ints.dipole, molecule.atomic_numbers,
                                             molecule.coordinates))
    e_xc = 0.0
    if not pure_hf:
        density = result.density_matrix if not result.restricted else 0.5 * jnp.stack(
            [result.density_matrix, result.density_matrix])
        e_xc = float(xc_energy(functional, model.params["xc"], model.params["ao"],
                               model.params["weights"], density))
    timings["total"] = time.perf_counter() - start
    return SCFCalculation(result, molecule, basis_set, method, ints, dipole, timings,
                          functional, grid, e_xc)
