"""Rotations of an AO basis about a molecule's axis, and the axial average of a density.

A linear molecule's Pi state is degenerate: its pi orbitals may point along any direction
about the axis, and which one an SCF (or a coupled-cluster reference) lands on depends on
its guess and round-off. Two densities of the same state can then differ by a rotation,
and a density loss between them measures that rotation, which no functional can fit.
Averaging both over rotations about the axis removes it: the average is the density of
the state's ensemble, the same whichever direction the orbitals took.

With every atom on the axis, a rotation Q about it maps each shell's functions onto
combinations of the same shell's functions: phi_mu(Q^-1 r) = sum_nu phi_nu(r) R_nu,mu
(:func:`ao_rotation`), and the density of R D R^T is the density of D rotated by Q. A
density of AOs up to angular momentum L holds angular frequencies up to 2L about the axis,
so the mean over 2L + 1 equally spaced angles is the exact average over all angles
(:func:`axial_average`).
"""

import jax.numpy as jnp
import numpy as np

from ..grid.ao_values import ao_values

#: Largest distance (Bohr) of an atom from the line through the others for the molecule
#: to count as linear: far below any bond-angle deviation a geometry file would carry.
LINEAR_TOLERANCE = 1e-6


def linear_axis(coordinates, tolerance=LINEAR_TOLERANCE):
    """(point (3,), unit direction (3,)) of the line through all atoms, or None when
    there are fewer than two atoms or they are not on one line. coordinates (natom, 3),
    Bohr."""
    coordinates = np.asarray(coordinates, np.float64).reshape(-1, 3)
    if len(coordinates) < 2:
        return None
    origin = coordinates.mean(axis=0)
    relative = coordinates - origin
    far = relative[np.argmax(np.linalg.norm(relative, axis=1))]
    length = np.linalg.norm(far)
    if length == 0.0:
        return None
    direction = far / length
    off_axis = relative - np.outer(relative @ direction, direction)
    if np.linalg.norm(off_axis, axis=1).max() > tolerance:
        return None
    return origin, direction


def rotation_matrix(direction, angle):
    """The 3x3 rotation by ``angle`` (radians, right-handed) about unit vector ``direction``."""
    n = np.asarray(direction, np.float64)
    cross = np.array([[0.0, -n[2], n[1]], [n[2], 0.0, -n[0]], [-n[1], n[0], 0.0]])
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * cross @ cross


def _sphere_directions(count):
    """``count`` unit vectors spread over the sphere (a Fibonacci lattice), (count, 3)."""
    k = np.arange(count) + 0.5
    polar = np.arccos(1.0 - 2.0 * k / count)
    azimuth = np.pi * (1.0 + 5.0 ** 0.5) * k
    return np.stack([np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth),
                     np.cos(polar)], axis=1)


def ao_rotation(basis, coordinates, rotation):
    """R (nao, nao), block diagonal by shell, with phi_mu(Q^-1 (r - A) + A) =
    sum_nu phi_nu(r) R_nu,mu for every AO mu on atom A, Q = ``rotation`` (3, 3).

    Each atom must lie on the rotation's axis (the caller's to ensure, e.g. with
    :func:`linear_axis`); then the density of R D R^T is that of D rotated by Q. A shell's
    components share their radial part, so R's block is the exact solution of the shell's
    values at rotated and unrotated points on one sphere about its atom (radius where the
    shell's most diffuse primitive has fallen to 1/e, so no value underflows).
    """
    coordinates = np.asarray(coordinates, np.float64).reshape(-1, 3)
    rotation = np.asarray(rotation, np.float64)
    directions = _sphere_directions(4 * (2 * basis.max_l + 1) + 8)
    points, rotated = [], []
    for shell in range(basis.nshell):
        radius = 1.0 / np.sqrt(np.min(basis.exponents[shell]))
        centre = coordinates[basis.shell_atom[shell]]
        points.append(centre + radius * directions)
        rotated.append(centre + radius * directions @ rotation)  # rows Q^-1 v = Q^T v
    values = np.asarray(ao_values(basis, coordinates, np.concatenate(points + rotated)))[0]
    plain, turned = values[:len(values) // 2], values[len(values) // 2:]
    result = np.zeros((basis.nao, basis.nao))
    count = len(directions)
    for shell in range(basis.nshell):
        aos = slice(basis.ao_offset[shell], basis.ao_offset[shell + 1])
        rows = slice(shell * count, (shell + 1) * count)
        block, *_ = np.linalg.lstsq(plain[rows, aos], turned[rows, aos], rcond=None)
        result[aos, aos] = block
    return result


def axial_rotations(basis, coordinates):
    """The AO rotations (N, nao, nao) by 2 pi k / N, k = 0..N-1, N = 2 L + 1 (L the basis'
    largest angular momentum), about the axis of a linear molecule; ValueError when the
    atoms are not on one line."""
    axis = linear_axis(coordinates)
    if axis is None:
        raise ValueError("an axial average needs a linear molecule (two or more atoms on one line)")
    count = 2 * basis.max_l + 1
    return np.stack([ao_rotation(basis, coordinates, rotation_matrix(axis[1], 2.0 * np.pi * k / count))
                     for k in range(count)])


def axial_average(rotations, density_matrix):
    """The density matrix of the density averaged over rotations about the axis:
    mean_k R_k D R_k^T. rotations (N, nao, nao) from :func:`axial_rotations`;
    density_matrix (..., nao, nao), NumPy or JAX (differentiable in it)."""
    xp = np if isinstance(density_matrix, np.ndarray) else jnp
    rotations = xp.asarray(rotations)
    turned = xp.einsum("kab,...bc,kdc->...ad", rotations, density_matrix, rotations)
    return turned / rotations.shape[0]
