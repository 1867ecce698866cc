"""Initial guesses for the SCF: spin density matrices (2, nao, nao) [alpha, beta].

* ``sad_density`` (the default): superposition of atomic densities. Each distinct
  element gets a spin-restricted Hartree-Fock calculation of its neutral atom
  with fractional occupations (the partially filled shell shared equally, so the
  density is spherical); the molecular guess is the block-diagonal sum of these
  atomic densities, alpha and beta each half. It is not idempotent and has no
  spin polarisation: the first diagonalisation with nalpha != nbeta breaks that.
  Cf. Van Lenthe et al., J. Comput. Chem. 27, 926 (2006); PySCF's 'atom' guess.
* ``core_guess``: aufbau orbitals of the core Hamiltonian h = T + V. Poor (it
  ignores electron repulsion); a fallback only.
"""

import jax
import numpy as np

from dftjax.elements import atomic_number
from dftjax.grid.screening import bucket
from dftjax.scf.driver import core_density, iterate, make_settings
from dftjax.scf.energy import hf_fock_and_energy
from dftjax.scf.occupations import fractional_occupations
from dftjax.scf.orthogonalize import orthogonalizer

# An atomic guess needs no tight convergence: the molecule's SCF refines it.
ATOM_CONV_TOL = 1e-6
ATOM_MAX_CYCLE = 50
# Core-Hamiltonian diagonal (Ha) of the padding functions of an atom (atomic_density's
# ``size``): far above any occupied level, so they stay empty; they couple to nothing.
PAD_ENERGY = 1e3


def core_guess(S, h_core, nalpha, nbeta, lindep_threshold=1e-8):
    """Spin densities (2, nao, nao) of the aufbau determinant of h_core."""
    X = orthogonalizer(S, lindep_threshold).X
    return core_density(h_core, X, nalpha, nbeta)


def _core_density_on_host(h_core, X, half):
    """Spin densities (2, n, n) of the core Hamiltonian's orbitals with fractional
    occupations, ``half`` electrons per spin: the atomic SCF's start, in NumPy, which
    (unlike :func:`~dftjax.scf.driver.core_density`) compiles nothing per atom size."""
    X = np.asarray(X)
    energies, vectors = np.linalg.eigh(X.T @ np.asarray(h_core) @ X)
    coefficients = X @ vectors
    occupation = fractional_occupations(np.stack([energies, energies]), half, half, xp=np)
    return np.einsum("im,sm,jm->sij", coefficients, occupation, coefficients)


def atomic_density(ints_atom, nelectron, max_cycle=ATOM_MAX_CYCLE, conv_tol=ATOM_CONV_TOL,
                   size=None):
    """Total density (nao_atom, nao_atom) of a spherical fractional-occupation RHF atom.

    ints_atom: mapping with the isolated atom's 'S', 'T', 'V', 'eri'. Starts from the
    core Hamiltonian, accelerates with DIIS and stops at conv_tol or max_cycle,
    converged or not (it is only a guess). ``size`` >= nao_atom pads the problem with
    functions that couple to nothing (unit overlap, core energy PAD_ENERGY, no
    repulsion), so that atoms of different elements run the same compiled SCF step.
    """
    n = np.shape(ints_atom["S"])[0]
    size = n if size is None else size
    overlap = np.eye(size)
    overlap[:n, :n] = ints_atom["S"]
    h_core = PAD_ENERGY * np.eye(size)
    h_core[:n, :n] = np.asarray(ints_atom["T"]) + np.asarray(ints_atom["V"])
    eri = np.zeros((size,) * 4)
    eri[:n, :n, :n, :n] = ints_atom["eri"]
    overlap, h_core = jax.device_put(overlap), jax.device_put(h_core)  # (jnp.asarray compiles)
    X = orthogonalizer(overlap).X
    half = 0.5 * nelectron
    settings = make_settings(half, half)
    guess = jax.device_put(_core_density_on_host(h_core, X, half))
    state, _ = iterate(
        hf_fock_and_energy(h_core, jax.device_put(eri)), overlap, X, guess, settings,
        restricted=True, occupations=fractional_occupations, conv_tol=conv_tol,
        conv_tol_grad=float(np.sqrt(conv_tol)), max_cycle=max_cycle, diis_space=8)
    return np.asarray(state.density).sum(axis=0)[:n, :n]


def sad_density(atoms_ao_ranges, symbols, atom_integrals_fn):
    """Superposition of atomic densities as spin densities (2, nao, nao).

    atoms_ao_ranges: per atom its AO range (start, stop), in AO order;
    symbols: per atom its element symbol; atom_integrals_fn(symbol) returns the
    isolated neutral atom's integrals {'S', 'T', 'V', 'eri'} in the same basis,
    and optionally 'nelectron' (default: the atomic number). Each element is
    computed once.
    """
    ranges = [(int(start), int(stop)) for start, stop in atoms_ao_ranges]
    nao = max(stop for _, stop in ranges)
    total = np.zeros((nao, nao))
    # every element padded to one size from a ladder: one compiled atomic SCF for all
    # of them, shared with other molecules whose largest atom falls in the same bucket
    size = bucket(max(stop - start for start, stop in ranges))
    densities = {}
    for (start, stop), symbol in zip(ranges, symbols):
        if symbol not in densities:
            ints_atom = atom_integrals_fn(symbol)
            nelectron = ints_atom.get("nelectron", atomic_number(symbol))
            densities[symbol] = atomic_density(ints_atom, nelectron, size=size)
        block = densities[symbol]
        if block.shape[0] != stop - start:
            raise ValueError(f"atom {symbol}: {block.shape[0]} atomic AOs for range {start}:{stop}")
        total[start:stop, start:stop] = block
    return jax.device_put(np.stack([0.5 * total, 0.5 * total]))
