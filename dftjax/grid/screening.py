"""Blocks of grid points and the atomic orbitals that matter on each: decided on the host.

Far from its atom a Gaussian shell is negligible, so most AOs vanish on most of a large
molecule's grid. As PySCF's ``non0tab`` does, the grid is cut into blocks of points and
each block keeps only the shells that reach it; the XC work per block then scales with
the AOs it keeps, not with all of them.

* **Blocks** (``block_size`` points, 512 by default) are cut from the whole grid by
  recursive bisection along the widest axis, at a multiple of ``block_size``, so that
  each block is spatially compact whatever atom its points belong to (as PySCF's
  ``arg_group_grids`` boxes are). Blocks made per atom instead would hold, on an atom's
  outer radial shells, points spread over a sphere many Bohr wide, and keep nearly every
  AO of a large molecule (measured on C12H26, def2-SVP: 28 % more XC work, the largest
  block keeping 292 of 298 AOs instead of 194). Only the last block is partly padding,
  so the number of blocks is fixed by the grid's size.
* **Radii**: a shell is negligible beyond the radius where a bound on the magnitude of
  each of its AOs and of their gradients, ``sum_k |T| |d_k| exp(-alpha_k r^2) *
  max(r^l, l r^(l-1) + 2 alpha_k r^(l+1))``, falls below ``cutoff`` (1e-14 by default).
* **Screening**: a shell is kept in a block when its atom is closer to some point of the
  block than the shell's radius.
* **Buckets**: blocks are sorted by the AOs they keep and split into a few classes
  (at most ``nclass``, fewer when more would save under 10 % of the work: every class is
  one more compiled shape). In a class every block keeps the same number of shells of
  each class of the :class:`~dftjax.grid.ao_values.AOPlan` (angular momentum and
  contraction length): the class maximum rounded up on the ladder 1, 2, 3, 4, 6, 8, 12,
  16, ..., or all the shells there are if fewer, the missing ones padded with a shell of
  zero coefficients; and the class holds a few spare blocks. The shapes of a layout are
  its ``signature``; :func:`block_layout` remembers the last signature of each grid
  structure and keeps it whenever the blocks of a new geometry fit in it, so a modest
  change of geometry compiles nothing new.

Everything here is NumPy; the layout's index arrays are inputs of the jitted XC code.
"""

from dataclasses import dataclass
from functools import partial

import jax
import numpy as np

from dftjax.integrals.one_electron import ao_transform

DEFAULT_BLOCK_SIZE = 512
"""Points per block. Larger blocks keep a few more AOs each but make each block's
products larger, which XLA:CPU runs faster (the blocks run one after the other): XC step
of B3LYP/def2-SVP on 2 cores, 128 -> 512 points: benzene 584 -> 398 ms, octane 2.57 ->
1.69 s, C20H42 (694,296 points) 12.2 -> 8.9 s; water/PBE 20.7 -> 18.0 ms."""
DEFAULT_CUTOFF = 1e-14
DEFAULT_NCLASS = 3
# Spare blocks per class: a fraction of its blocks, at least a few, so that blocks of a
# displaced geometry that need a shell more still find a place in an existing shape.
_SPARE_FRACTION = 0.03
_MIN_SPARE = 2


def bucket(count, steps=2):
    """Smallest entry of the ladder 0, 1, 2, 3, 4, 6, 8, 12, 16, 24, ... that is >= count.

    ``steps`` rungs per doubling above 4: 2 (at most 50 % padding) as above; 4 gives
    4, 5, 6, 7, 8, 10, 12, 14, 16, 20, ... (at most 25 %)."""
    if count <= 4:
        return int(count)
    size = 4
    while True:
        for step in range(1, steps + 1):
            candidate = size + size * step // steps
            if candidate >= count:
                return candidate
        size *= 2


def shell_radii(basis, cutoff=DEFAULT_CUTOFF):
    """Radius (Bohr) beyond which every AO of a shell and its gradient are below ``cutoff``.

    Returns numpy.ndarray (nshell,).
    """
    radii = np.zeros(basis.nshell)
    r = np.linspace(0.0, 60.0, 6001)[:, None]
    for shell in range(basis.nshell):
        l = int(basis.shell_l[shell])
        alpha = np.asarray(basis.exponents[shell])[None, :]
        coef = np.abs(np.asarray(basis.coefficients[shell]))[None, :]
        scale = np.abs(ao_transform(l, basis.cartesian)).sum(axis=1).max()
        gaussian = coef * np.exp(-alpha * r * r)
        slope = (l * r ** max(l - 1, 0) if l > 0 else 0.0) + 2.0 * alpha * r ** (l + 1)
        bound = scale * np.sum(gaussian * np.maximum(r**l, slope), axis=1)
        above = np.flatnonzero(bound >= cutoff)
        radii[shell] = r[above[-1] + 1, 0] if len(above) else 0.0
    return radii


def _bisect(points, indices, block_size):
    """Split ``indices`` into spatially compact runs of ``block_size`` (the last may be short)."""
    nblock = -(-len(indices) // block_size)
    if nblock <= 1:
        return [indices]
    coords = points[indices]
    axis = int(np.argmax(coords.max(axis=0) - coords.min(axis=0)))
    order = indices[np.argsort(coords[:, axis], kind="stable")]
    split = (nblock // 2) * block_size
    return _bisect(points, order[:split], block_size) + _bisect(points, order[split:], block_size)


def point_blocks(points, block_size=DEFAULT_BLOCK_SIZE):
    """Blocks of grid points: a list of spatially compact index arrays into ``points``
    (npts, 3), each of ``block_size`` points but the last."""
    return _bisect(np.asarray(points), np.arange(len(points)), block_size)


@partial(jax.tree_util.register_dataclass,
         data_fields=["point_index", "shell_index", "ao_index"], meta_fields=[])
@dataclass(frozen=True, eq=False)
class BlockClass:
    """Blocks that share one shape.

    Attributes
    ----------
    point_index : numpy.ndarray of int32, (nblock, block_size)
        Grid point of each slot; ``npts`` marks padding (weight 0).
    shell_index : tuple of numpy.ndarray of int32, each (nblock, nshell_c)
        Per class of the :class:`~dftjax.grid.ao_values.AOPlan`, the rows of the shells
        kept; the class's shell count marks padding (a zero shell).
    ao_index : numpy.ndarray of int32, (nblock, nao_block)
        The AO of each column of the block's AO values; ``nao`` marks padding.
    """

    point_index: np.ndarray
    shell_index: tuple
    ao_index: np.ndarray

    @property
    def nblock(self):
        return self.point_index.shape[0]

    @property
    def nao_block(self):
        return self.ao_index.shape[1]


@partial(jax.tree_util.register_dataclass, data_fields=["classes"], meta_fields=["npts", "nao"])
@dataclass(frozen=True, eq=False)
class BlockLayout:
    """Blocks of a grid with their AOs, grouped into :class:`BlockClass` es of equal shape."""

    classes: tuple
    npts: int
    nao: int

    @property
    def signature(self):
        """The shapes: per class (blocks, shells kept per AO-plan class)."""
        return tuple((c.nblock, tuple(s.shape[1] for s in c.shell_index)) for c in self.classes)

    def slots(self):
        """Total (point slots, point-AO pairs) over all blocks: the work and memory measure."""
        points = sum(c.point_index.size for c in self.classes)
        pairs = sum(c.point_index.size * c.nao_block for c in self.classes)
        return points, pairs


def _block_atom_distances(points, blocks, atom_coordinates):
    """(nblock, natom): distance from each atom to the nearest point of each block."""
    nearest = np.empty((len(blocks), len(atom_coordinates)))
    for b, index in enumerate(blocks):
        difference = points[index][:, None, :] - atom_coordinates[None, :, :]
        nearest[b] = np.sqrt(np.min(np.einsum("pax,pax->pa", difference, difference), axis=0))
    return nearest


def _split_signature(needs, nclass, totals):
    """Blocks sorted by AO count, cut into ``nclass`` runs of equal size; per run the caps:
    its largest needs on the ladder, but never above the shells there are (``totals``)."""
    order = np.argsort(needs.sum(axis=1), kind="stable")
    signature = {}
    for group in np.array_split(order, min(nclass, len(order))):
        if len(group) == 0:
            continue
        caps = tuple(min(bucket(int(c)), int(total)) for c, total in zip(needs[group].max(axis=0), totals))
        spare = max(_MIN_SPARE, int(np.ceil(_SPARE_FRACTION * len(group))))
        signature[caps] = signature.get(caps, 0) + len(group) + spare  # equal caps merge
    return tuple((count, caps) for caps, count in signature.items())


def _cost(signature, sizes):
    """Work of a signature: blocks times the square of their AO count (the contractions)."""
    return sum(count * sum(c * s for c, s in zip(caps, sizes)) ** 2 for count, caps in signature)


def _fresh_signature(needs, nclass, totals, sizes):
    """The fewest classes (each a compiled shape) whose work is within 10 % of ``nclass``'s."""
    candidates = [_split_signature(needs, k, totals) for k in range(1, nclass + 1)]
    best = min(_cost(c, sizes) for c in candidates)
    return next(c for c in candidates if _cost(c, sizes) <= 1.1 * best)


def _assign(needs, signature, sizes):
    """Place each block in the cheapest class whose caps cover its needs and that has room.

    Returns a list (per class) of block lists, or None when some block finds no place.
    """
    room = [count for count, _ in signature]
    caps = np.array([c for _, c in signature])  # (nclass, nl)
    cost = np.array([sum(c * s for c, s in zip(cap, sizes)) for _, cap in signature])
    by_cost = np.argsort(cost, kind="stable")
    members = [[] for _ in signature]
    for block in np.argsort(-needs.sum(axis=1), kind="stable"):
        for k in by_cost:
            if room[k] > 0 and np.all(caps[k] >= needs[block]):
                members[k].append(int(block))
                room[k] -= 1
                break
        else:
            return None
    return members


_LAST_SIGNATURE = {}  # (basis, grid structure, options) -> signature, the newest last
_MAX_REMEMBERED = 256


def block_layout(basis, plan, grid_coords, atom_coordinates,
                 block_size=DEFAULT_BLOCK_SIZE, cutoff=DEFAULT_CUTOFF, nclass=DEFAULT_NCLASS):
    """The :class:`BlockLayout` of a grid at a geometry.

    Parameters
    ----------
    basis : BasisSet
    plan : AOPlan
        ``ao_plan(basis)``: the shell rows of ``shell_index`` refer to its classes.
    grid_coords : array_like, (npts, 3)
        Points (Bohr) at this geometry.
    atom_coordinates : array_like, (natom, 3)
        Bohr.
    block_size, cutoff, nclass :
        Points per block, the AO magnitude below which a shell is dropped, and the number
        of shape classes.
    """
    points = np.asarray(grid_coords, dtype=np.float64)
    atom_coordinates = np.asarray(atom_coordinates, dtype=np.float64)
    npts, nao = len(points), basis.nao
    blocks = point_blocks(points, block_size)
    keep = _block_atom_distances(points, blocks, atom_coordinates)[:, basis.shell_atom] \
        < shell_radii(basis, cutoff)[None, :]  # (nblock, nshell)
    class_shells = [np.asarray(shells, dtype=int) for shells in plan.shells]
    needs = np.stack([keep[:, shells].sum(axis=1) for shells in class_shells], axis=1)  # (nblock, nclass)
    sizes = [basis.shell_size(l) for l in plan.angular_momenta]

    key = (basis, npts, block_size, cutoff, nclass, len(blocks))
    signature = _LAST_SIGNATURE.get(key)
    members = _assign(needs, signature, sizes) if signature is not None else None
    if members is None:
        signature = _fresh_signature(needs, nclass, [len(shells) for shells in class_shells], sizes)
        members = _assign(needs, signature, sizes)
    _LAST_SIGNATURE.pop(key, None)
    _LAST_SIGNATURE[key] = signature
    if len(_LAST_SIGNATURE) > _MAX_REMEMBERED:
        del _LAST_SIGNATURE[next(iter(_LAST_SIGNATURE))]

    classes = []
    for (count, caps), chosen in zip(signature, members):
        point_index = np.full((count, block_size), npts, dtype=np.int32)
        shell_index = [np.full((count, cap), len(shells), dtype=np.int32)
                       for cap, shells in zip(caps, class_shells)]
        ao_index = np.full((count, sum(c * s for c, s in zip(caps, sizes))), nao, dtype=np.int32)
        for row, block in enumerate(chosen):
            point_index[row, : len(blocks[block])] = blocks[block]
            column = 0
            for i, shells in enumerate(class_shells):
                rows = np.flatnonzero(keep[block, shells])
                shell_index[i][row, : len(rows)] = rows
                aos = (basis.ao_offset[shells[rows]][:, None] + np.arange(sizes[i])).ravel()
                ao_index[row, column: column + len(aos)] = aos
                column += caps[i] * sizes[i]
        classes.append(BlockClass(point_index, tuple(shell_index), ao_index))
    return BlockLayout(tuple(classes), npts, nao)
