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
from dftjax.scf.driver import core_density
from dftjax.scf.occupations import fractional_occupations
from dftjax.scf.orthogonalize import orthogonalizer

# An atomic guess needs no tight convergence: the molecule's SCF refines it.
ATOM_CONV_TOL = 1e-6
ATOM_MAX_CYCLE = 50
ATOM_DIIS_SPACE = 8


def core_guess(S, h_core, nalpha, nbeta, lindep_threshold=1e-8):
    """Spin densities (2, nao, nao) of the aufbau determinant of h_core."""
    X = orthogonalizer(S, lindep_threshold).X
    return core_density(h_core, X, nalpha, nbeta)


def _fractional_density(fock, X, half):
    """Total density (n, n) of the orbitals of ``fock`` with fractional occupations,
    ``half`` electrons per spin (NumPy)."""
    energies, vectors = np.linalg.eigh(X.T @ fock @ X)
    coefficients = X @ vectors
    occupation = fractional_occupations(energies[None], half, half, xp=np)[0]
    return 2.0 * (coefficients * occupation) @ coefficients.T


def _diis_fock(focks, errors):
    """Pulay's extrapolation sum_i c_i F_i, sum_i c_i = 1, minimising |sum_i c_i e_i|."""
    n = len(focks)
    matrix = -np.ones((n + 1, n + 1))
    matrix[n, n] = 0.0
    matrix[:n, :n] = [[np.vdot(a, b) for b in errors] for a in errors]
    rhs = np.zeros(n + 1)
    rhs[n] = -1.0
    coefficients = np.linalg.lstsq(matrix, rhs, rcond=None)[0][:n]
    return np.einsum("k,kij->ij", coefficients, np.asarray(focks))


def atomic_density(ints_atom, nelectron, max_cycle=ATOM_MAX_CYCLE, conv_tol=ATOM_CONV_TOL):
    """Total density (nao_atom, nao_atom) of a spherical fractional-occupation RHF atom.

    ints_atom: mapping with the isolated atom's 'S', 'T', 'V', 'eri'. Starts from the
    core Hamiltonian, accelerates with DIIS and stops when the energy changes by less
    than conv_tol and the commutator error's norm is below sqrt(conv_tol), or after
    max_cycle cycles, converged or not (it is only a guess). In NumPy on the host: an
    atom has tens of functions, and a compiled atomic SCF cost a first run about a
    second of XLA compilation for programs used for nothing else.
    """
    overlap = np.asarray(ints_atom["S"], np.float64)
    h_core = np.asarray(ints_atom["T"], np.float64) + np.asarray(ints_atom["V"], np.float64)
    eri = np.asarray(ints_atom["eri"], np.float64)
    X = np.asarray(orthogonalizer(overlap).X)
    half = 0.5 * nelectron
    density = _fractional_density(h_core, X, half)
    focks, errors, energy = [], [], np.inf
    for _ in range(max_cycle):
        fock = (h_core + np.einsum("ijkl,kl->ij", eri, density)
                - 0.5 * np.einsum("ikjl,kl->ij", eri, density))
        new_energy = 0.5 * np.vdot(density, h_core + fock)
        fds = fock @ density @ overlap
        error = X.T @ (fds - fds.T) @ X
        if abs(new_energy - energy) < conv_tol and np.linalg.norm(error) < np.sqrt(conv_tol):
            break
        energy = new_energy
        focks, errors = (focks + [fock])[-ATOM_DIIS_SPACE:], (errors + [error])[-ATOM_DIIS_SPACE:]
        density = _fractional_density(_diis_fock(focks, errors), X, half)
    return density


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
            densities[symbol] = atomic_density(ints_atom, nelectron)
        block = densities[symbol]
        if block.shape[0] != stop - start:
            raise ValueError(f"atom {symbol}: {block.shape[0]} atomic AOs for range {start}:{stop}")
        total[start:stop, start:stop] = block
    return jax.device_put(np.stack([0.5 * total, 0.5 * total]))
