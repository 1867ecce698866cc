"""NN-NRA's nonlocal density descriptor R on the whole molecular grid, with neighbour lists.

    R(r_i) = max(0, sum_j w_j n(r_j) exp(-|r_i - r_j| / 0.2)) + eps0,   eps0 = 1e-7,

the sum over the grid points j with |r_i - r_j| / 0.2 < ln(1000) (within 1.3816 Bohr;
lengths in Bohr, n the total density, w the quadrature weights). This is the descriptor
of the released NN-NRA (ml-electron-project/NNfunctional, NRA.py), which sums over the
points of one PySCF grid block; here the sum runs over the *whole* molecular grid, which
is what the released code computes whenever a block holds the whole molecule (small
molecules) and the definition that does not depend on how a grid is cut into blocks.

**Neighbour lists** (:func:`neighbour_list`, on the host, from the points' coordinates):
each atom's points are ordered along a Morton (Z-order) curve of cells (in coordinates
relative to the atom, so the order is the same at every geometry) and cut into blocks of
``block_size`` consecutive points, so each block is spatially compact; a block's
*candidates* are all points within (its bounding sphere + cutoff + ``skin``) of its centre
(a k-d tree query), or, for a block wider than the cutoff (sparse regions), the points
within cutoff + ``skin`` of any of its points. Blocks are grouped into classes by their number of candidates rounded
up to a power of two (at most npts): in a class every block has that many candidates and
the class a number of blocks on the ladder of :func:`dftjax.grid.screening.bucket`,
padded with the index npts (a point far away, of zero weight), with spare rows (a
quarter, at least four) in every power of two between the narrowest and widest class for
blocks that a displacement moves across a power of two. The process remembers,
per number of points, the classes and rows of earlier lists and never makes fewer, so
the shapes only grow, rarely: a displaced geometry of a molecule reuses the compiled
code once its lists have reached their sizes. Padding changes no value.

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
_FAR = 1e6  # the padding point's coordinate, Bohr: beyond every cutoff
_rows_seen = {}  # (npts, block size) -> {class width: most rows an earlier list needed}


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


def _morton_order(points, cell, atom):
    """Indices that sort ``points`` (npts, 3) by ``atom`` (npts,), then along a Z-order
    curve of cubes of side ``cell`` in coordinates relative to their atom's points' mean
    (which move rigidly with the atom: the order does not depend on the geometry)."""
    relative = points.copy()
    for a in np.unique(atom):
        relative[atom == a] -= points[atom == a].mean(axis=0)
    q = np.floor((relative - relative.min(axis=0)) / cell).astype(np.int64)
    q = np.minimum(q, 2**20 - 1)
    code = np.zeros(len(points), np.int64)
    for bit in range(20):
        for axis in range(3):
            code |= ((q[:, axis] >> bit) & 1) << (3 * bit + axis)
    return np.lexsort((code, atom))


def neighbour_list(points, atom=None, cutoff=NRA_CUTOFF, skin=0.0,
                   block_size=DEFAULT_BLOCK_SIZE) -> NeighbourList:
    """The :class:`NeighbourList` of grid ``points`` (npts, 3) Bohr for pairs within
    ``cutoff`` (+ ``skin``, the slack for displaced geometries), on the host. ``atom``
    (npts,): the atom each point belongs to (``Grid.atom``), so that blocks hold the same
    points at every geometry; None treats the points as one atom's."""
    points = np.asarray(points, np.float64)
    npts = len(points)
    atom = np.zeros(npts, np.int64) if atom is None else np.asarray(atom)
    order = _morton_order(points, cutoff / 4.0, atom)
    nblock = -(-npts // block_size)
    targets = np.full(nblock * block_size, npts, np.int64)
    targets[:npts] = order
    targets = targets.reshape(nblock, block_size)
    padded = np.concatenate([points, np.full((1, 3), np.nan)])[targets]
    low, high = np.nanmin(padded, axis=1), np.nanmax(padded, axis=1)
    centres, radii = 0.5 * (low + high), 0.5 * np.linalg.norm(high - low, axis=1)
    tree = cKDTree(points)
    found = tree.query_ball_point(centres, radii + cutoff + skin)
    for block in np.flatnonzero(radii > cutoff):  # sparse, spread-out blocks: per point
        members = targets[block][targets[block] < npts]
        found[block] = np.unique(np.concatenate(
            [np.asarray(f, np.int64) for f in tree.query_ball_point(points[members], cutoff + skin)]))
    counts = np.array([len(f) for f in found])
    # a class per power-of-two width (at most npts); rows rounded up on the ladder, and
    # never fewer rows or classes than an earlier list of as many points had
    widths = np.minimum(1 << np.ceil(np.log2(np.maximum(counts, 1))).astype(np.int64), npts)
    seen = _rows_seen.setdefault((npts, block_size), {})
    rungs = [1 << k for k in range(int(widths.min()).bit_length() - 1, int(widths.max() - 1).bit_length())]
    for width in {min(w, npts) for w in rungs} | set(widths.tolist()):
        count = int(np.sum(widths == width))
        # spare rows (a quarter, at least 4) for blocks that a displacement moves here
        seen[width] = max(seen.get(width, 0), bucket(count + max(4, count // 4)))
    all_targets, all_candidates = [], []
    for width, rows in sorted(seen.items()):
        group = np.flatnonzero(widths == width)
        candidates = np.full((rows, width), npts, np.int32)
        for row, block in enumerate(group):
            candidates[row, :counts[block]] = np.sort(found[block])
        block_targets = np.full((rows, block_size), npts, np.int32)
        block_targets[:len(group)] = targets[group]
        all_targets.append(block_targets)
        all_candidates.append(candidates)
    return NeighbourList(tuple(all_targets), tuple(all_candidates), npts)


def kernel_sum(neighbours: NeighbourList, points, values):
    """sum_j K_ij values_j (npts,) with K_ij = exp(-|r_i - r_j| / 0.2) for pairs within the
    cutoff, on grid ``points`` (npts, 3) Bohr. K is symmetric, so this is its own transpose."""
    npts = neighbours.npts
    points = jnp.concatenate([points, jnp.full((1, 3), _FAR, points.dtype)])
    values = jnp.concatenate([values, jnp.zeros((1,), values.dtype)])

    @jax.checkpoint
    def one_block(block):
        targets, candidates = block
        difference = points[targets][:, None, :] - points[candidates][None, :, :]
        squared = jnp.sum(difference * difference, axis=-1)
        nonzero = squared > 0.0  # the point itself: distance 0, a finite derivative
        distance = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, squared, 1.0)), 0.0)
        scaled = distance / NRA_LENGTH
        kernel = jnp.where(scaled < NRA_CUTOFF_RATIO, jnp.exp(-scaled), 0.0)
        return kernel @ values[candidates]

    total = jnp.zeros(npts + 1, values.dtype)
    for targets, candidates in zip(neighbours.targets, neighbours.candidates):
        sums = jax.lax.map(one_block, (targets, candidates))
        total = total.at[targets.reshape(-1)].set(sums.reshape(-1))
    return total[:npts]


def nra_descriptor(neighbours: NeighbourList, points, weights, density):
    """R (npts,) of the total ``density`` (npts,) on grid ``points`` (npts, 3) Bohr with
    quadrature ``weights`` (npts,); see the module docstring. Differentiable in all three."""
    return jnp.maximum(kernel_sum(neighbours, points, weights * density), 0.0) + EPSILON


def nra_descriptor_and_pullback(neighbours: NeighbourList, points, weights, density):
    """R as :func:`nra_descriptor`, and its pullback with respect to ``density``: a
    cotangent c of R -> w_j sum_i K_ij c_i [sum_i > 0], one more kernel sum (K is
    symmetric), where autodiff's reverse pass through the blocks costs about twice that.
    Both are plain JAX, so differentiable in turn (the implicit SCF derivative)."""
    sums = kernel_sum(neighbours, points, weights * density)

    def pullback(cotangent):
        return (weights * kernel_sum(neighbours, points, jnp.where(sums > 0.0, cotangent, 0.0)),)

    return jnp.maximum(sums, 0.0) + EPSILON, pullback
