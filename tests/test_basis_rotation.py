"""AO rotations about a linear molecule's axis (dftjax.basis.rotation), checked against
the AO values at rotated points: the density of R D R^T must be the density of D rotated.
Everything here is exact algebra, so the tolerances are round-off."""

import numpy as np
import pytest

import dftjax
from dftjax.basis.basis_set import build_basis
from dftjax.basis.rotation import (ao_rotation, axial_average, axial_rotations, linear_axis,
                                   rotation_matrix)
from dftjax.grid.ao_values import ao_values

# NO off every coordinate axis, so that no rotation is a permutation of components
NO = dftjax.Molecule(["N", "O"], [[0.1, 0.2, 0.3], [0.9, 1.1, 1.5]], unit="angstrom",
                     multiplicity=2)
ROUND_OFF = 1e-12  # relative: products of O(1) values and a 7x7 least-squares solve


def density(basis, coordinates, density_matrix, points):
    phi = np.asarray(ao_values(basis, coordinates, points))[0]
    return np.einsum("pm,mn,pn->p", phi, density_matrix, phi)


def random_symmetric(n, seed=0):
    matrix = np.random.default_rng(seed).standard_normal((n, n))
    return matrix + matrix.T


@pytest.fixture(scope="module", params=[("cc-pvtz", False), ("6-31g*", True)],
                ids=["spherical-f", "cartesian-d"])
def basis(request):
    name, cartesian = request.param
    return build_basis(NO, name, cartesian=cartesian)


def test_rotated_density_matrix_gives_the_rotated_density(basis):
    coordinates = np.asarray(NO.coordinates)
    origin, direction = linear_axis(coordinates)
    rotation = rotation_matrix(direction, 0.7)
    R = ao_rotation(basis, coordinates, rotation)
    D = random_symmetric(basis.nao)
    points = origin + np.random.default_rng(1).standard_normal((60, 3))
    turned = density(basis, coordinates, R @ D @ R.T, points)
    # rho'(r) = rho(Q^-1 r) about the axis through origin; rows of (r - o) Q are Q^T (r - o)
    expected = density(basis, coordinates, D, (points - origin) @ rotation + origin)
    assert np.abs(turned - expected).max() <= ROUND_OFF * np.abs(expected).max()


def test_rotations_compose(basis):
    coordinates = np.asarray(NO.coordinates)
    direction = linear_axis(coordinates)[1]
    R = lambda angle: ao_rotation(basis, coordinates, rotation_matrix(direction, angle))
    np.testing.assert_allclose(R(0.3) @ R(1.1), R(1.4), atol=ROUND_OFF)
    np.testing.assert_allclose(R(0.0), np.eye(basis.nao), atol=ROUND_OFF)


def test_axial_average_is_invariant_under_any_rotation_about_the_axis(basis):
    coordinates = np.asarray(NO.coordinates)
    origin, direction = linear_axis(coordinates)
    rotations = axial_rotations(basis, coordinates)
    assert len(rotations) == 2 * basis.max_l + 1
    D = random_symmetric(basis.nao, seed=2)
    average = axial_average(rotations, D)
    points = origin + np.random.default_rng(3).standard_normal((60, 3))
    plain = density(basis, coordinates, average, points)
    for angle in (0.123, 1.0, 2.5):
        turned = density(basis, coordinates, average,
                         (points - origin) @ rotation_matrix(direction, angle) + origin)
        assert np.abs(turned - plain).max() <= ROUND_OFF * np.abs(plain).max()
    # ... and the average of a rotated matrix is the same average
    R = ao_rotation(basis, coordinates, rotation_matrix(direction, 0.4))
    np.testing.assert_allclose(axial_average(rotations, R @ D @ R.T), average,
                               atol=ROUND_OFF * np.abs(average).max())


def test_linear_axis():
    origin, direction = linear_axis([[0, 0, 0], [0, 0, 1], [0, 0, 3.5]])
    assert abs(abs(direction[2]) - 1.0) < 1e-15
    assert linear_axis([[0, 0, 0]]) is None
    assert linear_axis([[1, 2, 3], [1, 2, 3]]) is None  # no direction
    assert linear_axis([[0, 0, 0], [0, 0, 1], [0, 1e-3, 2]]) is None  # bent by 1e-3 Bohr
    with pytest.raises(ValueError, match="linear molecule"):
        axial_rotations(build_basis(dftjax.Molecule.from_xyz(
            "3\n\nO 0 0 0\nH 0 0.76 0.59\nH 0 -0.76 0.59\n"), "sto-3g"),
            dftjax.Molecule.from_xyz("3\n\nO 0 0 0\nH 0 0.76 0.59\nH 0 -0.76 0.59\n").coordinates)
