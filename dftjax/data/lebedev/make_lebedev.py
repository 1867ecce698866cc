"""Build lebedev.npz: the Lebedev-Laikov rules of dftjax's default grid (level 3).

Usage: python make_lebedev.py OUTDIR
Needs: SciPy >= 1.15 (tested with 1.17.1), whose ``scipy.integrate.lebedev_rule`` is the
source (Lebedev & Laikov, Doklady Mathematics 59, 477 (1999)).

Level 3 uses, on periods 1-2 (H-Ne) and beyond, the 302- and 434-point rules and, through
NWChem pruning, the 50-, 86-, 266- and 350-point ones. dftjax.grid.angular reads these
from the package, so that a default run does not import scipy.integrate (about 0.4 s);
other rules still come from SciPy. Each array ``n{npoints}`` is (npoints, 4): x, y, z of
the unit directions, then the weights (summing to 4 pi), bit for bit SciPy's.
"""
import sys
from pathlib import Path

import numpy as np

#: point count -> algebraic order of the rule
RULES = {50: 11, 86: 15, 266: 27, 302: 29, 350: 31, 434: 35}


def main(outdir):
    from scipy.integrate import lebedev_rule

    tables = {}
    for npoints, order in RULES.items():
        points, weights = lebedev_rule(order)
        tables[f"n{npoints}"] = np.column_stack([points.T, weights])
    np.savez_compressed(Path(outdir) / "lebedev.npz", **tables)


if __name__ == "__main__":
    main(sys.argv[1])
