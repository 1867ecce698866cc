"""Angular quadrature on the unit sphere: Lebedev-Laikov rules from SciPy.

``scipy.integrate.lebedev_rule(order)`` provides the rules (SciPy >= 1.15); they are
the same point sets and weights as PySCF's own tables, to 1e-18. Here they are indexed
by their number of points, as PySCF's grid tables do, and the weights sum to 4 pi.
The rules of the default grid level (3) ship with the package, copied bit for bit from
SciPy (``dftjax/data/lebedev``, with the script that made them), so that a default run
does not import ``scipy.integrate`` (about 0.4 s of a warm run).

Lebedev & Laikov, Doklady Mathematics 59, 477 (1999).
"""

from functools import lru_cache
from importlib.resources import files

import numpy as np

LEBEDEV_ORDER = {
    3: 6, 5: 14, 7: 26, 9: 38, 11: 50, 13: 74, 15: 86, 17: 110, 19: 146, 21: 170,
    23: 194, 25: 230, 27: 266, 29: 302, 31: 350, 35: 434, 41: 590, 47: 770, 53: 974,
    59: 1202, 65: 1454, 71: 1730, 77: 2030, 83: 2354, 89: 2702, 95: 3074, 101: 3470,
    107: 3890, 113: 4334, 119: 4802, 125: 5294, 131: 5810,
}
"""Algebraic order (highest spherical-harmonic degree integrated exactly) -> number of points."""

LEBEDEV_NPOINTS = np.array(sorted(LEBEDEV_ORDER.values()))
"""The available point counts, increasing: 6, 14, 26, 38, 50, 74, 86, ..., 5810."""

_ORDER_OF_NPOINTS = {npoints: order for order, npoints in LEBEDEV_ORDER.items()}


@lru_cache(maxsize=None)
def lebedev(npoints):
    """The Lebedev rule with ``npoints`` points.

    Parameters
    ----------
    npoints : int
        One of ``LEBEDEV_NPOINTS``.

    Returns
    -------
    directions : numpy.ndarray
        Unit vectors, shape (npoints, 3).
    weights : numpy.ndarray
        Weights, shape (npoints,), summing to 4 pi (some rules have negative weights).
        Read-only arrays, shared between calls.
    """
    if npoints not in _ORDER_OF_NPOINTS:
        raise ValueError(f"no Lebedev rule with {npoints} points; available: {list(LEBEDEV_NPOINTS)}")
    shipped = _shipped_rules()
    if npoints in shipped:
        table = shipped[npoints]
        points, weights = table[:, :3].T, np.ascontiguousarray(table[:, 3])
    else:
        from scipy.integrate import lebedev_rule  # SciPy >= 1.15

        points, weights = lebedev_rule(_ORDER_OF_NPOINTS[npoints])
    directions = np.ascontiguousarray(points.T)
    directions.flags.writeable = False
    weights.flags.writeable = False
    return directions, weights


@lru_cache(maxsize=1)
def _shipped_rules():
    """{npoints: (npoints, 4) x, y, z, weight} of the rules in the package (see the
    module docstring)."""
    with np.load(files("dftjax") / "data" / "lebedev" / "lebedev.npz") as data:
        return {int(name[1:]): data[name] for name in data.files}
