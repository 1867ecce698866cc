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
:func:`becke_cell_weights` is JAX, differentiable with respect to the atom coordinates.
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


def becke_cell_weights(points, owner, atom_coordinates, adjustment):
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

    Returns
    -------
    jax.Array
        P_owner / sum_B P_B, shape (npts,), in [0, 1].
    """
    natom = atom_coordinates.shape[0]
    off_diagonal = ~np.eye(natom, dtype=bool)
    # Double where: the diagonal has |R_A - R_A| = 0, whose sqrt and reciprocal would
    # send NaN into the gradient even if the value were masked afterwards.
    separation = atom_coordinates[:, None, :] - atom_coordinates[None, :, :]
    squared = jnp.where(off_diagonal, jnp.sum(separation**2, axis=-1), 1.0)
    inverse_distance = jnp.where(off_diagonal, 1.0 / jnp.sqrt(squared), 0.0)

    displacement = points[:, None, :] - atom_coordinates[None, :, :]
    squared = jnp.sum(displacement**2, axis=-1)
    # A point exactly on a nucleus (only a padding point can be) must not give NaN either.
    on_nucleus = squared == 0.0
    distance = jnp.where(on_nucleus, 0.0, jnp.sqrt(jnp.where(on_nucleus, 1.0, squared)))

    mu = (distance[:, :, None] - distance[:, None, :]) * inverse_distance
    nu = mu + jnp.asarray(adjustment) * (1.0 - mu * mu)
    for _ in range(3):
        nu = 0.5 * (3.0 - nu * nu) * nu
    step = jnp.where(off_diagonal, 0.5 * (1.0 - nu), 1.0)
    cell = jnp.prod(step, axis=2)  # P_A for every atom A, shape (npts, natom)
    own = jnp.take_along_axis(cell, owner[:, None], axis=1)[:, 0]
    return own / jnp.sum(cell, axis=1)
