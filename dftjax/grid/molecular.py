"""Molecular integration grids, built as PySCF's ``dft.gen_grid.Grids`` builds them.

A grid is a set of points r_p (Bohr, shape (npts, 3)) and weights w_p (Bohr^3, shape
(npts,)) such that sum_p w_p f(r_p) ~ int f(r) d^3r. Each atom A carries a spherical
grid, radial (Treutler-Ahlrichs M4) times angular (Lebedev), pruned NWChem-style; each
point's weight is its radial and angular weight times the Becke cell function of its
atom (see :mod:`dftjax.grid.partition`).

The work is split the way dftjax splits all its data:

* :func:`grid_spec` (host, NumPy) decides the *structure*: how many radial and angular
  points each atom gets, the points' offsets from their atom and the quadrature weights
  4 pi r^2 dr w_angular. It depends only on the elements and the level, and fixes all
  shapes.
* :func:`grid_points` (JAX, jitted) places the points at the atoms and multiplies in the
  Becke cell weights. It is differentiable with respect to the coordinates (the grid
  moves with the atoms, so forces include the grid response exactly) and compiles once
  per molecule size: a new geometry reuses the compiled code. :func:`build_grid` does the
  same in NumPy for concrete coordinates (:func:`host_grid_points`: a first run of a new
  molecule compiles nothing for its grid).

PySCF parity (pyscf 2.14, ``Grids(mol)`` with ``grids.level = L``, all other settings
default): the same points and weights to ~1e-13, grouped by atom instead of PySCF's
spatial boxes. PySCF applies no weight cutoff when it builds a grid; it appends up to 7
padding points of weight 0 (``atm_idx == -1``) to reach a multiple of 8, which dftjax
does not. Points whose Becke weight underflows to 0 are kept, as PySCF keeps them, and
some Lebedev rules (74 points) have negative weights. (PySCF's RKS later drops points of
negligible density, ``small_rho_cutoff``; that belongs to the SCF, not the grid.)
"""

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.elements import atomic_number
from dftjax.tracing import traced

from .angular import LEBEDEV_NPOINTS, LEBEDEV_ORDER, lebedev
from .partition import becke_cell_weights, size_adjustment
from .radial import BRAGG_RADII, treutler_ahlrichs

# Grid levels: points per element row (period 1..7), PySCF's gen_grid.RAD_GRIDS and
# gen_grid.ANG_ORDER (the latter as Lebedev orders).
RADIAL_POINTS = np.array((
    (10, 15, 20, 30, 35, 40, 50),
    (30, 40, 50, 60, 65, 70, 75),
    (40, 60, 65, 75, 80, 85, 90),
    (50, 75, 80, 90, 95, 100, 105),
    (60, 90, 95, 105, 110, 115, 120),
    (70, 105, 110, 120, 125, 130, 135),
    (80, 120, 125, 135, 140, 145, 150),
    (90, 135, 140, 150, 155, 160, 165),
    (100, 150, 155, 165, 170, 175, 180),
    (200, 200, 200, 200, 200, 200, 200),
))
"""Radial points at ``RADIAL_POINTS[level, period - 1]``, levels 0..9."""

ANGULAR_ORDER = np.array((
    (11, 15, 17, 17, 17, 17, 17),
    (17, 23, 23, 23, 23, 23, 23),
    (23, 29, 29, 29, 29, 29, 29),
    (29, 29, 35, 35, 35, 35, 35),
    (35, 41, 41, 41, 41, 41, 41),
    (41, 47, 47, 47, 47, 47, 47),
    (47, 53, 53, 53, 53, 53, 53),
    (53, 59, 59, 59, 59, 59, 59),
    (59, 59, 59, 59, 59, 59, 59),
    (65, 65, 65, 65, 65, 65, 65),
))
"""Lebedev order of the largest angular grid at ``ANGULAR_ORDER[level, period - 1]``."""

_LAST_Z_OF_PERIOD = np.array((2, 10, 18, 36, 54, 86, 118))

# NWChem pruning: region boundaries in units of the Bragg radius, for H-He, Li-Ne and
# the rest.
_PRUNE_REGION_BOUNDS = np.array((
    (0.25, 0.5, 1.0, 4.5),
    (0.1667, 0.5, 0.9, 3.5),
    (0.1, 0.4, 0.8, 2.5),
))


def default_atom_grid(atomic_number, level=3):
    """``(n_radial, n_angular)`` of an element at a grid level, as PySCF chooses them.

    Parameters
    ----------
    atomic_number : int
        Element Z.
    level : int
        0 (coarsest) .. 9; PySCF's default is 3.
    """
    if not 0 <= level < len(RADIAL_POINTS):
        raise ValueError(f"grid level must be 0..{len(RADIAL_POINTS) - 1}, got {level}")
    period = int((atomic_number > _LAST_Z_OF_PERIOD).sum())
    return (int(RADIAL_POINTS[level, period]),
            LEBEDEV_ORDER[int(ANGULAR_ORDER[level, period])])


def nwchem_prune(atomic_number, radii, n_angular):
    """Angular points per radial shell, NWChem's pruning as PySCF implements it.

    Space around the atom is split into five regions by r / R_Bragg. From the inside
    out they get 50, 86, one rule below ``n_angular``, ``n_angular`` and again one rule
    below it (50, 74, 74, 74, 50 when ``n_angular`` is 50). Rules of fewer than 50
    points are not pruned.

    Parameters
    ----------
    atomic_number : int
    radii : numpy.ndarray
        Radial nodes in Bohr, shape (n_radial,).
    n_angular : int
        The largest angular grid.

    Returns
    -------
    numpy.ndarray of int, shape (n_radial,)
    """
    rules = LEBEDEV_NPOINTS[3:]  # 38, 50, 74, 86, ...
    if n_angular < 50:
        return np.full(len(radii), n_angular)
    if n_angular == 50:
        region_rule = np.array((1, 2, 2, 2, 1))
    else:
        top = int(np.flatnonzero(rules == n_angular)[0])
        region_rule = np.array((1, 3, top - 1, top, top - 1))
    row = 0 if atomic_number <= 2 else 1 if atomic_number <= 10 else 2
    scaled = radii / (BRAGG_RADII[atomic_number] + 1e-200)
    region = (scaled[:, None] > _PRUNE_REGION_BOUNDS[row]).sum(axis=1)
    return rules[region_rule[region]]


def atomic_grid(atomic_number, n_radial, n_angular, prune=True):
    """Spherical grid of one atom, centred at the origin.

    Returns
    -------
    offsets : numpy.ndarray
        Points relative to the nucleus in Bohr, shape (n, 3), grouped by angular rule.
    weights : numpy.ndarray
        4 pi r^2 dr times the angular weight (normalised to 1 on the sphere), shape (n,).
    """
    radii, dr = treutler_ahlrichs(n_radial, atomic_number)
    radial_weight = radii**2 * dr
    if prune:
        n_per_shell = nwchem_prune(atomic_number, radii, n_angular)
    else:
        n_per_shell = np.full(n_radial, n_angular)
    offsets, weights = [], []
    for npoints in np.unique(n_per_shell):
        directions, angular_weight = lebedev(int(npoints))
        shells = n_per_shell == npoints
        offsets.append((radii[shells, None, None] * directions[None]).reshape(-1, 3))
        weights.append((radial_weight[shells, None] * angular_weight[None]).ravel())
    return np.concatenate(offsets), np.concatenate(weights)


@partial(jax.tree_util.register_dataclass,
         data_fields=["atom", "offsets", "quadrature_weights", "adjustment"],
         meta_fields=["block_size"])
@dataclass(frozen=True, eq=False)
class GridSpec:
    """Static structure of a molecular grid; the input of :func:`grid_points`.

    Attributes
    ----------
    atom : numpy.ndarray of int, shape (npts,)
        The atom each point belongs to.
    offsets : numpy.ndarray, shape (npts, 3)
        Point minus its atom's position, Bohr.
    quadrature_weights : numpy.ndarray, shape (npts,)
        Radial times angular weight, Bohr^3, before the Becke partition.
    adjustment : numpy.ndarray, shape (natom, natom)
        Becke atomic-size adjustment a_AB.
    block_size : int
        Points per block in the Becke partition (bounds its (block, natom, natom) memory).
    """

    atom: np.ndarray
    offsets: np.ndarray
    quadrature_weights: np.ndarray
    adjustment: np.ndarray
    block_size: int

    @property
    def npts(self):
        return self.atom.shape[0]

    @property
    def natom(self):
        return self.adjustment.shape[0]


@partial(jax.tree_util.register_dataclass,
         data_fields=["coords", "weights", "atom"], meta_fields=[])
@dataclass(frozen=True, eq=False)
class Grid:
    """Quadrature points and weights: sum_p weights[p] f(coords[p]) ~ int f(r) d^3r.

    Attributes
    ----------
    coords : jax.Array, shape (npts, 3)
        Points in Bohr.
    weights : jax.Array, shape (npts,)
        Weights in Bohr^3 (a few are negative or zero, as in PySCF).
    atom : jax.Array of int, shape (npts,)
        The atom whose atomic grid each point comes from.
    """

    coords: jax.Array
    weights: jax.Array
    atom: jax.Array

    @property
    def npts(self):
        return self.weights.shape[0]


def _default_block_size(natom):
    # Keep the (block, natom, natom) Becke intermediates near 2^21 doubles (16 MB).
    budget = max(2**21 // max(natom, 1) ** 2, 1)
    return int(min(4096, max(128, 2 ** int(np.log2(budget)))))


def grid_spec(symbols, level=3, atom_grid=None, prune=True, block_size=None):
    """The static structure of the grid of a molecule.

    Parameters
    ----------
    symbols : sequence of str or int
        Elements of the atoms, in molecule order.
    level : int
        0..9 as PySCF's ``grids.level``; default 3.
    atom_grid : tuple or dict, optional
        ``(n_radial, n_angular)`` for every atom, or ``{symbol: (n_radial, n_angular)}``
        for some elements (the others follow ``level``), as PySCF's ``grids.atom_grid``.
    prune : bool
        NWChem pruning (PySCF's default); False gives every shell ``n_angular`` points.
    block_size : int, optional
        Points per Becke block; by default chosen from the number of atoms.

    Returns
    -------
    GridSpec
    """
    numbers = [atomic_number(symbol) for symbol in symbols]
    if isinstance(atom_grid, dict):
        overrides = {atomic_number(key): value for key, value in atom_grid.items()}
    else:
        overrides = {z: atom_grid for z in numbers} if atom_grid is not None else {}
    per_element = {}
    for z in set(numbers):
        n_radial, n_angular = overrides.get(z) or default_atom_grid(z, level)
        if n_angular not in LEBEDEV_NPOINTS:
            raise ValueError(f"no Lebedev rule with {n_angular} points for element Z = {z}")
        per_element[z] = atomic_grid(z, n_radial, n_angular, prune)
    offsets = np.concatenate([per_element[z][0] for z in numbers])
    weights = np.concatenate([per_element[z][1] for z in numbers])
    atom = np.repeat(np.arange(len(numbers)), [len(per_element[z][1]) for z in numbers])
    return GridSpec(
        atom=atom,
        offsets=offsets,
        quadrature_weights=weights,
        adjustment=size_adjustment(numbers),
        block_size=block_size or _default_block_size(len(numbers)),
    )


@jax.jit
def grid_points(spec, coordinates):
    """Place the grid of ``spec`` at the atoms and apply the Becke partition.

    Parameters
    ----------
    spec : GridSpec
        From :func:`grid_spec` for the same atoms.
    coordinates : jax.Array
        Atom positions in Bohr, shape (natom, 3).

    Returns
    -------
    Grid
        Differentiable with respect to ``coordinates`` (points move with their atoms;
        weights change through the Becke cell functions).
    """
    coordinates = jnp.asarray(coordinates, dtype=jnp.float64)
    npts, block = spec.npts, spec.block_size
    nblock = -(-npts // block)
    pad = nblock * block - npts
    atom = jnp.asarray(spec.atom)
    points = coordinates[atom] + spec.offsets
    # Padding points sit 1 Bohr from atom 0 and are cut away again.
    padded_points = jnp.concatenate([points, jnp.broadcast_to(coordinates[0] + 1.0, (pad, 3))])
    padded_atom = jnp.concatenate([atom, jnp.zeros(pad, dtype=atom.dtype)])

    @jax.checkpoint
    def cell_block(args):
        block_points, block_atom = args
        return becke_cell_weights(block_points, block_atom, coordinates, spec.adjustment)

    cell = jax.lax.map(cell_block, (padded_points.reshape(nblock, block, 3),
                                    padded_atom.reshape(nblock, block)))
    weights = spec.quadrature_weights * cell.reshape(-1)[:npts]
    return Grid(coords=points, weights=weights, atom=atom)


def host_grid_points(spec, coordinates):
    """:func:`grid_points` for concrete coordinates (natom, 3), Bohr, in NumPy, block by
    block as there: the same grid to rounding, with nothing to compile."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    points = coordinates[spec.atom] + spec.offsets
    cell = np.concatenate([
        becke_cell_weights(points[start:start + spec.block_size],
                           spec.atom[start:start + spec.block_size], coordinates,
                           spec.adjustment, xp=np)
        for start in range(0, spec.npts, spec.block_size)])
    return Grid(*jax.device_put((points, spec.quadrature_weights * cell, spec.atom)))


def build_grid(molecule, level=3, **options):
    """Integration grid of a molecule at a PySCF grid level.

    Parameters
    ----------
    molecule : Molecule or tuple
        A :class:`dftjax.Molecule`, or ``(symbols, coordinates)`` with coordinates in
        Bohr, shape (natom, 3).
    level : int
        0..9 as PySCF's ``grids.level``; default 3.
    **options
        ``atom_grid``, ``prune``, ``block_size`` as for :func:`grid_spec`.

    Returns
    -------
    Grid
        From :func:`grid_points` when ``coordinates`` are traced (differentiable), else
        from :func:`host_grid_points`.
    """
    if isinstance(molecule, tuple):
        symbols, coordinates = molecule
    else:
        symbols, coordinates = molecule.symbols, molecule.coordinates
    spec = grid_spec(symbols, level, **options)
    if traced(coordinates):
        return grid_points(spec, coordinates)
    return host_grid_points(spec, coordinates)
