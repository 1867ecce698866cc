"""The XC energy and potential on a screened, blocked grid: the Kohn-Sham SCF's XC path.

The grid's points are cut into blocks, each with the AOs that do not vanish on it
(:mod:`dftjax.grid.screening`, decided on the host). Per SCF step:

1. **features** block by block (``lax.map``): the block's AO values phi (ncomp, B, n), its
   density-matrix block D[idx, idx] (n, n), and rho_s, grad rho_s, tau_s on its points
   (:func:`dftjax.xc.features.block_density`), scattered back to the grid's point order;
2. **functional** on all points, in one piece or in equal chunks: e_xc and, by one reverse-mode
   pass through it, v_rho = w de/drho, v_sigma, v_tau (the functional is point-wise);
3. **potential** block by block: V_s += phi^T (1/2 v_rho phi + g_s . grad phi) + (its
   transpose) + 1/2 v_tau grad phi^T grad phi, with g_a = 2 v_sigma_aa grad rho_a +
   v_sigma_ab grad rho_b (:func:`dftjax.xc.features.block_potential`), scattered into
   V[idx, idx].

A functional that needs the nonlocal descriptor ``nra`` (NN-NRA) gets it between steps 1
and 2: R of the total density over the whole grid (:mod:`dftjax.xc.nra`, from the kernel
precomputed on the grid's points, or from its neighbour list where the points move), and
the nonlocal part of its potential, the VJP of R with R's cotangent, is added to the rho
cotangents before step 3.

So the potential is F_xc = dE_xc/dD written out as matrix products (it equals the
autodiff derivative of :func:`xc_energy_blocked`, which the tests check), the functional
compiles once per grid size whatever the blocks, and memory is bounded by one block and
one chunk. Restricted SCFs (D_a = D_b) compute one spin.

For the SCF's basis-size ladder, :func:`padded_xc_grid` rounds a grid's shapes (points,
blocks, AO columns) up on ladders and adds padding AOs that no block holds: the XC energy
and potential are unchanged, the potential on the padding AOs exactly zero.

AO values are kept (``XCGrid.ao``, per class (nblock, ncomp, B, n)) when they fit in
``ao_memory`` bytes (``dftjax.scf`` gives what :func:`dftjax.memory.kept_ao_budget`
allows beside its other arrays), and otherwise evaluated again inside each step from the
points and the atom coordinates, as PySCF does: twice per step (density, potential),
which roughly doubles the XC step's cost. Everything is differentiable with respect to the
density, the functional parameters, the weights, the kept AO values, and (when AOs are
evaluated inside) the atom coordinates and points: for forces, build the layout once at
the geometry (``xc_grid(..., ao_memory=0)``) and differentiate
``xc_energy_blocked(functional, params, xcg.at_geometry(coords, grid_points(spec, coords)),
density)`` with respect to ``coords``. Blocks and functional chunks are checkpointed, so
reverse mode keeps only their inputs, not their AO values and intermediates.
"""

from dataclasses import dataclass
from functools import lru_cache, partial

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from ..grid.ao_values import NCOMP, ao_plan, evaluate_shells
from ..grid.screening import (DEFAULT_BLOCK_SIZE, DEFAULT_CUTOFF, DEFAULT_NCLASS, BlockClass,
                              BlockLayout, block_layout, bucket)
from ..memory import DEFAULT_AO_MEMORY
from ..stored_programs import StoredKernel
from ..tracing import traced
from .features import block_density, block_potential
from .functional import Features
from .nra import NeighbourList, NRAKernel, neighbour_list, nra_descriptor_and_pullback, nra_kernel

FUNCTIONAL_CHUNK = 8192
"""Points per chunk of the functional's evaluation when the grid is split (bounds its
autodiff intermediates)."""

FUNCTIONAL_MEMORY = 4 * 1024**3
"""Bytes of the functional's intermediates, as :func:`functional_bytes_per_point`
over-estimates them (XLA's memory analysis of the compiled energy and derivative finds
13-19x less: 0.8 kB a point for B3LYP, 5.7 kB for NN-meta-GGA), up to which all points
are evaluated as one chunk: ~290,000 points for B3LYP, ~56,000 for the NN functionals.
One chunk runs faster than the chunks of a ``lax.map`` (PBE energy and derivatives on
water/def2-SVP's 33,698 points, 2 cores: 12.5 ms in 5 chunks, 8.4 ms in one). XLA:CPU
does spread an operation inside a loop over its threads (CPU/wall ~1.9 on 2 cores), but
each loop step costs (an elementwise sum over 64 blocks of 512 x 224: 19 ms in a
``lax.map``, 14 ms as one operation); fewer loop steps help GPUs too."""


@partial(jax.tree_util.register_dataclass,
         data_fields=["layout", "weights", "ao", "plan", "atom_coordinates", "points",
                      "neighbours", "nra_kernel"],
         meta_fields=["deriv"])
@dataclass(frozen=True, eq=False)
class XCGrid:
    """A grid for the XC energy: weights, blocks with their AOs, and AO values or the means
    to evaluate them.

    Attributes
    ----------
    layout : BlockLayout
    weights : jax.Array (npts,)
        Quadrature weights, Bohr^3, in the grid's point order.
    ao : tuple of jax.Array or None
        Per class of ``layout``, AO values (nblock, ncomp, block_size, nao_block); None when
        they are evaluated in each step from ``plan``, ``atom_coordinates``, ``points``.
    plan : AOPlan or None
    atom_coordinates : jax.Array (natom, 3) or None
    points : jax.Array (npts, 3) or None
    deriv : int
        0 (values) or 1 (and gradients): what the functional needs.
    neighbours : NeighbourList or None
        For functionals that need the nonlocal descriptor ``nra``
        (:mod:`dftjax.xc.nra`, evaluated on ``points``, differentiable in them); None otherwise.
    nra_kernel : NRAKernel or None
        The same descriptor's kernel precomputed on ``points`` (an SCF's fixed grid: the
        fast path, used before ``neighbours``); None otherwise.
    """

    layout: BlockLayout
    weights: jax.Array
    ao: tuple = None
    plan: object = None
    atom_coordinates: jax.Array = None
    points: jax.Array = None
    deriv: int = 1
    neighbours: NeighbourList = None
    nra_kernel: NRAKernel = None

    @property
    def npts(self):
        return self.layout.npts

    @property
    def nao(self):
        return self.layout.nao

    def at_geometry(self, atom_coordinates, grid):
        """The same blocks with AOs evaluated at ``atom_coordinates`` (natom, 3) on ``grid``'s
        points and weights (all may be traced): for derivatives with respect to the geometry.
        The precomputed NRA kernel, which holds the old points, is dropped."""
        return XCGrid(self.layout, grid.weights, None, self.plan, atom_coordinates, grid.coords,
                      self.deriv, self.neighbours)


def dense_xc_grid(ao, weights, points=None, neighbours=None):
    """An :class:`XCGrid` of one block holding every point and AO: ``ao`` (ncomp, npts, nao);
    ``points`` (npts, 3) and ``neighbours`` for functionals that need ``nra``."""
    ao = jnp.asarray(ao)
    ncomp, npts, nao = ao.shape
    block = BlockClass(point_index=np.arange(npts, dtype=np.int32)[None],
                       shell_index=(), ao_index=np.arange(nao, dtype=np.int32)[None])
    return XCGrid(BlockLayout((block,), npts, nao), jnp.asarray(weights), ao=(ao[None],),
                  points=points, deriv=0 if ncomp == 1 else 1, neighbours=neighbours)


def can_pad(xcg):
    """Whether :func:`padded_xc_grid` applies: AO values kept, no nonlocal descriptor."""
    return xcg.ao is not None and xcg.neighbours is None and xcg.nra_kernel is None


def padded_xc_grid(xcg, nao):
    """The same grid for ``nao`` >= ``xcg.nao`` basis functions, its shapes on ladders.

    The extra AOs are in no block, so they vanish on every point: E_xc and the XC
    potential on the real AOs are unchanged, and the potential on the extra ones is exactly
    zero (nothing is evaluated for them, so nothing divides by their zero density). The
    point count, points per block, AO columns and each class's block count are rounded up
    on ``bucket(., 4)`` (at most 25 % more each; AO columns at most ``nao``; benzene/def2-SVP
    at grid level 3 does 1.17x the XC work, 1.40x with block counts on ``bucket(., 2)``):
    padding points have weight 0, padding blocks
    hold only the padding point, padding columns the padding AO with zero values, so grids
    of similar sizes share every compiled shape. Needs :func:`can_pad`; the shells, plan,
    points and atom coordinates, which a step with kept AO values does not read, are
    dropped (their shapes differ between molecules). Host work: compiles nothing.
    """
    old_npts, old_nao = xcg.npts, xcg.nao
    npts = bucket(old_npts, 4)
    classes, values = [], []
    for block_class, ao in zip(xcg.layout.classes, xcg.ao):
        point_index, ao_index = (np.asarray(x) for x in (block_class.point_index,
                                                         block_class.ao_index))
        (nblock, block_size), width = point_index.shape, ao_index.shape[1]
        shape = _ladder_shape(nblock, block_size, width, nao)
        points = np.full(shape[:2], npts, np.int32)
        points[:nblock, :block_size] = np.where(point_index == old_npts, npts, point_index)
        aos = np.full((shape[0], shape[2]), nao, np.int32)
        aos[:nblock, :width] = np.where(ao_index == old_nao, nao, ao_index)
        classes.append(BlockClass(points, (), aos))
        if shape == (nblock, block_size, width):  # built on the ladder (xc_grid's pad_to)
            values.append(ao)
            continue
        ao = np.asarray(ao)
        padded = np.zeros((shape[0], ao.shape[1], shape[1], shape[2]))
        padded[:nblock, :, :block_size, :width] = ao
        values.append(padded)
    weights = np.zeros(npts)
    weights[:old_npts] = np.asarray(xcg.weights)
    layout = jax.device_put(BlockLayout(tuple(classes), npts, nao))
    return XCGrid(layout, jax.device_put(weights), jax.device_put(tuple(values)), deriv=xcg.deriv)


def _ladder_shape(nblock, block_size, width, nao):
    """A block class's (blocks, points per block, AO columns) on :func:`padded_xc_grid`'s
    ladders for ``nao`` basis functions."""
    return bucket(nblock, 4), bucket(block_size, 4), min(bucket(width, 4), nao)


def _layout_on_the_ladder(layout, plan, nao):
    """A host :class:`BlockLayout` whose classes have :func:`padded_xc_grid`'s shapes for
    ``nao`` >= ``layout.nao`` basis functions: the extra blocks are all padding (padding
    points, zero shells), the extra AO columns the padding AO (their values are zero, see
    :func:`_class_ao_values`). AO values evaluated on it are then padded without a copy.
    Classes whose points per block are off the ladder stay as they are (padded later)."""
    classes = []
    for block_class in layout.classes:
        (nblock, block_size), width = block_class.point_index.shape, block_class.nao_block
        count, points_per_block, columns = _ladder_shape(nblock, block_size, width, nao)
        if points_per_block != block_size:
            classes.append(block_class)
            continue
        point_index = np.full((count, block_size), layout.npts, np.int32)
        point_index[:nblock] = block_class.point_index
        shell_index = []
        for shells, marker in zip(block_class.shell_index, map(len, plan.shells)):
            padded = np.full((count, shells.shape[1]), marker, np.int32)
            padded[:nblock] = shells
            shell_index.append(padded)
        ao_index = np.full((count, columns), layout.nao, np.int32)
        ao_index[:nblock, :width] = block_class.ao_index
        classes.append(BlockClass(point_index, tuple(shell_index), ao_index))
    return BlockLayout(tuple(classes), layout.npts, layout.nao)


def _class_ao_values(plan, atom_coordinates, points, block_class, deriv):
    """AO values (nblock, ncomp, B, n) of one class of blocks; AO columns beyond its
    shells' (a class on the ladder, :func:`_layout_on_the_ladder`) are zero."""
    points = jnp.concatenate([points, jnp.zeros((1, 3))])  # the padding slot, weight 0
    values = jax.lax.map(
        lambda args: evaluate_shells(plan, atom_coordinates, points[args[0]], args[1], deriv),
        (block_class.point_index, block_class.shell_index))
    return _with_columns(values, block_class.ao_index.shape[1])


_class_ao = StoredKernel(_class_ao_values, static_argnums=(4,))


def _points_for_ao_values(points):
    """The grid's points (npts, 3) with rows of zeros appended up to the next power of two
    above npts, for :func:`_class_ao_values`: blocks read their points by index (row npts,
    the padding slot, is zero either way), so the rows added change nothing and cost
    nothing, and molecules whose grids differ in size but whose blocks have the same
    shapes (the N, O and F atoms; G2-1 in def2-TZVP: 60 programs -> 38) share the
    program. Concrete points only (traced ones are returned as they are)."""
    if traced(points):
        return points
    npts = np.shape(points)[0]
    padded = np.zeros((1 << int(npts).bit_length(), 3))
    padded[:npts] = np.asarray(points)
    return jax.device_put(padded, next(iter(points.devices())) if hasattr(points, "devices") else None)


def xc_grid(basis, grid, atom_coordinates, deriv=1, block_size=DEFAULT_BLOCK_SIZE,
            cutoff=DEFAULT_CUTOFF, nclass=DEFAULT_NCLASS, ao_memory=DEFAULT_AO_MEMORY,
            neighbours=False, precompute_nra=False, pad_to=None):
    """The :class:`XCGrid` of a basis on a molecular grid at a geometry.

    Parameters
    ----------
    basis : BasisSet
    grid : Grid
        From :func:`dftjax.grid.build_grid` at ``atom_coordinates``.
    atom_coordinates : array_like (natom, 3), Bohr
    deriv : int
        0 for LDAs, 1 when the functional needs gradients (GGA, meta-GGA).
    block_size, cutoff, nclass :
        See :func:`dftjax.grid.screening.block_layout`.
    ao_memory : int
        Keep the AO values when they take at most this many bytes; else evaluate them in
        every step. 0 never keeps them.
    neighbours : bool
        Build the grid's neighbour list (:func:`dftjax.xc.nra.neighbour_list`), with which
        the nonlocal descriptor ``nra`` is differentiable in the points (geometry derivatives).
    precompute_nra : bool
        Build the descriptor's kernel on the grid's points (:func:`dftjax.xc.nra.nra_kernel`):
        the fast path for a fixed geometry (an SCF). Built before the AO values, so that
        its MemoryError (when it does not fit) comes before they take the memory.
    pad_to : int or None
        The basis size an SCF will pad this grid to (:func:`padded_xc_grid`): the blocks
        are laid out on that ladder from the start, so that padding copies no AO values
        (benzene/6-31G*: 0.6 GB, ~1 s). Only where the AO values are kept and there is
        no nonlocal descriptor (where the grid pads).
    """
    plan = ao_plan(basis)
    atom_coordinates = jnp.asarray(atom_coordinates, jnp.float64)
    kernel = nra_kernel(np.asarray(grid.coords)) if precompute_nra else None
    layout = block_layout(basis, plan, np.asarray(grid.coords),
                          np.asarray(atom_coordinates), block_size, cutoff, nclass)
    fits = lambda layout: layout.slots()[1] * NCOMP[deriv] * 8 <= ao_memory
    keep = fits(layout)
    if keep and pad_to is not None and not (neighbours or precompute_nra):
        laddered = _layout_on_the_ladder(layout, plan, pad_to)
        layout = laddered if fits(laddered) else layout
    layout = jax.device_put(layout)  # the index arrays, once, not at every step
    ao = None
    if keep:
        points = _points_for_ao_values(grid.coords)
        ao = tuple(_class_ao(plan, atom_coordinates, points, c, deriv) for c in layout.classes)
    neighbour_pairs = (jax.device_put(neighbour_list(np.asarray(grid.coords), np.asarray(grid.atom)))
                       if neighbours else None)
    return XCGrid(layout, grid.weights, ao, plan, atom_coordinates, grid.coords, deriv,
                  neighbour_pairs, kernel)


def _blocks(xcg, c):
    """The per-block inputs of class ``c`` for ``lax.map``/``lax.scan``."""
    block_class = xcg.layout.classes[c]
    return {"points": block_class.point_index, "shells": block_class.shell_index,
            "aos": block_class.ao_index, "ao": None if xcg.ao is None else xcg.ao[c]}


def _block_ao(xcg, block):
    """AO values (ncomp, B, n) of one block: kept, or evaluated now."""
    if block["ao"] is not None:
        return block["ao"]
    points = jnp.concatenate([xcg.points, jnp.zeros((1, 3))])[block["points"]]
    return _with_columns(evaluate_shells(xcg.plan, xcg.atom_coordinates, points, block["shells"],
                                         xcg.deriv), block["aos"].shape[-1])


def _with_columns(values, columns):
    """AO values (..., n) with zero columns appended up to ``columns``: the padding AO
    columns of a class laid out on the ladder (:func:`_layout_on_the_ladder`)."""
    extra = columns - values.shape[-1]
    return jnp.pad(values, ((0, 0),) * (values.ndim - 1) + ((0, extra),)) if extra else values


def _grid_densities(xcg, density, needs):
    """rho_s (S, npts), grad rho_s (S, 3, npts) or None, tau_s (S, npts) or None for
    density (S, nao, nao), block by block."""
    nspin, npts, nao = density.shape[0], xcg.npts, xcg.nao
    padded = jnp.zeros((nspin, nao + 1, nao + 1), density.dtype).at[:, :nao, :nao].set(density)
    with_grad, with_tau = "sigma" in needs, "tau" in needs
    nout = 1 + 3 * with_grad + with_tau
    grid = jnp.zeros((nspin, nout, npts + 1), density.dtype)
    @jax.checkpoint  # reverse mode keeps a block's inputs, not its AO values and products
    def one_block(block):
        index = block["aos"]
        return block_density(_block_ao(xcg, block), padded[:, index][:, :, index], with_grad, with_tau)

    for c, block_class in enumerate(xcg.layout.classes):
        values = jax.lax.map(one_block, _blocks(xcg, c))  # (nblock, S, nout, B)
        values = jnp.moveaxis(values, 0, 2).reshape(nspin, nout, -1)
        grid = grid.at[:, :, block_class.point_index.reshape(-1)].add(values)
    grid = grid[:, :, :npts]
    rho = grid[:, 0]
    grad = grid[:, 1:4] if with_grad else None
    tau = grid[:, nout - 1] if with_tau else None
    return rho, grad, tau


def grid_density(xcg, density):
    """Total electron density (npts,) on the grid's points (electrons / Bohr^3) for spin
    densities (2, nao, nao), block by block; differentiable."""
    return _grid_densities(xcg, density, ("rho",))[0].sum(axis=0)


def _features(rho, grad, tau):
    """libxc's spin-resolved features from per-spin rho, grad rho, tau (one spin: both equal)."""
    if rho.shape[0] == 1:
        rho, grad, tau = (None if x is None else jnp.concatenate([x, x]) for x in (rho, grad, tau))
    sigma = None
    if grad is not None:
        sigma = jnp.stack([jnp.sum(grad[0] * grad[0], axis=0), jnp.sum(grad[0] * grad[1], axis=0),
                           jnp.sum(grad[1] * grad[1], axis=0)])
    return Features(rho=rho, sigma=sigma, tau=tau)


@lru_cache(maxsize=256)
def functional_bytes_per_point(functional) -> float:
    """Bytes per grid point of the functional's energy and its reverse-mode derivative:
    three times every intermediate of the energy, summed over its jaxpr (the reverse pass
    keeps about twice the forward's values; XLA fuses most of them away, so this bounds
    the memory from above): ~15 kB for B3LYP, ~76 kB for the NN functionals. Traced once
    per functional, on 64 points (~40 ms for B3LYP)."""
    n, needs = 64, functional.needs
    shape = lambda rows: jax.ShapeDtypeStruct((rows, n) if rows else (n,), jnp.float64)
    features = Features(rho=shape(2), sigma=shape(3) if "sigma" in needs else None,
                        tau=shape(2) if "tau" in needs else None,
                        nra=shape(0) if "nra" in needs else None)
    params = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), functional.params)

    def size(jaxpr):
        total = 0
        for equation in jaxpr.eqns:
            total += sum(int(np.prod(v.aval.shape)) * v.aval.dtype.itemsize
                         for v in equation.outvars if hasattr(v.aval, "shape"))
            total += sum(size(sub) for sub in jax.extend.core.jaxprs_in_params(equation.params))
        return total

    return 3.0 * size(jax.make_jaxpr(functional.energy_density)(params, features).jaxpr) / n


def _one_chunk_limit(functional):
    """The most points the functional evaluates in one chunk (see FUNCTIONAL_MEMORY); at
    least FUNCTIONAL_CHUNK."""
    try:
        per_point = functional_bytes_per_point(functional)
    except Exception:  # a functional that cannot be traced on abstract values: split
        return FUNCTIONAL_CHUNK
    return max(FUNCTIONAL_CHUNK, int(FUNCTIONAL_MEMORY // max(per_point, 1.0)))


def _chunked(function, params, arrays, npts, one_chunk=FUNCTIONAL_CHUNK):
    """``function(params, *arrays)``, point-wise over the last axis of ``arrays``.

    Up to ``one_chunk`` points in one piece (see FUNCTIONAL_MEMORY), but its derivatives
    (jvp, and so vjp, to any order) chunk by chunk: a derivative's intermediates are many
    and, over one large piece, spill out of the caches (the implicit backward pass of a
    training step on water/def2-SVP: 1.0 -> 1.5 s with one piece). Chunks: the fewest of
    at most FUNCTIONAL_CHUNK points, all of one size (a multiple of 64 points, the last
    padded), so they pad little (33698 points: 222, not the 7262 of fixed 8192-point
    chunks).

    The padding repeats the last point rather than adding zeros: its outputs are cut off,
    but a derivative with respect to ``params`` sums over every point, and at zero
    features a functional may be singular (NN-NRA reads log R, and R = 0 only where padded):
    0 * inf there made the training gradient NaN."""
    if npts <= FUNCTIONAL_CHUNK:
        return function(params, *arrays)
    nchunk = -(-npts // FUNCTIONAL_CHUNK)
    chunk = -(-npts // (64 * nchunk)) * 64
    pad = nchunk * chunk - npts

    def split(x):
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)], mode="edge")
        return jnp.moveaxis(x.reshape(x.shape[:-1] + (nchunk, chunk)), -2, 0)

    def join(x):
        return jnp.moveaxis(x, 0, -2).reshape(x.shape[1:-1] + (nchunk * chunk,))[..., :npts]

    def in_chunks(params, *arrays):
        out = jax.lax.map(jax.checkpoint(lambda xs: function(params, *xs)),
                          jax.tree_util.tree_map(split, arrays))
        return jax.tree_util.tree_map(join, out)

    if npts > one_chunk:
        return in_chunks(params, *arrays)

    @jax.custom_jvp
    def whole(params, *arrays):
        return function(params, *arrays)

    @whole.defjvp
    def whole_jvp(primals, tangents):
        return jax.jvp(in_chunks, primals, tangents)

    return whole(params, *arrays)


def _energy_density(functional, params, features):
    return _chunked(functional.energy_density, params, (features,), features.rho.shape[-1],
                    _one_chunk_limit(functional))


def _value_and_cotangents(functional, params, features, weights):
    e, pullback = jax.vjp(lambda f: functional.energy_density(params, f), features)
    return weights * e, pullback(weights)[0]


def _energy_and_derivatives(functional, params, features, weights):
    """w e_xc (npts,) and the features' cotangents w de/dfeature, chunk by chunk."""
    return _chunked(partial(_value_and_cotangents, functional), params, (features, weights),
                    weights.shape[0], _one_chunk_limit(functional))


def xc_energy_blocked(functional, params, xcg, density):
    """E_xc = sum_g w_g e_xc(g) (Hartree) for spin densities (2, nao, nao) on an :class:`XCGrid`.

    Plain JAX throughout, so every derivative (of any order) comes from autodiff.
    """
    rho, grad, tau = _grid_densities(xcg, density, functional.needs)
    features = _features(rho, grad, tau)
    if "nra" in functional.needs:
        features = _with_nra(xcg, features)[0]
    return jnp.sum(xcg.weights * _energy_density(functional, params, features))


def _with_nra(xcg, features):
    """``features`` with the nonlocal descriptor R of the total density on the whole grid,
    and R's pullback (a cotangent of R (npts,) -> that of the total density (npts,))."""
    pairs = xcg.nra_kernel if xcg.nra_kernel is not None else xcg.neighbours
    if pairs is None or xcg.points is None:
        raise ValueError("this functional needs the nonlocal descriptor 'nra': build its XCGrid "
                         "with xc_grid(..., precompute_nra=True) or neighbours=True (or give "
                         "dense_xc_grid points and a neighbour list)")
    descriptor, pullback = nra_descriptor_and_pullback(pairs, xcg.points, xcg.weights,
                                                      features.rho.sum(axis=0))
    return Features(features.rho, features.sigma, features.tau, descriptor), pullback


def xc_energy_and_potential(functional, params, xcg, density, restricted=False):
    """E_xc and V_xc = dE_xc/dD (2, nao, nao), symmetric, with the potential written out.

    ``restricted`` (D_a = D_b, as restricted SCFs keep it) computes one spin and returns
    V_a twice.
    """
    nao, needs = xcg.nao, functional.needs
    spin_density = density[:1] if restricted else density
    rho, grad, tau = _grid_densities(xcg, spin_density, needs)
    features = _features(rho, grad, tau)
    if "nra" in needs:
        features, nra_pullback = _with_nra(xcg, features)
    weighted, cotangent = _energy_and_derivatives(functional, params, features, xcg.weights)
    nspin = spin_density.shape[0]
    cotangent_rho = cotangent.rho
    if "nra" in needs:  # the nonlocal potential: R depends on both spins' total density
        cotangent_rho = cotangent_rho + nra_pullback(cotangent.nra)[0]
    v_rho, g, v_tau = 0.5 * cotangent_rho[:nspin], None, None
    if grad is not None:
        v_sigma = cotangent.sigma
        if restricted:
            g = (2.0 * v_sigma[0] + v_sigma[1]) * grad
        else:
            g = jnp.stack([2.0 * v_sigma[0] * grad[0] + v_sigma[1] * grad[1],
                           2.0 * v_sigma[2] * grad[1] + v_sigma[1] * grad[0]])
    if tau is not None:
        v_tau = 0.25 * cotangent.tau[:nspin]
    # the padding slot npts gets zero coefficients
    v_rho, g, v_tau = (None if x is None else jnp.concatenate([x, jnp.zeros(x.shape[:-1] + (1,))], axis=-1)
                       for x in (v_rho, g, v_tau))

    @jax.checkpoint
    def add_block(potential, block):
        index, points = block["aos"], block["points"]
        v = block_potential(_block_ao(xcg, block), v_rho[..., points],
                            None if g is None else g[..., points],
                            None if v_tau is None else v_tau[..., points])
        return potential.at[:, index[:, None], index[None, :]].add(v), None

    potential = jnp.zeros((nspin, nao + 1, nao + 1), density.dtype)
    for c in range(len(xcg.layout.classes)):
        potential, _ = jax.lax.scan(add_block, potential, _blocks(xcg, c))
    potential = potential[:, :nao, :nao]
    if restricted:
        potential = jnp.concatenate([potential, potential])
    return jnp.sum(weighted), potential
