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

import jax.numpy as jnp
import numpy as np

from dftjax.elements import atomic_number
from dftjax.scf.driver import (
    core_density, density_from_orbitals, diagonalize, iterate, make_settings)
from dftjax.scf.energy import hf_fock_and_energy
from dftjax.scf.occupations import fractional_occupations
from dftjax.scf.orthogonalize import orthogonalizer

# An atomic guess needs no tight convergence: the molecule's SCF refines it.
ATOM_CONV_TOL = 1e-6
ATOM_MAX_CYCLE = 50


def core_guess(S, h_core, nalpha, nbeta, lindep_threshold=1e-8):
    """Spin densities (2, nao, nao) of the aufbau determinant of h_core."""
    X = orthogonalizer(S, lindep_threshold).X
    return core_density(h_core, X, nalpha, nbeta)


def atomic_density(ints_atom, nelectron, max_cycle=ATOM_MAX_CYCLE, conv_tol=ATOM_CONV_TOL):
    """Total density (nao_atom, nao_atom) of a spherical fractional-occupation RHF atom.

    ints_atom: mapping with the isolated atom's 'S', 'T', 'V', 'eri'. Starts from the
    core Hamiltonian, accelerates with DIIS and stops at conv_tol or max_cycle,
    converged or not (it is only a guess).
    """
    overlap = jnp.asarray(ints_atom["S"], jnp.float64)
    h_core = jnp.asarray(ints_atom["T"], jnp.float64) + jnp.asarray(ints_atom["V"], jnp.float64)
    X = orthogonalizer(overlap).X
    half = 0.5 * nelectron
    settings = make_settings(half, half)
    mo_energy, mo_coeff = diagonalize(jnp.stack([h_core, h_core]), X, restricted=True)
    guess = density_from_orbitals(mo_coeff, fractional_occupations(mo_energy, half, half))
    state, _ = iterate(
        hf_fock_and_energy(h_core, ints_atom["eri"]), overlap, X, guess, settings,
        restricted=True, occupations=fractional_occupations, conv_tol=conv_tol,
        conv_tol_grad=float(np.sqrt(conv_tol)), max_cycle=max_cycle, diis_space=8)
    return state.density.sum(axis=0)


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
    densities = {}
    for (start, stop), symbol in zip(ranges, symbols):
        if symbol not in densities:
            ints_atom = atom_integrals_fn(symbol)
            nelectron = ints_atom.get("nelectron", atomic_number(symbol))
            densities[symbol] = np.asarray(atomic_density(ints_atom, nelectron))
        block = densities[symbol]
        if block.shape[0] != stop - start:
            raise ValueError(f"atom {symbol}: {block.shape[0]} atomic AOs for range {start}:{stop}")
        total[start:stop, start:stop] = block
    half = 0.5 * jnp.asarray(total)
    return jnp.stack([half, half])
