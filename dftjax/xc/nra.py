"""NN-NRA's nonlocal density descriptor R on the whole molecular grid: two evaluation paths.

    R(r_i) = max(0, sum_j w_j n(r_j) exp(-|r_i - r_j| / 0.2)) + eps0,   eps0 = 1e-7,

the sum over the grid points j with |r_i - r_j| / 0.2 < ln(1000) (within 1.3816 Bohr;
lengths in Bohr, n the total density, w the quadrature weights). This is the descriptor
of the released NN-NRA (ml-electron-project/NNfunctional, NRA.py), which sums over the
points of one PySCF grid block; here the sum runs over the *whole* molecular grid, which
is what the released code computes whenever a block holds the whole molecule (small
molecules) and the definition that does not depend on how a grid is cut into blocks.

Both paths give the same R (to round-off; the tests hold both to a
brute-force O(N^2) sum at 1e-12) and the nonlocal part of the potential, sum_i dE/dR_i
dR_i/dn_j, as one more kernel sum: K is symmetric, so R's pullback is
c -> w (K [sum > 0] c) (:func:`nra_descriptor_and_pullback`; autodiff gives the same).

**1. Precomputed kernel** (:func:`nra_kernel`, :func:`kernel_product`): the SCF's path,
where the points stay put and only the density changes. K_ij does not depend on the
density, so it is computed once per geometry and each evaluation is a sparse product.
The points are ordered along a Morton (Z-order) curve and cut into tiles of
``KERNEL_TILE`` = 16; K is stored as dense 16 x 16 tiles, one per pair of tiles A <= B
(the symmetry halves the memory) that holds a pair within the cutoff, zeros beyond it.
Tile pairs come from k-d trees of the tiles' bounding boxes (host), the exact test and the
kernel from two jitted passes; a product is two batched 16 x 16 matrix-vector products per
tile (K_AB v_B, and K_AB^T v_A off the diagonal) and two segment sums, no per-pair
gathers (a per-pair gather, as in a CSR or ELL layout, costs ~5 ns a pair on XLA CPU:
3-4x slower). The number of tiles is rounded up with 1/16 spare and remembered per
number of points, so a displaced geometry of the same molecule reuses the compiled code.
Differentiable in the density and the weights, not in the points. A MemoryError, naming
the size, is raised before a kernel that would not fit in the memory available is built.

**2. Neighbour lists** (:func:`neighbour_list`, :func:`kernel_sum`): the path whose R is
differentiable in the points (forces, :class:`dftjax.SCFFunction`), recomputing distances
and exponentials at every evaluation. Each atom's points are ordered along a Morton curve
of cells (in coordinates relative to the atom, so the order is the same at every
geometry) and cut into blocks of ``block_size`` consecutive points, so each block is
spatially compact; a block's *candidates* are all points within (its bounding sphere +
cutoff + ``skin``) of its centre (a k-d tree query), or, for a block wider than the cutoff
(sparse regions), the points within cutoff + ``skin`` of any of its points. Blocks are
grouped into classes by their number of candidates rounded up to a power of two (at most
npts): in a class every block has that many candidates and the class a number of blocks on
the ladder of :func:`dftjax.grid.screening.bucket`, padded with the index npts (a point far
away, of zero weight), with spare rows (a quarter, at least four) in every power of two
between the narrowest and widest class for blocks that a displacement moves across a power
of two. The process remembers, per number of points, the classes and rows of earlier lists
and never makes fewer, so the shapes only grow, rarely. Evaluation (JAX): block by block
(``lax.map``), the B x K distances, the exact cutoff test and the sum. The cutoff test is
piecewise constant: a pair that crosses the cutoff makes R jump by 1e-3 of its kernel
weight, which no derivative sees. A neighbour list built at one geometry stays exact at
another as long as no pair within the cutoff has moved by more than ``skin`` relative to
its block (``skin`` 0 for a list used only where it is built).

Measured on water / def2-TZVP / grid level 3 (33698 points, 2516 neighbours per point
within the cutoff, 8.5e7 pairs; ``benchmarks/bench_nn.py``, 2 shared CPU cores): the
kernel takes 0.6 GiB (302k tiles used + spare, ~8 bytes per pair) and 1.0-1.6 s of CPU to
build; R and its pullback cost 0.23 s of CPU per SCF cycle (the neighbour lists: 13130
candidate slots per point, ~3 s per kernel sum); a warm NN-NRA SCF takes 2.0-2.3x the CPU time
of NN-meta-GGA's (6.1-6.5 s against 2.9-3.0 s, 8 cycles each), where the neighbour lists
took 27x. Benzene at grid level 3 (143556 points): 1.9 GiB, built in 4.4 s of CPU.
"""

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import memory
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
    from scipy.spatial import cKDTree  # here, not at import: scipy.spatial costs 0.25 s

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


# -- The precomputed kernel: for SCFs, where the points stay put and only the density moves

KERNEL_TILE = 16
"""Points per tile of :class:`NRAKernel`. On CPU (water/def2-TZVP grid 3) a kernel sum takes
0.20 s with tiles of 8, 0.12-0.17 s with 16, 0.20 s with 32: smaller tiles hold fewer
zeros (pairs beyond the cutoff) but cost more per tile."""

_tiles_seen = {}  # (npts, tile) -> most tile pairs an earlier kernel of as many points kept


def _capacity(count):
    """Slots for ``count`` tiles: 1/16 spare (for displaced geometries), rounded up to 1/16 of
    the power of two below (so at most ~13% padding, where the bucket ladder allows 50%:
    the tiles are most of the kernel's memory)."""
    want = count + max(16, count // 16)
    step = 1 << max(0, want.bit_length() - 5)
    return -(-want // step) * step


@partial(jax.tree_util.register_dataclass,
         data_fields=["slots", "rank", "rows", "columns", "kernel"], meta_fields=["npts"])
@dataclass(frozen=True)
class NRAKernel:
    """K_ij = exp(-|r_i - r_j| / 0.2) for the pairs within the cutoff, precomputed on fixed
    points as dense tiles of KERNEL_TILE x KERNEL_TILE points, one per pair of tiles (A <= B:
    K is symmetric) that holds a pair within the cutoff.

    slots : int32 (ntile_blocks * T,): the grid point in each slot (points in Morton order,
        T per tile block, the last block all padding), npts for padding
    rank : int32 (npts,): the slot of each grid point
    rows, columns : int32 (ncapacity,): the tile blocks A <= B of each tile, sorted by A;
        spare tiles are (last block, last block) with zero kernel
    kernel : float64 (ncapacity, T, T): K between the points of blocks A (rows) and B
    npts : int
    """

    slots: jax.Array
    rank: jax.Array
    rows: jax.Array
    columns: jax.Array
    kernel: jax.Array
    npts: int

    @property
    def nbytes(self):
        return sum(int(x.nbytes) for x in (self.slots, self.rank, self.rows, self.columns, self.kernel))


def _tile_pairs(low, high, cutoff):
    """Tile blocks (A, B), A <= B, whose bounding boxes (low, high: (nblock, 3)) are within
    ``cutoff``, as (npair, 2) sorted by A then B. Boxes are grouped by radius (powers of two
    of the cutoff), so that the k-d tree search between two groups reaches only as far as
    their widest boxes need (the sparse regions far out have boxes wider than the cutoff)."""
    centres, radii = 0.5 * (low + high), 0.5 * np.linalg.norm(high - low, axis=1)
    group = np.clip(np.ceil(np.log2(np.maximum(radii, 1e-300) / cutoff)), -5, 8).astype(np.int64)
    members = [np.flatnonzero(group == g) for g in np.unique(group)]
    from scipy.spatial import cKDTree

    trees = [cKDTree(centres[m]) for m in members]
    found = []
    for a in range(len(members)):
        for b in range(a, len(members)):
            reach = radii[members[a]].max() + radii[members[b]].max() + cutoff
            near = trees[a].sparse_distance_matrix(trees[b], reach, output_type="ndarray")
            first, second = members[a][near["i"]], members[b][near["j"]]
            if a == b:  # each pair twice (and perhaps (A, A))
                first, second = first[first < second], second[first < second]
            found.append(np.minimum(first, second) * len(low) + np.maximum(first, second))
    found.append(np.arange(len(low)) * (len(low) + 1))  # (A, A)
    pairs = np.sort(np.concatenate(found))  # by A, then B
    pairs = np.stack(np.divmod(pairs, len(low)), axis=1)
    gap = np.maximum(0.0, np.maximum(low[pairs[:, 0]] - high[pairs[:, 1]],
                                     low[pairs[:, 1]] - high[pairs[:, 0]]))
    return pairs[np.sum(gap * gap, axis=1) < cutoff * cutoff]


def _tile_squared_distances(blocks, row, column):
    """Squared distances (T, T) between the points of blocks ``row`` and ``column``;
    ``blocks`` (nblock, 3, T) (x, y, z first: the T axis vectorises)."""
    difference = blocks[row][:, :, None] - blocks[column][:, None, :]
    return jnp.sum(difference * difference, axis=0)


@jax.jit
def _nearest_in_tiles(blocks, rows, columns):
    """The smallest squared distance (ntile,) between the points of each pair of blocks."""
    return jax.lax.map(lambda pair: jnp.min(_tile_squared_distances(blocks, *pair)),
                       (rows, columns), batch_size=1024)


@jax.jit
def _tile_kernel(blocks, real, rows, columns):
    """K (ntile, T, T) between blocks ``rows`` and ``columns``, zero at padding slots
    (``real`` (nblock, T) False). In batches of tiles: 25% faster than all at once."""
    def one_tile(pair):
        squared = _tile_squared_distances(blocks, *pair)
        nonzero = squared > 0.0  # the point itself, or two padding slots
        scaled = jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, squared, 1.0)), 0.0) / NRA_LENGTH
        kernel = jnp.where(scaled < NRA_CUTOFF_RATIO, jnp.exp(-scaled), 0.0)
        return jnp.where(real[pair[0]][:, None] & real[pair[1]][None, :], kernel, 0.0)

    return jax.lax.map(one_tile, (rows, columns), batch_size=1024)


def nra_kernel(points, tile=KERNEL_TILE) -> NRAKernel:
    """The :class:`NRAKernel` of grid ``points`` (npts, 3) Bohr: tile pairs found on the host
    (k-d tree of the tiles' boxes), those that hold a pair within the cutoff kept and their
    kernel computed in two jitted passes. Raises MemoryError, naming the size, when the
    kernel would not fit in the memory available."""
    # the tile tests reach a little further than the kernel's own (scaled < ln 1000), so
    # that round-off never drops a pair: a tile kept without one costs only memory
    cutoff = NRA_CUTOFF * (1.0 + 1e-9)
    points = np.asarray(points, np.float64)
    npts = len(points)
    order = _morton_order(points, cutoff / 4.0, np.zeros(npts, np.int64))
    nblock = -(-npts // tile) + 1  # the last block: padding only, the spare tiles' block
    slots = np.full(nblock * tile, npts, np.int64)
    slots[:npts] = order
    real = (slots < npts).reshape(nblock, tile)
    blocks = np.concatenate([points, np.full((1, 3), _FAR)])[slots].reshape(nblock, tile, 3)
    low = np.where(real[..., None], blocks, np.inf).min(axis=1)[:-1]
    high = np.where(real[..., None], blocks, -np.inf).max(axis=1)[:-1]
    pairs = _tile_pairs(low, high, cutoff)
    blocks = jnp.asarray(np.swapaxes(blocks, 1, 2))
    candidates = np.full((bucket(len(pairs)), 2), nblock - 1, np.int32)
    candidates[:len(pairs)] = pairs
    nearest = np.asarray(_nearest_in_tiles(blocks, jnp.asarray(candidates[:, 0]),
                                           jnp.asarray(candidates[:, 1])))[:len(pairs)]
    pairs = pairs[nearest < cutoff * cutoff]
    seen = _tiles_seen.get((npts, tile), 0)
    capacity = max(seen, _capacity(len(pairs)))
    _tiles_seen[(npts, tile)] = capacity
    need = capacity * tile * tile * 8
    memory.check_available(
        need, f"NN-NRA's precomputed kernel for {npts} grid points needs about "
              f"{memory.format_bytes(need)} ({len(pairs)} tiles of {tile}x{tile} pairs)",
        "use a smaller grid level or a machine with more memory")
    rows = np.full(capacity, nblock - 1, np.int32)
    columns = rows.copy()
    rows[:len(pairs)], columns[:len(pairs)] = pairs[:, 0], pairs[:, 1]
    rows, columns = jnp.asarray(rows), jnp.asarray(columns)
    rank = np.empty(npts, np.int32)
    rank[order] = np.arange(npts, dtype=np.int32)
    return NRAKernel(jnp.asarray(slots.astype(np.int32)), jnp.asarray(rank), rows, columns,
                     _tile_kernel(blocks, jnp.asarray(real), rows, columns), npts)


def kernel_product(kernel: NRAKernel, values):
    """sum_j K_ij values_j (npts,) with a precomputed :class:`NRAKernel`: each tile (A, B)
    adds K_AB values_B to A and, off the diagonal, K_AB^T values_A to B. Linear in
    ``values`` and plain JAX (so autodiff's pullback is again a product with K^T = K)."""
    tile = kernel.kernel.shape[-1]
    blocks = jnp.concatenate([values, jnp.zeros((1,), values.dtype)])[kernel.slots].reshape(-1, tile)
    nblock = blocks.shape[0]
    forward = jnp.einsum("tij,tj->ti", kernel.kernel, blocks[kernel.columns])
    backward = jnp.einsum("tij,ti->tj", kernel.kernel, blocks[kernel.rows])
    backward = jnp.where((kernel.rows != kernel.columns)[:, None], backward, 0.0)
    total = (jax.ops.segment_sum(forward, kernel.rows, nblock, indices_are_sorted=True)
             + jax.ops.segment_sum(backward, kernel.columns, nblock))
    return total.reshape(-1)[kernel.rank]


def _pair_sum(pairs, points):
    """v -> sum_j K_ij v_j with a :class:`NeighbourList` on ``points`` or an :class:`NRAKernel`."""
    if isinstance(pairs, NRAKernel):
        return partial(kernel_product, pairs)
    return partial(kernel_sum, pairs, points)


def nra_descriptor(pairs, points, weights, density):
    """R (npts,) of the total ``density`` (npts,) on grid ``points`` (npts, 3) Bohr with
    quadrature ``weights`` (npts,); see the module docstring. ``pairs``: a
    :class:`NeighbourList` (differentiable in all three) or an :class:`NRAKernel` built on
    these points (``points`` then unused: differentiable in the weights and the density)."""
    return jnp.maximum(_pair_sum(pairs, points)(weights * density), 0.0) + EPSILON


def nra_descriptor_and_pullback(pairs, points, weights, density):
    """R as :func:`nra_descriptor`, and its pullback with respect to ``density``: a
    cotangent c of R -> w_j sum_i K_ij c_i [sum_i > 0], one more kernel sum (K is
    symmetric), where autodiff's reverse pass through the blocks costs about twice that.
    Both are plain JAX, so differentiable in turn (the implicit SCF derivative)."""
    pair_sum = _pair_sum(pairs, points)
    sums = pair_sum(weights * density)

    def pullback(cotangent):
        return (weights * pair_sum(jnp.where(sums > 0.0, cotangent, 0.0)),)

    return jnp.maximum(sums, 0.0) + EPSILON, pullback
