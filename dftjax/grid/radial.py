"""Radial quadrature: Treutler-Ahlrichs M4 grids and the atomic radii that scale them.

Everything here is host-side NumPy: the radial nodes of an atom depend only on its
element and the number of points, never on the geometry. Lengths are in Bohr.

* :func:`treutler_ahlrichs` - the M4 mapping of Gauss-Chebyshev (second kind) nodes onto
  [0, inf), with the element-specific scale factor xi of Treutler and Ahlrichs, as PySCF
  uses by default (``radi.treutler`` with ``ATOM_SPECIFIC_TREUTLER_GRIDS``).
* ``BRAGG_RADII[Z]`` - Bragg-Slater radii in Bohr (index 0 is a placeholder), used for
  the NWChem pruning regions and the Becke atomic-size adjustment.
"""

import numpy as np

from dftjax.elements import ANGSTROM_TO_BOHR

# Slater, J. Chem. Phys. 41, 3199 (1964), in Angstrom, as tabulated in PySCF
# (pyscf.data.radii.BRAGG); 1.75 fills the heavy elements, 1.999999 the placeholder Z = 0.
_BRAGG_ANGSTROM = (
    1.999999,
    0.35, 1.40,
    1.45, 1.05, 0.85, 0.70, 0.65, 0.60, 0.50, 1.50,
    1.80, 1.50, 1.25, 1.10, 1.00, 1.00, 1.00, 1.80,
    2.20, 1.80,
    1.60, 1.40, 1.35, 1.40, 1.40, 1.40, 1.35, 1.35, 1.35, 1.35,
    1.30, 1.25, 1.15, 1.15, 1.15, 1.90,
    2.35, 2.00,
    1.80, 1.55, 1.45, 1.45, 1.35, 1.30, 1.35, 1.40, 1.60, 1.55,
    1.55, 1.45, 1.45, 1.40, 1.40, 2.10,
    2.60, 2.15,
    1.95, 1.85, 1.85, 1.85, 1.85, 1.85, 1.85,
    1.80, 1.75, 1.75, 1.75, 1.75, 1.75, 1.75, 1.75,
    1.55, 1.45, 1.35, 1.35, 1.30, 1.35, 1.35, 1.35, 1.50,
    1.90, 1.80, 1.60, 1.90, 1.45, 2.10,
    1.80, 2.15,
) + (1.95,) + (1.80,) * 2 + (1.75,) * 39

BRAGG_RADII = ANGSTROM_TO_BOHR * np.array(_BRAGG_ANGSTROM)
"""Bragg-Slater radius of element Z in Bohr, ``BRAGG_RADII[Z]``, Z = 0 (placeholder) .. 130."""

# Treutler & Ahlrichs, J. Chem. Phys. 102, 346 (1995), Table 1, for H-Kr; the heavier
# elements as in Psi4 and PySCF (pyscf.dft.radi._treutler_ahlrichs_xi). Index 0 unused.
TREUTLER_XI = np.array((
    1.0,
    0.8, 0.9,
    1.8, 1.4, 1.3, 1.1, 0.9, 0.9, 0.9, 0.9,
    1.4, 1.3, 1.3, 1.2, 1.1, 1.0, 1.0, 1.0,
    1.5, 1.4,
    1.3, 1.2, 1.2, 1.2, 1.2, 1.2, 1.2, 1.1, 1.1, 1.1,
    1.1, 1.0, 0.9, 0.9, 0.9, 0.9,
    2.000, 1.700,
    1.500, 1.500, 1.350, 1.350, 1.250, 1.200, 1.250, 1.300, 1.500, 1.500,
    1.300, 1.200, 1.200, 1.150, 1.150, 1.150,
    2.500, 2.200,
    2.500, 1.500, 1.500, 1.500, 1.500, 1.500, 1.500,
    1.500, 1.500, 1.500, 1.500, 1.500, 1.500, 1.500, 1.500,
    1.500, 1.500, 1.500, 1.500, 1.500, 1.500, 1.500, 1.500, 1.500,
    1.500, 1.500, 1.500, 1.500, 1.500, 1.500,
    2.500, 2.100,
    3.685, 1.500, 1.500, 1.500, 1.500, 1.500, 1.500,
    1.500, 1.500, 1.500, 1.500, 1.500, 1.500, 1.500, 1.500,
))
"""Treutler-Ahlrichs radial scale xi of element Z, ``TREUTLER_XI[Z]``, Z = 1 .. 103."""

MAX_GRID_ATOMIC_NUMBER = len(TREUTLER_XI) - 1


def treutler_ahlrichs(npoints, atomic_number):
    """Treutler-Ahlrichs M4 radial quadrature for an element.

    With Chebyshev nodes x_i = cos(i pi / (n + 1)), i = 1..n, the M4 map is

        r_i = -(xi / ln 2) (1 + x_i)^0.6 ln((1 - x_i) / 2),

    and dr_i = (pi / (n + 1)) sin(i pi / (n + 1)) dr/dx, so that
    sum_i f(r_i) dr_i ~ int_0^inf f(r) dr. Treutler & Ahlrichs, J. Chem. Phys. 102,
    346 (1995), eqs. (19) and (21).

    Parameters
    ----------
    npoints : int
        Number of radial points n.
    atomic_number : int
        Element Z (1 .. 103), which selects the scale xi.

    Returns
    -------
    r, dr : numpy.ndarray
        Radii in Bohr in increasing order and the quadrature weights for dr (no r^2),
        both shape (npoints,).
    """
    if not 1 <= atomic_number <= MAX_GRID_ATOMIC_NUMBER:
        raise ValueError(
            f"no Treutler-Ahlrichs radial scale for Z = {atomic_number} "
            f"(tabulated for 1 .. {MAX_GRID_ATOMIC_NUMBER})"
        )
    scale = TREUTLER_XI[atomic_number] / np.log(2)
    step = np.pi / (npoints + 1)
    angle = np.arange(1, npoints + 1) * step
    x = np.cos(angle)
    log_term = np.log((1 - x) / 2)
    stretch = scale * (1 + x) ** 0.6
    r = -stretch * log_term
    dr = step * np.sin(angle) * stretch * (-0.6 / (1 + x) * log_term + 1 / (1 - x))
    return r[::-1].copy(), dr[::-1].copy()
