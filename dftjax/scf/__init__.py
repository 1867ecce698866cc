"""Self-consistent field: Hartree-Fock now, Kohn-Sham through the same driver.

An energy model maps spin density matrices D (2, nao, nao) to (F, E_electronic),
F = dE/dD; ``run_scf`` iterates it to self-consistency from a guess density and
returns an ``SCFResult``. Atomic units (Hartree, Bohr) throughout.
"""

from dftjax.scf.ladder import run_scf
from dftjax.scf.energy import (
    EnergyModel,
    autodiff_fock_and_energy,
    coulomb,
    exchange,
    hf_energy,
    hf_fock,
    hf_fock_and_energy,
)
from dftjax.scf.guess import atomic_density, core_guess, sad_density
from dftjax.scf.orthogonalize import orthogonalizer
from dftjax.scf.result import SCFResult, dipole_moment, spin_square

__all__ = [
    "EnergyModel",
    "SCFResult",
    "atomic_density",
    "autodiff_fock_and_energy",
    "core_guess",
    "coulomb",
    "dipole_moment",
    "exchange",
    "hf_energy",
    "hf_fock",
    "hf_fock_and_energy",
    "orthogonalizer",
    "run_scf",
    "sad_density",
    "spin_square",
]
