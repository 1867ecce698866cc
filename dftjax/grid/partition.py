"""Becke partition of space into atomic cells, with Treutler's atomic-size adjustment.

The weight of a grid point r that belongs to the atomic grid of atom A is multiplied
by the cell function w_A(r) = P_A(r) / sum_B P_B(r), where

    P_A(r)  = prod_{B != A} s(nu_AB(r)),        s(nu) = (1 - f(f(f(nu)))) / 2,
    f(x)    = (3 x - x^3) / 2,
    mu_AB   = (|r - R_A| - |r - R_B|) / |R_A - R_B|,
    nu_AB   = mu_AB + a_AB (1 - mu_AB^2),
    a_AB    = (chi_BA - chi_AB) / 4 clipped to [-1/2, 1/2],  chi_AB = sqrt(R_A^Bragg / R_B^Bragg).

Becke, J. Chem. Phys. 88, 2547 (1988), eqs. (11)-(13) and appendix; the square root of
the radius ratio is Treutler & Ahlrichs's choice, J. Chem. Phys. 102, 346 (1995). These
are PySCF's defaults (``original_becke``, ``treutler_atomic_radii_adjust``,
``BRAGG_RADII``).

:func:`size_adjustment` is host-side (it depends on the elements only);
:func:`becke_cell_weights` is JAX, differentiable with respect to the atom coordinates, or
NumPy (``xp=np``) for a grid built on the host.
"""

import jax.numpy as jnp
import numpy as np

from .radial import BRAGG_RADII


def size_adjustment(atomic_numbers):
    """Treutler's atomic-size adjustment a_AB, shape (natom, natom), antisymmetric.

    Parameters
    ----------
    atomic_numbers : sequence of int
        Elements of the atoms, shape (natom,).
    """
    radius = np.sqrt(BRAGG_RADII[np.asarray(atomic_numbers, dtype=int)])
    ratio = radius[:, None] / radius[None, :]  # chi_AB
    return np.clip(0.25 * (ratio.T - ratio), -0.5, 0.5)


def becke_cell_weights(points, owner, atom_coordinates, adjustment, xp=jnp):
    """Becke cell function of each point's own atom, w_owner(r).

    Parameters
    ----------
    points : jax.Array
        Grid points in Bohr, shape (npts, 3).
    owner : jax.Array of int
        Index of the atom whose atomic grid each point comes from, shape (npts,).
    atom_coordinates : jax.Array
        Atom positions in Bohr, shape (natom, 3); distinct atoms.
    adjustment : array_like
        a_AB from :func:`size_adjustment`, shape (natom, natom).
    xp : module
        ``jax.numpy`` (traceable) or ``numpy`` (concrete arrays: nothing to compile).

    Returns
    -------
    jax.Array
        P_owner / sum_B P_B, shape (npts,), in [0, 1].
    """
    natom = atom_coordinates.shape[0]
    # Each pair A < B once: mu_BA = -mu_AB and a_BA = -a_AB, so nu_BA = -nu_AB, and f is
    # odd, so s(nu_BA) = (1 + f(f(f(nu_AB)))) / 2.
    first, second = np.triu_indices(natom, 1)
    separation = atom_coordinates[first] - atom_coordinates[second]
    inverse_distance = 1.0 / xp.sqrt(xp.sum(separation**2, axis=-1))

    displacement = points[:, None, :] - atom_coordinates[None, :, :]
    squared = xp.sum(displacement**2, axis=-1)
    # A point exactly on a nucleus (only a padding point can be) must not give NaN: a double
    # where, since the sqrt's derivative at 0 would send NaN into the gradient even masked.
    on_nucleus = squared == 0.0
    distance = xp.where(on_nucleus, 0.0, xp.sqrt(xp.where(on_nucleus, 1.0, squared)))

    mu = (distance[:, first] - distance[:, second]) * inverse_distance  # (npts, npair)
    nu = mu + xp.asarray(adjustment)[first, second] * (1.0 - mu * mu)
    for _ in range(3):
        nu = 0.5 * (3.0 - nu * nu) * nu
    cell = [1.0] * natom  # P_A for every atom A
    for pair, (a, b) in enumerate(zip(first.tolist(), second.tolist())):
        cell[a] = cell[a] * (0.5 * (1.0 - nu[:, pair]))
        cell[b] = cell[b] * (0.5 * (1.0 + nu[:, pair]))
    cell = xp.stack([xp.broadcast_to(xp.asarray(p, points.dtype), points.shape[:1]) for p in cell],
                    axis=1)  # (npts, natom); a lone atom has P = 1
    own = xp.take_along_axis(cell, owner[:, None], axis=1)[:, 0]
    return own / xp.sum(cell, axis=1)
