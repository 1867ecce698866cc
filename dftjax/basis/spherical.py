"""Cartesian Gaussian components and the Cartesian-to-spherical transformation.

Conventions are PySCF's (libcint's), so that matrices compare element by element:

* Cartesian components of angular momentum ``l`` are ordered xx, xy, xz, yy, yz, zz, ...
  (exponent of x descending, then y descending), see :func:`cartesian_powers`.
* Real spherical functions are ordered m = -l, ..., l, except p, which is x, y, z.
* A Cartesian function of a shell is ``N_l * x^a y^b z^c exp(-alpha r^2)`` times the
  radial normalisation of the contracted shell, with ``N_0 = 1/sqrt(4 pi)``,
  ``N_1 = sqrt(3/(4 pi))`` and ``N_l = 1`` for l >= 2 (so s and p Cartesians are
  normalised, higher ones are not).
* A spherical function is the unit-normalised real solid harmonic
  ``r^l Y_lm(theta, phi)`` times the same radial part; :func:`cart_to_sph` holds its
  expansion coefficients in the Cartesian monomials, shape (2l+1, ncart(l)).
"""

from functools import lru_cache
from math import comb, factorial, pi, sqrt

import numpy as np


def ncart(l: int) -> int:
    """Number of Cartesian components of angular momentum ``l``."""
    return (l + 1) * (l + 2) // 2


def nsph(l: int) -> int:
    """Number of real spherical components of angular momentum ``l``."""
    return 2 * l + 1


@lru_cache(maxsize=None)
def cartesian_powers(l: int) -> np.ndarray:
    """Exponents (a, b, c) of x^a y^b z^c for each Cartesian component, shape (ncart, 3)."""
    return np.array(
        [(a, l - a - c, c) for a in range(l, -1, -1) for c in range(0, l - a + 1)],
        dtype=np.int64,
    )


def cartesian_prefactor(l: int) -> float:
    """The factor N_l that libcint puts in front of every Cartesian component."""
    return {0: 1.0 / sqrt(4.0 * pi), 1: sqrt(3.0 / (4.0 * pi))}.get(l, 1.0)


def _solid_harmonic_terms(l: int, m: int) -> dict:
    """Monomial coefficients of the real solid harmonic r^l Y_lm, unit-normalised on the sphere.

    Helgaker, Jorgensen & Olsen, Molecular Electronic-Structure Theory, eq. (6.4.47)-(6.4.50),
    rescaled by sqrt((2l+1)/(4 pi)) from their Racah normalisation.
    """
    am = abs(m)
    vm = 0.5 if m < 0 else 0.0
    norm = sqrt(2.0 * factorial(l + am) * factorial(l - am) / (2.0 if m == 0 else 1.0))
    norm /= 2**am * factorial(l)
    norm *= sqrt((2 * l + 1) / (4.0 * pi))
    terms: dict = {}
    for t in range((l - am) // 2 + 1):
        for u in range(t + 1):
            v2 = int(2 * vm)
            while v2 <= am:  # 2v runs over the even (m >= 0) or odd (m < 0) values up to |m|
                v = v2 / 2.0
                sign = (-1.0) ** (t + v - vm)
                coeff = (
                    sign
                    * 0.25**t
                    * comb(l, t)
                    * comb(l - t, am + t)
                    * comb(t, u)
                    * comb(am, v2)
                )
                powers = (
                    2 * t + am - 2 * u - v2,
                    2 * u + v2,
                    l - 2 * t - am,
                )
                terms[powers] = terms.get(powers, 0.0) + norm * coeff
                v2 += 2
    return terms


@lru_cache(maxsize=None)
def cart_to_sph(l: int) -> np.ndarray:
    """Coefficients of each spherical function in the (libcint-normalised) Cartesian ones.

    Returns an array of shape (2l+1, ncart(l)) such that
    ``spherical = cart_to_sph(l) @ cartesian``. For l = 0, 1 it is the identity (p in
    x, y, z order).
    """
    if l < 2:
        return np.eye(ncart(l))
    index = {tuple(p): i for i, p in enumerate(cartesian_powers(l))}
    out = np.zeros((nsph(l), ncart(l)))
    for row, m in enumerate(range(-l, l + 1)):
        for powers, coeff in _solid_harmonic_terms(l, m).items():
            out[row, index[powers]] += coeff
    return out
