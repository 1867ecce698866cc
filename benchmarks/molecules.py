"""Molecule series for the size benchmarks (bench_scaling.py, bench_xc.py): Angstrom.

* ``alkane(n)``: all-trans C_n H_(2n+2) (C-C 1.54, C-H 1.09 Angstrom, tetrahedral angles);
  24 n + 10 functions in def2-SVP;
* ``water_cluster(n)``: n water molecules on a cubic lattice 2.9 Angstrom apart.
"""

import math

import numpy as np

C_C = 1.54                       # Angstrom
C_H = 1.09                       # Angstrom
TETRAHEDRAL = math.acos(-1.0 / 3.0)


def alkane(n_carbons):
    """All-trans C_nH_(2n+2): (symbols, coordinates in Angstrom, shape (3n+2, 3)).

    Carbons zigzag in the xy plane; each carbon's hydrogens sit where its missing
    tetrahedral neighbours would be (two out of the plane; terminal carbons also one in
    the plane, continuing the zigzag).
    """
    if n_carbons < 1:
        raise ValueError("an alkane needs at least one carbon")
    half = TETRAHEDRAL / 2.0
    dx, dy = C_C * math.sin(half), C_C * math.cos(half)
    # carbon chain, extended by one virtual carbon at each end (hydrogen directions)
    chain = np.array([[i * dx, (i % 2) * dy, 0.0] for i in range(-1, n_carbons + 1)])
    carbons = chain[1:-1]
    symbols, coords = ["C"] * n_carbons, list(carbons)
    z = np.array([0.0, 0.0, 1.0])
    for i in range(n_carbons):
        centre = chain[i + 1]
        u1 = chain[i] - centre
        u2 = chain[i + 2] - centre
        u1, u2 = u1 / np.linalg.norm(u1), u2 / np.linalg.norm(u2)
        away = -(u1 + u2)
        away /= np.linalg.norm(away)
        for sign in (1.0, -1.0):
            direction = away * math.cos(half) + sign * z * math.sin(half)
            symbols.append("H")
            coords.append(centre + C_H * direction)
        if i == 0:
            symbols.append("H")
            coords.append(centre + C_H * u1)
        if i == n_carbons - 1:
            symbols.append("H")
            coords.append(centre + C_H * u2)
    return symbols, np.array(coords)


def water_cluster(n):
    """n water molecules on a cubic lattice, 2.9 Angstrom apart: (symbols, (3n, 3) Angstrom)."""
    side = int(np.ceil(n ** (1.0 / 3.0)))
    monomer = np.array([[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]])
    symbols, coords = [], []
    for k in range(n):
        shift = 2.9 * np.array([k % side, (k // side) % side, k // side**2])
        symbols += ["O", "H", "H"]
        coords += list(monomer + shift)
    return symbols, np.array(coords)
