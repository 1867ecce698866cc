"""Three- and two-centre Coulomb integrals (ij|P), (P|Q) for density fitting.

McMurchie-Davidson as for the four-centre integrals (Helgaker, Jorgensen & Olsen eq.
9.9.33): an auxiliary function P is one contracted Gaussian on one atom, whose Hermite
expansion is that of a "pair" with no second function (E^{l0}_t with X_PA = 0), so

    (ab|c) = 2 pi^(5/2) / (p q sqrt(p+q)) sum_{tuv,t'u'v'} E^{ab}_{tuv} (-1)^{t'+u'+v'}
             E^{c}_{t'u'v'} R_{t+t',u+u',v+v'}(pq/(p+q), R_PC)

and erf(omega r12)/r12 changes only the Boys argument and the prefactor, as for the
four-centre integrals. The orbital side is the primitive-pair data of
:func:`~dftjax.integrals.one_electron.pair_data`; the auxiliary side needs no geometry
except its centres, so its Hermite coefficients are host constants (:class:`AuxGroup`).

Compile time limits this code more than run time for small molecules, and run time for
large ones, so how the work is cut into kernels is chosen per basis (:func:`df_plan`, a
cost model): orbital pair classes and auxiliary angular momenta are grouped, each group
padded to its largest member (e.g. all of water's work in two kernels; for large
molecules every class alone, so that no block is padded), and one jitted kernel per
(pair group, auxiliary group) loops (``lax.fori_loop``) over tiles of primitive pairs
against all primitives of the auxiliary group, contracting primitives into shells with
sorted segment sums. (P|Q) is grouped the same way, lower blocks only. The Hermite
Coulomb integrals (and Boys function) are the four-centre code's
(:func:`~dftjax.integrals.hermite.hermite_coulomb`). No Python loop over shells; a new
geometry of the same molecule reuses every compiled kernel.

Those kernels' shapes follow the molecule's size, so a new molecule compiles its own (the
density-fitted G2-2 molecules in def2-TZVP: 14-84 kernels, 10-25 s each molecule). From
:data:`TILED_MIN_NAO` basis functions, on a CPU and with concrete (screened) pair data,
(ij|P) runs instead in tiles whose shapes depend only on the angular momenta
(:func:`_tiled_blocks`): one stored kernel per pair class and auxiliary angular momentum,
shared by every molecule of the basis family and by later processes, at ~25 % more run
time than the grouped kernels. Traced pair data (gradients) take the grouped kernels.

Auxiliary functions are kept in *group order* (by group, shell, component): the fitted
tensors never need PySCF's AO order, and :func:`aux_ao_order_of` maps group order to it
for comparisons (:func:`three_center_integrals` and :func:`two_center_integrals` return
PySCF's order). Everything is a pure function of the coordinates (differentiable).
"""

from dataclasses import dataclass
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from ..basis.spherical import cartesian_powers
from .hermite import hermite_coulomb, hermite_indices, n_hermite
from .one_electron import ao_transform
from .plan import bucket, padded_pair_class, pair_plan
from ..stored_programs import StoredKernel
from ._compilation import map_classes
from .two_electron import _pair_class_bounds, primitive_pair_bounds

#: Elements (doubles) per intermediate array of one tile (~16 MB): bounds kernel memory.
TILE_BUDGET = 1 << 21


# ---------------------------------------------------------------------------------------
# Plans: groups of orbital pair classes and of auxiliary shells


def segment_bucket(n: int) -> int:
    """Padded number of shell (pair) slots of a kernel's blocks, a static shape of the
    kernel: the next power of two (at least 16) up to :data:`POWER_SLOTS`, so that
    molecules of similar size share kernels; beyond, the next m 2^e >= n with 8 <= m < 16
    (at most 1/8 padding), so that large blocks stay close to their size.

    The 47 density-fitted G2-2 molecules in def2-TZVP (135-222 AOs) have 288 distinct
    kernel shapes with this, 602 with 1/8 padding throughout; their blocks take up to 2.6x
    the fitted tensor's size instead of 1.1x (at most 300 MB there). The integrals' work
    scales with the primitives, not the slots: on 41 of them in one process, the first
    integrals took 244 s instead of 333 s, and warm ones 8 % longer.
    """
    n = max(int(n), 1)
    if n <= POWER_SLOTS:
        return bucket(n, smallest=16)
    e = int(np.floor(np.log2(n))) - 3
    return -(-n // (1 << e)) * (1 << e)


#: Slot counts up to which :func:`segment_bucket` pads to a power of two.
POWER_SLOTS = 1024


@dataclass(frozen=True, eq=False)
class AuxGroup:
    """Auxiliary shells of some angular momenta, padded to the largest, ``l``.

    shells : (nshell,) shell indices, group order; nfunc : (nshell,) functions of each;
    nseg the (padded) number of shell slots. Primitive arrays (length nprim_bucket, a
    power of two): exponent (1 for padding), atom, group-local shell (nseg for padding)
    and the Hermite coefficients E (nprim_bucket, nfunc(l), n_hermite(l)) with the
    contraction coefficient and the AO normalisation folded in (zero for padding).
    """

    l: int
    shells: np.ndarray
    nfunc: np.ndarray
    nseg: int
    exponent: np.ndarray
    atom: np.ndarray
    prim_shell: np.ndarray
    hermite: np.ndarray
    contracted: bool

    @property
    def nshell(self) -> int:
        return len(self.shells)

    @property
    def width(self) -> int:
        return self.hermite.shape[1]

    @property
    def nprim(self) -> int:
        return int(np.sum(self.prim_shell < self.nseg))


def _single_gaussian_hermite(l: int, cartesian: bool, exponent: np.ndarray) -> np.ndarray:
    """E (n, nfunc(l), n_hermite(l)) of the AOs of x^i y^j z^k exp(-a r^2) at its centre.

    Per direction E^{i+1}_t = E^{i}_{t-1} / 2a + (t+1) E^{i}_{t+1}, E^0_0 = 1 (Helgaker eq.
    9.5.6 with X_PA = 0); NumPy, since it does not depend on the geometry.
    """
    a = np.asarray(exponent, dtype=np.float64)
    e1d = np.zeros((len(a), l + 1, l + 2))
    e1d[:, 0, 0] = 1.0
    t = np.arange(l + 1)
    for i in range(l):
        lower = np.concatenate([np.zeros((len(a), 1)), e1d[:, i, : l]], axis=1)
        e1d[:, i + 1, : l + 1] = lower / (2.0 * a[:, None]) + (t + 1) * e1d[:, i, 1: l + 2]
    powers, herm = cartesian_powers(l), hermite_indices(l)
    e_cart = np.ones((len(a), len(powers), len(herm)))
    for d in range(3):
        e_cart = e_cart * e1d[:, powers[:, d][:, None], herm[:, d][None, :]]
    return np.einsum("ax,cxh->cah", ao_transform(l, cartesian), e_cart)


def _aux_group(auxbasis, ls) -> AuxGroup:
    lmax = max(ls)
    shells = np.concatenate([np.nonzero(auxbasis.shell_l == l)[0] for l in ls])
    counts = auxbasis.shell_nprim[shells]
    nprim = int(counts.sum())
    size = bucket(nprim, smallest=8)
    contracted = bool(np.any(counts != 1))
    nseg = segment_bucket(len(shells)) if contracted else size
    width = ao_transform(lmax, auxbasis.cartesian).shape[0]
    hermite = np.zeros((size, width, n_hermite(lmax)))
    row = 0
    for s in shells:
        l = int(auxbasis.shell_l[s])
        e = _single_gaussian_hermite(l, auxbasis.cartesian, auxbasis.exponents[s])
        hermite[row: row + len(e), : e.shape[1], : e.shape[2]] = e * auxbasis.coefficients[s][:, None, None]
        row += len(e)
    exponent = np.ones(size)
    exponent[:nprim] = np.concatenate([auxbasis.exponents[s] for s in shells])
    atom = np.zeros(size, dtype=np.int32)
    atom[:nprim] = np.repeat(auxbasis.shell_atom[shells], counts)
    prim_shell = np.full(size, nseg, dtype=np.int32)
    prim_shell[:nprim] = np.repeat(np.arange(len(shells)), counts)
    nfunc = np.array([ao_transform(int(auxbasis.shell_l[s]), auxbasis.cartesian).shape[0] for s in shells])
    return AuxGroup(lmax, shells, nfunc, nseg, exponent, atom, prim_shell, hermite, contracted)


@dataclass(frozen=True, eq=False)
class PairGroup:
    """Orbital pair classes computed by one kernel, padded to the largest.

    classes : indices into :func:`pair_plan`; degree = max la + lb; width = max nab;
    offsets : (nclass,) first segment (shell pair) of each class; nseg the total
    (padded); rows the padded number of primitive-pair rows; seg (rows,) the segment of
    each row (sorted; class padding rows add zeros to the next class' first segment,
    the tail padding is dropped).
    """

    classes: tuple
    degree: int
    width: int
    offsets: tuple
    nseg: int
    seg: np.ndarray


def _pair_group(basis, classes, tile_rows: int) -> PairGroup:
    plan = pair_plan(basis)
    offsets, segs, total = [], [], 0
    for k in classes:
        pp = padded_pair_class(basis, k)
        offsets.append(total)
        # pp.prim_pair is sorted with padding = npair_bucket: rebase on this class' npair
        seg = np.minimum(pp.prim_pair, plan[k].npair) + total
        segs.append(seg)
        total += plan[k].npair
    nseg = segment_bucket(total)
    seg = np.concatenate(segs).astype(np.int32)
    rows = -(-len(seg) // tile_rows) * tile_rows
    seg = np.concatenate([seg, np.full(rows - len(seg), nseg, dtype=np.int32)])
    degree = max(plan[k].la + plan[k].lb for k in classes)
    width = max(_pair_width(basis, plan[k]) for k in classes)
    return PairGroup(tuple(classes), degree, width, tuple(offsets), nseg, seg)


def _pair_width(basis, pc) -> int:
    return ao_transform(pc.la, basis.cartesian).shape[0] * ao_transform(pc.lb, basis.cartesian).shape[0]


def _tile_size(nket: int, kb: int, kk: int, nb: int, nk: int, degree: int) -> int:
    work = nket * max(n_hermite(degree), kb * kk, kb * nk, nb * nk)
    size = max(8, min(TILE_BUDGET // max(work, 1), 4096))
    return 1 << int(np.floor(np.log2(size)))


def _partitions(values, kind):
    """Candidate partitions of angular-momentum classes, coarse to fine."""
    values = list(values)
    out = [[values]]
    if kind == "pair":
        first = [v for v in values if v == (0, 0)]
        rest = [v for v in values if v != (0, 0)]
        if first and rest:
            out.append([first, rest])
        degrees = sorted(set(a + b for a, b in values))
        out.append([[v for v in values if sum(v) == d] for d in degrees])
    else:
        low = [v for v in values if v <= 1]
        high = [v for v in values if v > 1]
        if low and high:
            out.append([low, high])
        out.append([[v for v in values if (v + 1) // 2 == g] for g in sorted(set((v + 1) // 2 for v in values))])
    out.append([[v] for v in values])
    unique = []
    for part in out:
        part = [g for g in part if g]
        if part not in unique:
            unique.append(part)
    return unique


#: Cost model of the grouping choice, from measurements on a 2-core CPU: seconds to
#: compile one kernel, and kernel flops per second. Run time is weighted RUN_WEIGHT times
#: (a compiled kernel is reused by every later geometry, and by later processes through
#: the persistent cache). Choices whose padded blocks exceed MEMORY_SLACK times the
#: unpadded size are excluded once blocks reach MEMORY_FLOOR bytes, so big systems get
#: exact-size blocks.
COMPILE_SECONDS = 0.35
FLOPS_PER_SECOND = 3e9
RUN_WEIGHT = 3.0
MEMORY_SLACK = 1.3
MEMORY_FLOOR = 64e6
#: Force a grouping, (pair partition index, aux partition index) into
#: :func:`_partitions`' candidates (coarse to fine), for tests and experiments.
FORCE_GROUPING = None


def _kernel_flops(nrow, nket, degree_bra, kb, nb, lk, kk, nk):
    return nrow * nket * (20 * n_hermite(degree_bra + lk) + 2 * kb * kk * nk + 2 * nb * kb * nk)


def _cost(kernels, flops):
    return kernels * COMPILE_SECONDS + RUN_WEIGHT * flops / FLOPS_PER_SECOND


@dataclass(frozen=True, eq=False)
class DFPlan:
    """How the (ij|P) and (P|Q) work is cut into kernels (host data, geometry-free).

    The fitted tensors' auxiliary order is ``aux_groups`` order; the metric is computed
    over ``metric_groups`` and permuted into it by ``metric_order``.
    """

    pair_groups: tuple    # PairGroup
    aux_groups: tuple     # AuxGroup
    tiles: tuple          # tiles[i][j]: rows per tile of pair group i x aux group j
    metric_groups: tuple  # AuxGroup
    metric_tiles: tuple   # metric_tiles[i][j], j <= i (lower blocks only)
    metric_order: np.ndarray
    naux: int


def _metric_choice(auxbasis, ls):
    best = None
    for part in _partitions(ls, "aux"):
        groups = [_aux_group(auxbasis, g) for g in part]
        flops = sum(_kernel_flops(g1.nprim, g2.nprim, g1.l, n_hermite(g1.l), g1.width, g2.l,
                                  n_hermite(g2.l), g2.width)
                    for i, g1 in enumerate(groups) for g2 in groups[: i + 1])
        cost = _cost(len(groups) * (len(groups) + 1) // 2, flops)
        if best is None or cost < best[0]:
            best = (cost, groups)
    return best[1]


@lru_cache(maxsize=32)
def df_plan(basis, auxbasis) -> DFPlan:
    """Choose the kernel grouping for ``basis`` x ``auxbasis`` by the cost model above."""
    plan = pair_plan(basis)
    cls = {(pc.la, pc.lb): k for k, pc in enumerate(plan) if pc.npair}
    nrows = {k: len(padded_pair_class(basis, k).alpha) for k in cls.values()}
    ls = sorted(set(int(x) for x in auxbasis.shell_l))
    aux_parts = _partitions(ls, "aux")
    aux_candidates = [[_aux_group(auxbasis, g) for g in part] for part in aux_parts]

    def evaluate(pair_part, aux_groups):
        flops, memory = 0.0, 0.0
        for members in pair_part:
            ks = [cls[m] for m in members]
            degree = max(sum(m) for m in members)
            width = max(_pair_width(basis, plan[k]) for k in ks)
            npair = sum(plan[k].npair for k in ks)
            nrow = sum(nrows[k] for k in ks)
            for g in aux_groups:
                flops += _kernel_flops(nrow, g.nprim, degree, n_hermite(degree), width, g.l,
                                       n_hermite(g.l), g.width)
                # slots counted unpadded: the choice weighs the padding of widths, which
                # grouping causes, not the power-of-two slots every grouping has
                memory += 8.0 * npair * width * g.nshell * g.width
        return _cost(len(pair_part) * len(aux_groups), flops), memory

    pair_parts = _partitions(cls, "pair")
    finest = evaluate(pair_parts[-1], aux_candidates[-1])[1]
    best = None
    for ip, pair_part in enumerate(pair_parts):
        for ia, aux_groups in enumerate(aux_candidates):
            if FORCE_GROUPING is not None and (ip, ia) != FORCE_GROUPING:
                continue
            cost, memory = evaluate(pair_part, aux_groups)
            if memory > MEMORY_FLOOR and memory > MEMORY_SLACK * finest:
                continue
            if best is None or cost < best[0]:
                best = (cost, pair_part, aux_groups)
    if best is None:
        best = (None, pair_parts[-1], aux_candidates[-1])
    _, pair_part, aux_groups = best
    pair_groups, tiles = [], []
    for members in pair_part:
        ks = [cls[m] for m in members]
        degree = max(sum(m) for m in members)
        width = max(_pair_width(basis, plan[k]) for k in ks)
        row_tiles = [min(_tile_size(len(g.exponent), n_hermite(degree), n_hermite(g.l), width,
                                    g.width, degree + g.l), bucket(sum(nrows[k] for k in ks), 8))
                     for g in aux_groups]
        pair_groups.append(_pair_group(basis, ks, max(row_tiles)))
        tiles.append(tuple(row_tiles))
    metric_groups = _metric_choice(auxbasis, ls)
    metric_tiles = tuple(
        tuple(min(_tile_size(len(g2.exponent), n_hermite(g1.l), n_hermite(g2.l), g1.width, g2.width,
                             g1.l + g2.l), len(g1.exponent)) for g2 in metric_groups[: i + 1])
        for i, g1 in enumerate(metric_groups))
    # metric_order[i] = position in metric-group order of the i-th function in aux order
    position = {int(a): i for i, a in enumerate(aux_ao_order_of(auxbasis, metric_groups))}
    metric_order = np.array([position[int(a)] for a in aux_ao_order_of(auxbasis, aux_groups)],
                            dtype=np.int32)
    naux = int(sum(np.sum(g.nfunc) for g in aux_groups))
    return DFPlan(tuple(pair_groups), tuple(aux_groups), tuple(tiles), tuple(metric_groups),
                  metric_tiles, metric_order, naux)


# ---------------------------------------------------------------------------------------
# Kernels


@lru_cache(maxsize=None)
def _coulomb_gather(degree_bra: int, degree_ket: int):
    """Index into R(degree_bra + degree_ket) and sign of the ket Hermite functions."""
    herm_bra, herm_ket = hermite_indices(degree_bra), hermite_indices(degree_ket)
    lookup = {tuple(h): k for k, h in enumerate(hermite_indices(degree_bra + degree_ket))}
    index = np.array([[lookup[tuple(a + c)] for c in herm_ket] for a in herm_bra], dtype=np.int32)
    return index, (-1.0) ** herm_ket.sum(axis=1)


def tile_values(degree_bra, degree_ket, omega, e_bra, p, centre_p, e_ket, q, centre_q):
    """Primitive integrals of a tile of bra distributions against ket Gaussians.

    e_bra (A, nb, Kb), p (A,), centre_p (A, 3); e_ket (N, nk, Kk), q (N,), centre_q (N, 3)
    -> (A, nb, N, nk). ``omega`` > 0: the long-range operator erf(omega r12)/r12 (Boys
    argument alpha' = alpha omega^2/(alpha + omega^2), prefactor times sqrt(alpha'/alpha)).
    """
    alpha = p[:, None] * q[None, :] / (p[:, None] + q[None, :])
    prefactor = 2.0 * jnp.pi**2.5 / (p[:, None] * q[None, :] * jnp.sqrt(p[:, None] + q[None, :]))
    if omega > 0.0:
        attenuated = alpha * omega**2 / (alpha + omega**2)
        prefactor = prefactor * jnp.sqrt(attenuated / alpha)
        alpha = attenuated
    r = hermite_coulomb(degree_bra + degree_ket, alpha, centre_p[:, None, :] - centre_q[None, :, :])
    index, sign = _coulomb_gather(degree_bra, degree_ket)
    ket = jnp.einsum("anhk,nfk->anhf", r[..., index], e_ket * sign)
    return jnp.einsum("aeh,anhf->aenf", e_bra, ket) * prefactor[:, None, :, None]


def _concat_rows(parts, width, nherm, rows):
    """Bra (e, p, P) of several classes padded to (rows, width, nherm) and stacked."""
    es, ps, cs = [], [], []
    for e, p, c in parts:
        es.append(jnp.pad(e, ((0, 0), (0, width - e.shape[1]), (0, nherm - e.shape[2]))))
        ps.append(p)
        cs.append(c)
    n = sum(p.shape[0] for p in ps)
    if rows > n:
        es.append(jnp.zeros((rows - n, width, nherm)))
        ps.append(jnp.ones(rows - n))
        cs.append(jnp.zeros((rows - n, 3)))
    return jnp.concatenate(es), jnp.concatenate(ps), jnp.concatenate(cs)


@partial(jax.jit, static_argnames=("degree_bra", "degree_ket", "width", "omega", "tile", "nseg_bra",
                                   "nseg_ket", "contracted"))
def class_block(bra_parts, seg_bra, e_ket, q, centre_q, seg_ket, kept=None, *, degree_bra,
                degree_ket, width, omega, tile, nseg_bra, nseg_ket, contracted):
    """Contracted integrals (nseg_bra, width, nseg_ket, nk) of one bra group x aux group.

    bra_parts: tuple of (E (n, nb, Kb), p (n,), P (n, 3)) per bra class, padded here to
    the group's width and degree and stacked to len(seg_bra) rows, which are cut into
    tiles of ``tile`` rows. seg_bra (sorted; >= nseg_bra dropped) is the shell (pair) each
    row adds to; seg_ket likewise for the ket primitives (used when ``contracted``,
    otherwise each ket primitive is a shell of its own).

    ``kept`` (optional): (rows, seg, ntile), the screened pass of
    :func:`three_center_blocks`: rows (len(seg_bra),) the bra rows to compute, in order,
    padded with any row; seg their segments (padding: nseg_bra, dropped); ntile (int
    scalar, traced) the number of tiles of them to run. The loop then has a traced
    length (forward mode only), and no shape depends on how many rows survive.
    """
    e_bra, p, centre_p = _concat_rows(bra_parts, width, n_hermite(degree_bra), seg_bra.shape[0])
    nk = e_ket.shape[1]
    nchunk = p.shape[0] // tile
    if kept is not None:
        rows, seg_bra, nchunk = kept
        e_bra, p, centre_p = e_bra[rows], p[rows], centre_p[rows]

    def body(c, acc):
        cut = lambda x: jax.lax.dynamic_slice_in_dim(x, c * tile, tile)  # noqa: E731
        values = tile_values(degree_bra, degree_ket, omega, cut(e_bra), cut(p), cut(centre_p),
                             e_ket, q, centre_q)
        if contracted:
            values = jnp.moveaxis(jax.ops.segment_sum(
                jnp.moveaxis(values, 2, 0), seg_ket, nseg_ket, indices_are_sorted=True), 0, 2)
        return acc.at[cut(seg_bra)].add(values, mode="drop", indices_are_sorted=True)

    return jax.lax.fori_loop(0, nchunk, body, jnp.zeros((nseg_bra, width, nseg_ket, nk)))


#: Skip a primitive pair of orbitals whose Schwarz bound times the largest auxiliary
#: one, Q_ab max_P Q_P >= |(ab|P)|, is below this (Hartree), or below SCREEN_ERROR over
#: the most primitive terms of one contracted integral, if smaller: every (ij|P) then
#: errs by less than SCREEN_ERROR (the same rule as the four-centre screening).
SCREEN_THRESHOLD = 1e-14
SCREEN_ERROR = 1e-11


@lru_cache(maxsize=32)
def _aux_bound_and_terms(basis, auxbasis):
    """(max_P Q_P over the auxiliary primitives, most primitive terms of one (ij|P))."""
    plan = df_plan(basis, auxbasis)
    bound = max(float(_pair_class_bounds(g.l, g.exponent, g.hermite).max()) for g in plan.aux_groups)
    pairs = max((int(np.diff(pc.pair_start).max()) for pc in pair_plan(basis) if pc.npair), default=1)
    return bound, pairs * int(np.max(auxbasis.shell_nprim))


def screened_rows(basis, auxbasis, pairs, threshold=None):
    """Per pair group of :func:`df_plan`, the bra rows whose Schwarz bound survives, or None.

    None when the pair data are traced (inside jit, grad): every row is then computed.
    Returns a list of int32 arrays of row indices into the group's stacked rows (sorted).
    """
    bounds = primitive_pair_bounds(basis, pairs)
    if bounds is None:
        return None
    aux_bound, terms = _aux_bound_and_terms(basis, auxbasis)
    if threshold is None:
        threshold = min(SCREEN_THRESHOLD, SCREEN_ERROR / terms)
    out = []
    for group in df_plan(basis, auxbasis).pair_groups:
        q = np.concatenate([bounds[k] for k in group.classes])
        out.append(np.flatnonzero(q * aux_bound >= threshold).astype(np.int32))
    return out


def three_center_blocks(basis, auxbasis, pairs, coords, omega=0.0, screen=True):
    """Per (pair group i, aux group j) of :func:`df_plan`: (nseg_i, width_i, nseg_j, width_j).

    ``pairs``: per pair class (p, P, E), the first three entries of
    :func:`~dftjax.integrals.one_electron.pair_data`. With concrete pair data and
    ``screen``, primitive pairs below the Schwarz threshold (:func:`screened_rows`) are
    skipped; which survive is decided here, per geometry, without changing any shape.
    On a CPU, concrete pair data run in tiles of fixed shape (:func:`_tiled_blocks`),
    whose programs every molecule of the basis family shares.
    """
    plan = df_plan(basis, auxbasis)
    survivors = screened_rows(basis, auxbasis, pairs) if screen else None
    if (survivors is not None and basis.nao >= TILED_MIN_NAO
            and jax.default_backend() == "cpu"):
        return _tiled_blocks(basis, auxbasis, plan, pairs, np.asarray(coords, dtype=np.float64),
                             omega, survivors)
    coords = jnp.asarray(coords, dtype=jnp.float64)
    out = []
    for i, (group, tiles) in enumerate(zip(plan.pair_groups, plan.tiles)):
        bra = tuple((pairs[k][2], pairs[k][0], pairs[k][1]) for k in group.classes)
        rows = seg = None
        if survivors is not None:
            n = len(survivors[i])
            rows = np.zeros(len(group.seg), dtype=np.int32)
            rows[:n] = survivors[i]
            seg = np.full(len(group.seg), group.nseg, dtype=np.int32)
            seg[:n] = group.seg[survivors[i]]
        row = []
        for g, tile in zip(plan.aux_groups, tiles):
            kept = None if rows is None else (rows, seg, np.int32(-(-n // tile)))
            row.append(class_block(
                bra, group.seg, g.hermite, g.exponent, coords[g.atom], g.prim_shell, kept,
                degree_bra=group.degree, degree_ket=g.l, width=group.width, omega=float(omega),
                tile=tile, nseg_bra=group.nseg, nseg_ket=g.nseg, contracted=g.contracted))
        out.append(row)
    return out


#: Auxiliary primitives per ket chunk of :func:`_tiled_blocks`, by angular momentum: fixed,
#: so that no kernel shape depends on the molecule; smaller for high l, of which a
#: molecule has few primitives (def2-universal-jkfit: a few f and g per heavy atom) and
#: whose kernels do the most work per primitive.
KET_CHUNK = {0: 128, 1: 64, 2: 32}
KET_CHUNK_HIGH_L = 8
#: Basis functions from which :func:`three_center_blocks` takes the tiled kernels: below,
#: the grouped kernels of :func:`df_plan` (a handful per molecule, compiled in a few
#: seconds) cost less than the tiled ones of a whole basis family (~50 in def2-TZVP);
#: above, a molecule's grouped kernels number in the tens and the next molecule rarely
#: shares them (the density-fitted G2-2 molecules: 14-84 kernels each).
TILED_MIN_NAO = 100


def ket_chunk(l: int) -> int:
    """Auxiliary primitives of angular momentum ``l`` per ket chunk of :func:`_tiled_blocks`."""
    return KET_CHUNK.get(l, KET_CHUNK_HIGH_L)


#: Most primitive pairs per bra tile of :func:`_tiled_blocks`: only a class's last tile is
#: partly padding.
BRA_TILE = 512


def tile_block(degree_bra, degree_ket, omega, e_bra, p, centre_p, seg_bra, e_ket, q, centre_q,
               seg_ket):
    """Integrals of a tile of bra primitive pairs against a chunk of auxiliary primitives,
    contracted into shells on both sides: (A, nb, N, nk) for e_bra (A, nb, Kb), p (A,),
    centre_p (A, 3), e_ket (N, nk, Kk), q (N,), centre_q (N, 3); seg_bra (A,) and seg_ket
    (N,), sorted, the tile-local shell (pair) of each primitive (padding: zero E, any
    sorted id). Row s of the result is local shell s (at most A, N of them)."""
    values = tile_values(degree_bra, degree_ket, omega, e_bra, p, centre_p, e_ket, q, centre_q)
    values = jax.ops.segment_sum(jnp.moveaxis(values, 2, 0), seg_ket, e_ket.shape[0],
                                 indices_are_sorted=True)  # (N, A, nb, nk)
    values = jax.ops.segment_sum(jnp.moveaxis(values, 1, 0), seg_bra, e_bra.shape[0],
                                 indices_are_sorted=True)  # (A, N, nb, nk)
    return jnp.moveaxis(values, 2, 1)


#: :func:`tile_block` for concrete inputs, keyed by dftjax (loaded without tracing by a
#: later process) and compiled at XLA's backend optimisation level 1, as the concrete ERI
#: chunk kernels are.
tiled_kernel = StoredKernel(tile_block, static_argnums=(0, 1, 2),
                            compiler_options={"xla_backend_optimization_level": 1})


def _ket_pieces(auxbasis, group, coords):
    """An aux group cut into chunks of :func:`ket_chunk` (N) primitives of one angular
    momentum each: (l, nfunc(l), first shell slot, shells in the chunk, E (N, nfunc, K),
    q (N,), centres (N, 3), local shell (N,)), the last chunk of each l padded with zero E.
    A contracted shell may straddle two chunks: both add into its slot."""
    pieces = []
    nprim = group.nprim
    prim_l = np.asarray(auxbasis.shell_l)[group.shells][group.prim_shell[:nprim]]
    for l in sorted(set(prim_l.tolist())):
        prims = np.flatnonzero(prim_l == l)
        nf = int(group.nfunc[group.prim_shell[prims[0]]])
        size = ket_chunk(l)
        for begin in range(0, len(prims), size):
            rows = prims[begin: begin + size]
            shells = group.prim_shell[rows]
            first = int(shells[0])
            local = np.full(size, shells[-1] - first, dtype=np.int32)
            local[: len(rows)] = shells - first
            e = np.zeros((size, nf, n_hermite(l)))
            e[: len(rows)] = group.hermite[rows, :nf, : n_hermite(l)]
            q = np.ones(size)
            q[: len(rows)] = group.exponent[rows]
            centre = np.zeros((size, 3))
            centre[: len(rows)] = coords[group.atom[rows]]
            pieces.append((l, nf, first, int(shells[-1]) - first + 1, e, q, centre, local))
    return pieces


def _tiled_blocks(basis, auxbasis, plan, pairs, coords, omega, survivors):
    """:func:`three_center_blocks` for concrete pair data on a CPU: per pair class and aux
    angular momentum, tiles of at most BRA_TILE surviving primitive pairs against chunks of
    :func:`ket_chunk` auxiliary primitives, each contracted into shells by
    :func:`tile_block` and added into the blocks in NumPy. The tile and chunk sizes depend
    only on the angular momenta, so the kernels are shared by every molecule of a basis
    family (and stored: a later process loads them); the distinct ones compile first, side
    by side (:func:`~dftjax.integrals._compilation.map_classes`)."""
    pair_classes = pair_plan(basis)
    kets = [_ket_pieces(auxbasis, g, coords) for g in plan.aux_groups]
    blocks = [[np.zeros((grp.nseg, grp.width, g.nseg, g.width)) for g in plan.aux_groups]
              for grp in plan.pair_groups]
    work, kernels = [], {}
    for i, grp in enumerate(plan.pair_groups):
        offset = 0
        for k in grp.classes:
            n_rows = len(padded_pair_class(basis, k).alpha)
            rows = survivors[i][(survivors[i] >= offset) & (survivors[i] < offset + n_rows)]
            segs = grp.seg[rows]
            rows, segs = rows[segs < grp.nseg] - offset, segs[segs < grp.nseg]
            offset += n_rows
            if len(rows) == 0:
                continue
            pc = pair_classes[k]
            degree, nb, kb = pc.la + pc.lb, _pair_width(basis, pc), n_hermite(pc.la + pc.lb)
            for j in range(len(plan.aux_groups)):
                for piece in kets[j]:
                    l, nf, e_ket = piece[0], piece[1], piece[4]
                    tile = min(BRA_TILE, _tile_size(len(e_ket), kb, n_hermite(l), nb, nf, degree + l))
                    work.append((i, j, k, rows, segs, degree, nb, tile, piece))
                    kernels[degree, l, nb, kb, tile, e_ket.shape] = (
                        degree, l, float(omega), np.zeros((tile, nb, kb)), np.ones(tile),
                        np.zeros((tile, 3)), np.zeros(tile, np.int32), np.zeros(e_ket.shape),
                        np.ones(len(e_ket)), np.zeros((len(e_ket), 3)),
                        np.zeros(len(e_ket), np.int32))
    map_classes(lambda args: tiled_kernel.ready(*args), kernels.values())

    pending = []

    def flush(limit):
        while len(pending) > limit:
            block, shells, nb, col0, ncol, nf, out = pending.pop(0)
            block[shells, :nb, col0: col0 + ncol, :nf] += np.asarray(out)[: len(shells), :, :ncol]

    for i, j, k, rows, segs, degree, nb, tile, piece in work:
        p_all, centre_all, e_all = (np.asarray(x) for x in pairs[k][:3])
        l, nf, col0, ncol, e_ket, q, centre_q, seg_ket = piece
        for begin in range(0, len(rows), tile):
            r = rows[begin: begin + tile]
            shells, inverse = np.unique(segs[begin: begin + tile], return_inverse=True)
            local = np.full(tile, len(shells) - 1, dtype=np.int32)
            local[: len(r)] = inverse
            e = np.zeros((tile, nb, e_all.shape[2]))
            e[: len(r)] = e_all[r, :nb]
            p = np.ones(tile)
            p[: len(r)] = p_all[r]
            centre = np.zeros((tile, 3))
            centre[: len(r)] = centre_all[r]
            out = tiled_kernel(degree, l, float(omega), e, p, centre, local, e_ket, q, centre_q,
                               seg_ket)
            pending.append((blocks[i][j], shells, nb, col0, ncol, nf, out))
            flush(2)  # add earlier tiles while this one runs
    flush(0)
    return blocks


def two_center_blocks(auxbasis, coords, omega=0.0, basis=None):
    """(P|Q) blocks (nseg_i, width_i, nseg_j, width_j) for aux groups j <= i.

    Groups are ``df_plan(basis, auxbasis).metric_groups`` (``basis`` None: one group).
    """
    if basis is not None:
        plan = df_plan(basis, auxbasis)
        groups, tiles = plan.metric_groups, plan.metric_tiles
    else:
        groups, tiles = _standalone_groups(auxbasis)
    coords = jnp.asarray(coords, dtype=jnp.float64)
    out = []
    for i, g1 in enumerate(groups):
        bra = ((jnp.asarray(g1.hermite), jnp.asarray(g1.exponent), coords[g1.atom]),)
        row = []
        for g2, tile in zip(groups[: i + 1], tiles[i]):
            row.append(class_block(
                bra, g1.prim_shell, g2.hermite, g2.exponent, coords[g2.atom], g2.prim_shell,
                degree_bra=g1.l, degree_ket=g2.l, width=g1.width, omega=float(omega), tile=tile,
                nseg_bra=g1.nseg, nseg_ket=g2.nseg, contracted=g2.contracted))
        out.append(row)
    return out


@lru_cache(maxsize=32)
def _standalone_groups(auxbasis):
    ls = sorted(set(int(x) for x in auxbasis.shell_l))
    g = _aux_group(auxbasis, ls)
    tile = min(_tile_size(len(g.exponent), n_hermite(g.l), n_hermite(g.l), g.width, g.width, 2 * g.l),
               len(g.exponent))
    return (g,), ((tile,),)


# ---------------------------------------------------------------------------------------
# Layout: blocks -> matrices


def _cells(g: AuxGroup) -> np.ndarray:
    """Flat indices into (nseg * width) of the real functions of an aux group."""
    return np.array([s * g.width + c for s in range(g.nshell) for c in range(g.nfunc[s])], dtype=np.int32)


def aux_ao_order_of(auxbasis, groups) -> np.ndarray:
    """AO index (PySCF order) of each auxiliary function in group order, (naux,)."""
    return np.concatenate([auxbasis.ao_offset[s] + np.arange(n)
                           for g in groups for s, n in zip(g.shells, g.nfunc)])


@lru_cache(maxsize=32)
def pair_rows(basis) -> tuple:
    """Rows of the stacked 3-centre matrix, class by class of :func:`pair_plan`: per row its
    AOs (i, j); and for each AO pair (i, j) of the (nao, nao) square the row holding (ij|P)
    or (ji|P), (nao*nao,)."""
    rows_i, rows_j = [], []
    for pc in pair_plan(basis):
        na = ao_transform(pc.la, basis.cartesian).shape[0]
        nb = ao_transform(pc.lb, basis.cartesian).shape[0]
        i = basis.ao_offset[pc.shell_a][:, None, None] + np.arange(na)[None, :, None]
        j = basis.ao_offset[pc.shell_b][:, None, None] + np.arange(nb)[None, None, :]
        rows_i.append(np.broadcast_to(i, (pc.npair, na, nb)).ravel())
        rows_j.append(np.broadcast_to(j, (pc.npair, na, nb)).ravel())
    rows_i, rows_j = np.concatenate(rows_i), np.concatenate(rows_j)
    nao = basis.nao
    full = np.full((nao, nao), -1, dtype=np.int64)
    full[rows_i, rows_j] = np.arange(len(rows_i))
    full[rows_j, rows_i] = np.arange(len(rows_i))
    if (full < 0).any():
        raise AssertionError("pair classes do not cover every AO pair")
    return rows_i, rows_j, full.ravel().astype(np.int32)


def stack_three_center(basis, auxbasis, blocks):
    """(nrow, naux) from :func:`three_center_blocks`: rows :func:`pair_rows`, columns in
    auxiliary group order (traceable)."""
    plan = df_plan(basis, auxbasis)
    cells = [_cells(g) for g in plan.aux_groups]
    where = {k: (i, off) for i, grp in enumerate(plan.pair_groups)
             for k, off in zip(grp.classes, grp.offsets)}
    nrow = sum(pc.npair * _pair_width(basis, pc) for pc in pair_plan(basis))
    # Pieces are written into one buffer (in place under jit): a concatenation of
    # thousands of strided pieces runs several times slower on XLA:CPU.
    out = jnp.zeros((nrow, plan.naux), blocks[0][0].dtype)
    row = 0
    for k, pc in enumerate(pair_plan(basis)):
        if pc.npair == 0:
            continue
        i, off = where[k]
        nab = _pair_width(basis, pc)
        column = 0
        for cell, block in zip(cells, blocks[i]):
            flat = block[off: off + pc.npair, :nab].reshape(pc.npair * nab, -1)
            contiguous = len(cell) and cell[-1] - cell[0] == len(cell) - 1
            piece = flat[:, cell[0]: cell[0] + len(cell)] if contiguous else flat[:, cell]
            out = jax.lax.dynamic_update_slice(out, piece, (row, column))
            column += len(cell)
        row += pc.npair * nab
    return out


def stack_two_center(groups, blocks):
    """(naux, naux) in ``groups`` order from the lower blocks of :func:`two_center_blocks`."""
    cells = [_cells(g) for g in groups]
    lower = {}
    for i, row in enumerate(blocks):
        for j, block in enumerate(row):
            flat = block.reshape(block.shape[0] * block.shape[1], -1)
            lower[i, j] = flat[cells[i]][:, cells[j]]
    rows = []
    for i in range(len(groups)):
        rows.append(jnp.concatenate([lower[i, j] if j <= i else lower[j, i].T
                                     for j in range(len(groups))], axis=1))
    metric = jnp.concatenate(rows, axis=0)
    return 0.5 * (metric + metric.T)  # the diagonal blocks agree with their transposes to ~1e-15


@partial(jax.jit, static_argnums=(0, 1))
def _three_center_pyscf(basis, auxbasis, blocks):
    stacked = stack_three_center(basis, auxbasis, blocks)
    full = stacked[pair_rows(basis)[2]].reshape(basis.nao, basis.nao, -1)
    order = aux_ao_order_of(auxbasis, df_plan(basis, auxbasis).aux_groups)
    return jnp.zeros_like(full).at[:, :, order].set(full)


@partial(jax.jit, static_argnums=(0,))
def _two_center_pyscf(auxbasis, blocks):
    groups = _standalone_groups(auxbasis)[0]
    metric = stack_two_center(groups, blocks)
    order = aux_ao_order_of(auxbasis, groups)
    return jnp.zeros_like(metric).at[np.ix_(order, order)].set(metric)


def three_center_integrals(basis, auxbasis, coords, omega=0.0):
    """(ij|P) as (nao, nao, naux), PySCF's AO and auxiliary orders (for tests and users)."""
    from .one_electron import pair_data

    pairs = [d[:3] for d in pair_data(basis, coords)]
    return _three_center_pyscf(basis, auxbasis, three_center_blocks(basis, auxbasis, pairs, coords, omega))


def two_center_integrals(auxbasis, coords, omega=0.0):
    """(P|Q) as (naux, naux), PySCF's auxiliary AO order."""
    return _two_center_pyscf(auxbasis, two_center_blocks(auxbasis, coords, omega))
