"""NN-NRA's nonlocal density descriptor R on the whole molecular grid, with neighbour lists.

    R(r_i) = max(0, sum_j w_j n(r_j) exp(-|r_i - r_j| / 0.2)) + eps0,   eps0 = 1e-7,

the sum over the grid points j with |r_i - r_j| / 0.2 < ln(1000) (within 1.3816 Bohr;
lengths in Bohr, n the total density, w the quadrature weights). This is the descriptor
of the released NN-NRA (ml-electron-project/NNfunctional, NRA.py), which sums over the
points of one PySCF grid block; here the sum runs over the *whole* molecular grid, which
is what the released code computes whenever a block holds the whole molecule (small
molecules) and the definition that does not depend on how a grid is cut into blocks.

**Neighbour lists** (:func:`neighbour_list`, on the host, from the points' coordinates):
the points are ordered along a Morton (Z-order) curve of cells and cut into blocks of
``block_size`` consecutive points, so each block is spatially compact; a block's
*candidates* are all points within (its bounding sphere + cutoff + ``skin``) of its centre
(a k-d tree query). Blocks are grouped into a few classes by their number of candidates;
in a class every block has the same number of candidates and the class the same number
of blocks (classes are equal shares of the blocks, so their sizes depend on the number
of points only: rounded up on the ladder of :func:`dftjax.grid.screening.bucket`; the
candidate counts, which move with the geometry, on powers of two), padded with the index
npts (a point far away, of zero weight). A class is never made narrower than the same
class of an earlier list of as many points (the process remembers the widths), so the
shapes only grow, by powers of two, and rarely: a displaced geometry of a molecule reuses
the compiled code once its lists have reached their widths. Padding changes no value.

**Evaluation** (:func:`nra_descriptor`, JAX): block by block (``lax.map``), the B x K
distances, the exact cutoff test and the sum. It is a differentiable function of the
density, the weights and the points (the cutoff test is piecewise constant: a pair that
crosses the cutoff makes R jump by 1e-3 of its kernel weight, which no derivative sees), so the
nonlocal part of the XC potential, sum_i dE/dR_i dR_i/dn_j, comes from autodiff (a VJP
through this function), and forces see the points move. A neighbour list built at one
geometry stays exact at another as long as no pair within the cutoff has moved by more
than ``skin`` relative to its block (``skin`` 0 for a list used only where it is built).
"""

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from ..grid.screening import bucket

NRA_LENGTH = 0.2
"""Decay length of the NRA kernel exp(-r / 0.2), Bohr."""

NRA_CUTOFF_RATIO = math.log(1000.0)
"""Pairs count while r / NRA_LENGTH < ln(1000): within 0.2 ln(1000) = 1.3816 Bohr."""

NRA_CUTOFF = NRA_LENGTH * NRA_CUTOFF_RATIO

EPSILON = 1e-7

DEFAULT_BLOCK_SIZE = 64
DEFAULT_NCLASS = 4
_FAR = 1e6  # the padding point's coordinate, Bohr: beyond every cutoff
_widths_seen = {}  # (npts, block size, classes) -> widest candidate counts of earlier lists


@partial(jax.tree_util.register_dataclass, data_fields=["targets", "candidates"],
         meta_fields=["npts"])
@dataclass(frozen=True)
class NeighbourList:
    """Blocks of grid points and their candidate neighbours, in classes of equal shape.

    targets : tuple of int32 arrays (nblock_c, B): each grid point once, padding npts
    candidates : tuple of int32 arrays (nblock_c, K_c): a superset of each block's
        neighbours within the cutoff, padding npts
    npts : int
    """

    targets: tuple
    candidates: tuple
    npts: int

    @property
    def pairs(self):
        """Number of (point, candidate) slots evaluated, padding included."""
        return sum(t.size * c.shape[1] for t, c in zip(self.targets, self.candidates))


def _morton_order(points, cell):
    """Indices that sort ``points`` (npts, 3) along a Z-order curve of cubes of side ``cell``."""
    q = np.floor((points - points.min(axis=0)) / cell).astype(np.int64)
    q = np.minimum(q, 2**20 - 1)
    code = np.zeros(len(points), np.int64)
    for bit in range(21):
        for axis in range(3):
            code |= ((q[:, axis] >> bit) & 1) << (3 * bit + axis)
    return np.argsort(code, kind="stable")


def neighbour_list(points, cutoff=NRA_CUTOFF, skin=0.0, block_size=DEFAULT_BLOCK_SIZE,
                   nclass=DEFAULT_NCLASS) -> NeighbourList:
    """The :class:`NeighbourList` of grid ``points`` (npts, 3) Bohr for pairs within
    ``cutoff`` (+ ``skin``, the slack for displaced geometries), on the host."""
    points = np.asarray(points, np.float64)
    npts = len(points)
    order = _morton_order(points, cutoff / 4.0)
    nblock = -(-npts // block_size)
    targets = np.full(nblock * block_size, npts, np.int64)
    targets[:npts] = order
    targets = targets.reshape(nblock, block_size)
    padded = np.concatenate([points, np.full((1, 3), np.nan)])[targets]
    low, high = np.nanmin(padded, axis=1), np.nanmax(padded, axis=1)
    centres, radii = 0.5 * (low + high), 0.5 * np.linalg.norm(high - low, axis=1)
    found = cKDTree(points).query_ball_point(centres, radii + cutoff + skin)
    counts = np.array([len(f) for f in found])
    # classes: blocks sorted by candidate count, cut at equal shares of the blocks
    by_count = np.argsort(counts, kind="stable")
    groups = [g for g in np.array_split(by_count, min(nclass, nblock)) if len(g)]
    widths = tuple(1 << int(counts[g].max() - 1).bit_length() for g in groups)
    key = (npts, block_size, len(groups))
    widths = tuple(np.maximum(widths, _widths_seen.get(key, widths)).tolist())
    _widths_seen[key] = widths
    all_targets, all_candidates = [], []
    for group, width in zip(groups, widths):
        rows = bucket(len(group))
        candidates = np.full((rows, width), npts, np.int32)
        for row, block in enumerate(group):
            candidates[row, :counts[block]] = np.sort(found[block])
        block_targets = np.full((rows, block_size), npts, np.int32)
        block_targets[:len(group)] = targets[group]
        all_targets.append(block_targets)
        all_candidates.append(candidates)
    return NeighbourList(tuple(all_targets), tuple(all_candidates), npts)


def nra_descriptor(neighbours: NeighbourList, points, weights, density):
    """R (npts,) of the total ``density`` (npts,) on grid ``points`` (npts, 3) Bohr with
    quadrature ``weights`` (npts,); see the module docstring. Differentiable in all three."""
    npts = neighbours.npts
    points = jnp.concatenate([points, jnp.full((1, 3), _FAR, points.dtype)])
    weighted = jnp.concatenate([weights * density, jnp.zeros((1,), density.dtype)])

    @jax.checkpoint
    def one_block(block):
        targets, candidates = block
        difference = points[targets][:, None, :] - points[candidates][None, :, :]
        squared = jnp.sum(difference * difference, axis=-1)
        nonzero = squared > 0.0  # the point itself: distance 0, a finite derivative
        distance = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, squared, 1.0)), 0.0)
        scaled = distance / NRA_LENGTH
        kernel = jnp.where(scaled < NRA_CUTOFF_RATIO, jnp.exp(-scaled), 0.0)
        return kernel @ weighted[candidates]

    total = jnp.zeros(npts + 1, density.dtype)
    for targets, candidates in zip(neighbours.targets, neighbours.candidates):
        sums = jax.lax.map(one_block, (targets, candidates))
        total = total.at[targets.reshape(-1)].set(sums.reshape(-1))
    return jnp.maximum(total[:npts], 0.0) + EPSILON
