"""Orbital occupations from orbital energies.

Input mo_energy (2, nmo) for [alpha, beta] in Hartree; output occupations per
spin orbital (2, nmo), each between 0 and 1. Electron counts are traced
scalars, so a change of charge or spin does not recompile.
"""

import jax.numpy as jnp
import numpy as np

# Orbitals within this many Hartree of the highest occupied level share its
# electrons equally (fractional occupations for spherical atoms).
DEGENERACY_TOLERANCE = 1e-3


def aufbau_occupations(mo_energy, nalpha, nbeta):
    """Fill the nalpha (nbeta) lowest alpha (beta) orbitals with one electron each."""
    rank = jnp.argsort(jnp.argsort(mo_energy, axis=-1), axis=-1)
    count = jnp.stack([jnp.asarray(nalpha), jnp.asarray(nbeta)])
    return (rank < count[:, None]).astype(jnp.float64)


def host_aufbau_occupations(mo_energy, nalpha, nbeta):
    """:func:`aufbau_occupations` in NumPy (the same stable order among equal energies)."""
    rank = np.argsort(np.argsort(mo_energy, axis=-1, kind="stable"), axis=-1, kind="stable")
    count = np.stack([np.asarray(nalpha), np.asarray(nbeta)])
    return (rank < count[:, None]).astype(np.float64)


def fractional_occupations(mo_energy, nalpha, nbeta, tolerance=DEGENERACY_TOLERANCE, xp=jnp):
    """Spin-restricted aufbau whose last, partially filled level is shared equally.

    n = nalpha + nbeta electrons (possibly fractional) fill the alpha orbital
    energies mo_energy[0] two by two; the orbitals within ``tolerance`` Ha of the
    one where they run out (the HOMO level, e.g. the three 2p of an atom) share
    what is left equally, so an atom's density stays spherical. Both spins get
    half of each orbital's occupation. ``xp=np`` computes it on the host.
    """
    energies = mo_energy[0]
    nmo = energies.shape[0]
    per_spin = 0.5 * (xp.asarray(nalpha) + xp.asarray(nbeta))
    homo = xp.clip(xp.ceil(per_spin).astype(xp.int32) - 1, 0, nmo - 1)
    homo_energy = xp.sort(energies)[homo]
    group = xp.abs(energies - homo_energy) < tolerance
    below = (energies < homo_energy) & ~group
    shared = (per_spin - below.sum()) / group.sum()
    occupation = xp.where(below, 1.0, xp.where(group, shared, 0.0))
    return xp.stack([occupation, occupation])
