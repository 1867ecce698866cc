"""Four-centre electron-repulsion integrals (ij|kl) by McMurchie-Davidson.

(ab|cd) = 2 pi^(5/2) / (p q sqrt(p+q)) sum_{tuv,t'u'v'} E^{ab}_{tuv} (-1)^{t'+u'+v'}
          E^{cd}_{t'u'v'} R_{t+t',u+u',v+v'}(pq/(p+q), R_PQ)
(Helgaker, Jorgensen & Olsen eq. 9.9.33). E comes from :func:`pair_class_kernel`
with contraction coefficients and the AO transformation already folded in, so each
primitive quartet costs two small matrix products.

Work is organised per quartet class (class_ab, class_cd) from :mod:`.plan`; the items
of a class are primitive quartets sorted by shell quartet. Items whose Schwarz bound is
below SCREEN_THRESHOLD are skipped, decided on the host for each geometry
(:func:`screened_chunks`; about 40% of the items of pyrrole/def2-SVP). A kernel, compiled
once per class and (bucketed) pair-data shape, computes a fixed-size chunk of items, and
a small program adds them into the class's per-quartet accumulator in place; a new
geometry changes only the number of chunks, so it compiles nothing. On a CPU, a class of
at most HOST_MAX_CHUNKS chunks runs in NumPy instead (:func:`host_chunk_values`, the same
formulas), which costs less than compiling it. The unique blocks then fill the matrix of
canonical AO pairs (:func:`pair_matrix_from_pairs`, one gather), which expands to the full
(nao, nao, nao, nao) tensor (:func:`expand_pair_matrix`).
"""

import math
from dataclasses import dataclass
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from ..tracing import traced
from ..stored_programs import StoredKernel
from ._compilation import QUICK_COMPILE, map_classes
from .hermite import hermite_coulomb, hermite_indices, n_hermite
from .one_electron import _pad_rows, ao_transform, hermite_pairs
from .plan import bucket, chunk_size_for, expand_ranges, pair_plan, quartet_plan


@lru_cache(maxsize=None)
def _coulomb_gather(degree_ab: int, degree_cd: int):
    """Index into R (degree_ab + degree_cd) and sign for the (bra Hermite, ket Hermite)
    matrix (read-only: cached)."""
    herm_ab, herm_cd = hermite_indices(degree_ab), hermite_indices(degree_cd)
    lookup = {tuple(h): k for k, h in enumerate(hermite_indices(degree_ab + degree_cd))}
    index = np.array([[lookup[tuple(a + c)] for c in herm_cd] for a in herm_ab])
    sign = (-1.0) ** herm_cd.sum(axis=1)
    index.flags.writeable = sign.flags.writeable = False
    return index, sign


def coulomb_exponent_and_prefactor(pa, pc, omega, xp=jnp):
    """Boys exponent alpha = p q / (p + q) and prefactor 2 pi^(5/2) / (p q sqrt(p + q)) of
    primitive quartets with exponent sums ``pa``, ``pc`` (C,). ``omega`` > 0: the
    long-range operator erf(omega r12)/r12, alpha' = alpha omega^2 / (alpha + omega^2) and
    a factor sqrt(alpha' / alpha) (e.g. Ahlrichs, PCCP 8, 3072 (2006)). ``xp``:
    ``jax.numpy``, or ``numpy`` for host arrays."""
    alpha = pa * pc / (pa + pc)
    prefactor = 2.0 * np.pi**2.5 / (pa * pc * xp.sqrt(pa + pc))
    if omega > 0.0:
        attenuated = alpha * omega**2 / (alpha + omega**2)
        prefactor = prefactor * xp.sqrt(attenuated / alpha)
        alpha = attenuated
    return alpha, prefactor


def chunk_values(degree_ab, degree_cd, omega, e_ab, p, centre_p, e_cd, q, centre_q, item_ab,
                 item_cd):
    """Contracted (ab|cd) contributions of a chunk of primitive quartets, (C, nab, ncd).

    ``omega`` > 0 gives the long-range operator erf(omega r12) / r12: the Boys argument
    uses alpha' = alpha omega^2 / (alpha + omega^2) and the integral gains a factor
    sqrt(alpha' / alpha) (e.g. Ahlrichs, PCCP 8, 3072 (2006)); omega = 0 is plain 1/r12.

    e_ab (n_ab, nab, K_ab), p (n_ab,), centre_p (n_ab, 3): primitive pairs of the bra class
    (likewise for the ket); item_ab, item_cd (C,): the primitive pairs of each item.
    A pure function of the pair data, so its derivatives (forces) come by autodiff.
    """
    alpha, prefactor = coulomb_exponent_and_prefactor(p[item_ab], q[item_cd], omega)
    r = hermite_coulomb(degree_ab + degree_cd, alpha, centre_p[item_ab] - centre_q[item_cd])
    index, sign = _coulomb_gather(degree_ab, degree_cd)
    coulomb = r[:, index] * sign
    bra, ket = e_ab[item_ab], e_cd[item_cd]  # (C, nab, K_ab), (C, ncd, K_cd)
    return jnp.einsum("ceh,chf->cef", bra, _ket_half(coulomb, ket)) * prefactor[:, None, None]


def host_ket_table(e_cd, degree_ab, degree_cd):
    """The ket class's pair data as :func:`host_chunk_values` reads them: (n_cd, K_cd,
    ncd), each Hermite function's sign (-1)^(t'+u'+v') folded in, once per class rather
    than once per item."""
    _, sign = _coulomb_gather(degree_ab, degree_cd)
    return np.ascontiguousarray((np.asarray(e_cd) * sign).transpose(0, 2, 1))


def host_chunk_values(degree_ab, degree_cd, omega, e_ab, p, centre_p, ket_table, q, centre_q,
                      item_ab, item_cd, item_quartet):
    """:func:`chunk_values` in NumPy, for host arrays, with the items of each row summed:
    the same formulas, nothing to compile (equal to rounding, ~1e-16 relative). No
    derivative rules.

    ``ket_table`` is :func:`host_ket_table` of the ket's pair data; ``item_quartet`` (C,)
    sorted, as :func:`screened_chunks` makes them. A row is a run of items with the same
    quartet and bra primitive pair (the ket primitive pairs of one bra primitive pair:
    3.2 items on average in C4H4NH/def2-SVP): its Coulomb-ket products are summed before
    the one bra product, instead of a bra product for every item. Returns (values
    (nrow, nab, ncd), the quartet of each row (nrow,)).

    Written for NumPy's speed: gathers by ``np.take``, and the two products of stacks of
    small matrices in whichever order does fewer operations (per item bra first, or per
    item ket first and per row bra). One thread, all classes in NumPy: ethanol/def2-TZVP
    14.6 s in :func:`chunk_values`'s form, 10.2 s with gathers and ordered products; with
    rows and the signed ket table, 7-20 % less again (ethanol/def2-TZVP 10.8 -> 10.1 s,
    C4H4NH/def2-SVP 4.2 -> 3.75 s, benzene/6-31G* 8.3 -> 6.6 s).
    """
    alpha, prefactor = coulomb_exponent_and_prefactor(np.take(p, item_ab), np.take(q, item_cd),
                                                      omega, xp=np)
    r_pq = np.take(centre_p, item_ab, axis=0) - np.take(centre_q, item_cd, axis=0)
    r = hermite_coulomb(degree_ab + degree_cd, alpha, r_pq, xp=np)
    r *= prefactor[:, None]
    index, _ = _coulomb_gather(degree_ab, degree_cd)
    (k_ab, k_cd), n = index.shape, len(item_ab)
    coulomb = np.take(r, index.ravel(), axis=1).reshape(n, k_ab, k_cd)
    ket = np.take(ket_table, item_cd, axis=0)  # (C, K_cd, ncd)
    n_ab, n_cd = np.shape(e_ab)[1], ket.shape[2]
    starts = np.flatnonzero(np.diff(item_quartet, prepend=-1) | np.diff(item_ab, prepend=-1))
    ket_first = n * k_ab * k_cd * n_cd + len(starts) * n_ab * k_ab * n_cd
    if ket_first <= n * n_ab * k_ab * (k_cd + n_cd):
        products = np.matmul(coulomb, ket)  # (C, K_ab, ncd)
        if len(starts) < n:
            products = np.add.reduceat(products, starts, axis=0)
        return np.matmul(np.take(e_ab, item_ab[starts], axis=0), products), item_quartet[starts]
    bra = np.take(e_ab, item_ab, axis=0)  # (C, nab, K_ab)
    return np.matmul(np.matmul(bra, coulomb), ket), item_quartet


#: Ket Hermite functions (K_cd) up to which :func:`_ket_half` writes its sum out.
UNROLL_KET_HERMITE = 20


def _ket_half(coulomb, ket):
    """sum_k coulomb[c, h, k] ket[c, f, k], (C, K_ab, ncd).

    XLA:CPU runs this batched product of tiny matrices (a transposed operand, K_cd <= 20)
    one matrix at a time, ~0.4 us each: for (ps|ps) of benzene/def2-SVP it was 85% of the
    kernel. Up to UNROLL_KET_HERMITE terms the sum is written out, one fused loop, 1.4-7x
    faster with no slower compilation (measured per class, benzene/def2-SVP); beyond it
    (degree 4, (dd| kets) the batched product is faster. The bra product, canonical in
    layout, stays a batched product: written out it ran slower.
    """
    if ket.shape[2] > UNROLL_KET_HERMITE:
        return jnp.einsum("chk,cfk->chf", coulomb, ket)
    return sum(coulomb[:, :, k, None] * ket[:, None, :, k] for k in range(ket.shape[2]))


#: One chunk of primitive quartets, (C, nab, ncd) (:func:`chunk_values`), compiled per
#: class and pair-data buckets only: the number of shell quartets of a molecule (the
#: accumulator's length) does not enter, so molecules share it more often.
eri_chunk_kernel = StoredKernel(chunk_values, static_argnums=(0, 1, 2))
#: The same, compiled quickly (:data:`QUICK_COMPILE`), for classes of at most
#: QUICK_MAX_CHUNKS chunks before screening (all 21 classes of water/def2-SVP) on an
#: accelerator (on a CPU they run in NumPy: HOST_MAX_CHUNKS): their run time is far below
#: the compile time this saves (~0.3 s CPU per class).
quick_eri_chunk_kernel = StoredKernel(chunk_values, static_argnums=(0, 1, 2),
                                      compiler_options=QUICK_COMPILE)
QUICK_MAX_CHUNKS = 16
#: The same for the other classes with concrete inputs, compiled at XLA's backend
#: optimisation level 1 rather than its default: the classes of pyridine/6-31G* compile
#: in 4.4 s CPU instead of 5.3 s and run as fast (2.67 against 2.63 s, one core). Traced
#: pair data take the plain kernel (options go only to the outermost jit).
concrete_eri_chunk_kernel = StoredKernel(chunk_values, static_argnums=(0, 1, 2),
                                         compiler_options={"xla_backend_optimization_level": 1})
#: Chunks (before screening) up to which a class with concrete pair data runs on a CPU in
#: NumPy (:func:`host_chunk_values`) rather than by one of these kernels (see
#: :mod:`._compilation`). A chunk is a fixed amount of work (~2^19 units: NumPy takes 3-6
#: ms), and screening keeps 50-90 % of a class's chunks, so 256 chunks are at most about
#: 1 s, about what tracing, lowering and compiling one class costs (0.3-2 s CPU). Counted
#: before screening so that the choice is the same at every geometry.
HOST_MAX_CHUNKS = 256


@partial(jax.jit, donate_argnums=(0,))
def _accumulate(accumulator, values, item_quartet):
    """Add a chunk's values (C, nab, ncd) into the class accumulator (nquartet_bucket,
    nab, ncd), in place; item_quartet (C,) is the quartet each item adds to (>=
    len(accumulator) for padding, dropped). A small program of its own, so that the
    kernel's does not depend on the accumulator's length."""
    return accumulator.at[item_quartet].add(values, mode="drop", indices_are_sorted=True)


@dataclass(frozen=True, eq=False)
class ChunkedQuartets:
    """Kernel inputs of one quartet class, cut into chunks (host arrays).

    item_ab, item_cd, item_quartet : (nchunk, chunk) int32; padding items add to quartet
    ``nquartet_bucket`` (dropped). ``chunk`` and ``nquartet_bucket`` depend only on the
    basis, so every geometry reuses the compiled kernels; only ``nchunk`` varies.
    """

    chunk: int
    nquartet_bucket: int
    item_ab: np.ndarray
    item_cd: np.ndarray
    item_quartet: np.ndarray


def _cut_into_chunks(chunk, nquartet_bucket, item_ab, item_cd, item_quartet) -> ChunkedQuartets:
    """Pad item lists (n,) to a whole number of chunks (at least one) of ``chunk`` items."""
    n = len(item_quartet)
    nchunk = max(1, -(-n // chunk))

    def items(values, fill):
        padded = np.full(nchunk * chunk, fill, dtype=np.int32)
        padded[:n] = values
        return padded.reshape(nchunk, chunk)

    return ChunkedQuartets(chunk, nquartet_bucket, items(item_ab, 0), items(item_cd, 0),
                           items(item_quartet, nquartet_bucket))


def _chunk_size(plan, qc) -> int:
    """Items per chunk for quartet class ``qc``: about 2^19 units of (estimated) work."""
    ab, cd = plan[qc.bra], plan[qc.ket]
    k_ab, k_cd = n_hermite(ab.la + ab.lb), n_hermite(cd.la + cd.lb)
    nab = ao_transform(ab.la, False).shape[1] * ao_transform(ab.lb, False).shape[1]
    ncd = ao_transform(cd.la, False).shape[1] * ao_transform(cd.lb, False).shape[1]
    work = k_ab * (k_cd + ncd) + nab * ncd * 2 + n_hermite(ab.la + ab.lb + cd.la + cd.lb) * 4
    return chunk_size_for(work, budget=1 << 19, smallest=256)


@lru_cache(maxsize=8)
def _class_shapes(basis) -> tuple:
    """Per quartet class, (items per chunk, nquartet_bucket, chunks of the unscreened
    class): what the compiled kernels and the accumulator depend on, from the plan's
    counts alone (no items are built)."""
    plan = pair_plan(basis)
    shapes = []
    for qc in quartet_plan(basis):
        chunk = _chunk_size(plan, qc)
        shapes.append((chunk, bucket(len(qc.pair_ab), smallest=16), max(1, -(-qc.nitem // chunk))))
    return tuple(shapes)


@lru_cache(maxsize=8)
def _chunked_plan(basis) -> tuple:
    """Per quartet class, all its primitive quartets in chunks (geometry-free, unscreened):
    what traced pair data (under jit or a transformation) run."""
    return tuple(_cut_into_chunks(chunk, nquartet_bucket, qc.item_ab, qc.item_cd, qc.item_quartet)
                 for qc, (chunk, nquartet_bucket, _) in zip(quartet_plan(basis), _class_shapes(basis)))


# ---------------------------------------------------------------------------------------
# Schwarz screening of primitive quartets, decided on the host from the pair data.
#
# For any charge distributions, |(ab|cd)| <= sqrt((ab|ab)) sqrt((cd|cd)) (the Coulomb
# kernel, and its erf-attenuated form, are positive definite). Applied to each primitive
# quartet, with contraction coefficients and exp(-mu R_AB^2) already inside the pair
# data, it bounds the item's contribution to every integral of its block by Q_ab Q_cd.
# Items below the threshold are skipped. A contracted integral sums at most n_max items
# (the most primitive quartets of any shell quartet: 625 for def2-SVP carbon 1s), so with
# threshold min(SCREEN_THRESHOLD, SCREEN_ERROR / n_max) the error of every integral stays
# below SCREEN_ERROR (the project tolerance is 1e-10 Ha). Which items survive depends on
# the geometry, so it is decided per call; the chunk size and accumulator shapes do not,
# so nothing recompiles.

#: Skip a primitive quartet whose Schwarz bound Q_ab Q_cd is below this (Hartree)...
SCREEN_THRESHOLD = 1e-14
#: ... or below SCREEN_ERROR / (most items of one shell quartet), if that is smaller.
SCREEN_ERROR = 1e-11


@lru_cache(maxsize=8)
def screen_threshold(basis) -> float:
    """The per-item Schwarz threshold for ``basis`` (Hartree): see SCREEN_ERROR."""
    # primitive pairs of the most contracted shell pair, squared: a bound on n_max
    most = max((int(np.diff(pc.pair_start).max()) for pc in pair_plan(basis) if pc.npair),
               default=1) ** 2
    return min(SCREEN_THRESHOLD, SCREEN_ERROR / most)


@lru_cache(maxsize=None)
def _hermite_self_repulsion_factors(degree: int) -> tuple:
    """(exponent n = t+u+v, coefficient c) per Hermite index: (Lambda_t|Lambda_t) of a
    Hermite Gaussian with exponent p about one centre is
    2 pi^(5/2) / (p^2 sqrt(2p)) (p/2)^n c, c = (2t)!(2u)!(2v)! / ((2n+1) t! u! v!),
    from R_{2t,2u,2v}(alpha, 0) = (-alpha)^n c (Taylor coefficients of F_0)."""
    herm = hermite_indices(degree)
    fact = [math.factorial(k) for k in range(2 * degree + 1)]
    coef = np.array([fact[2 * t] * fact[2 * u] * fact[2 * v]
                     / ((2 * (t + u + v) + 1) * fact[t] * fact[u] * fact[v]) for t, u, v in herm])
    return herm.sum(axis=1).astype(np.float64), coef


def _pair_class_bounds(degree: int, p, e) -> np.ndarray:
    """Q_i >= max over AO components f of sqrt((i_f|i_f)), per primitive pair (n,).

    By the triangle inequality in the Coulomb norm, || sum_t E_ft Lambda_t || <=
    sum_t |E_ft| ||Lambda_t||, with ||Lambda_t||^2 from :func:`_hermite_self_repulsion_factors`;
    exact for s functions, within a factor ~3 of the true value otherwise.
    p (n,), e (n, nfunc, K): host copies of the pair data.
    """
    power, coef = _hermite_self_repulsion_factors(degree)
    p = np.maximum(p, 1e-300)[:, None]
    norm = np.sqrt(2.0 * np.pi**2.5 / (p * p * np.sqrt(2.0 * p)) * coef * (0.5 * p) ** power)
    return np.einsum("nfk,nk->nf", np.abs(e), norm).max(axis=1)


def primitive_pair_bounds(basis, pairs):
    """Schwarz factors Q per primitive pair, one (n,) host array per pair class, or None.

    None when the pair data are traced (inside jit or a transformation): the screening
    needs numbers, and the unscreened plan is used (same values to 1e-11).
    """
    if traced([pair[:3] for pair in pairs]):
        return None
    return [_pair_class_bounds(pc.la + pc.lb, np.asarray(p), np.asarray(e))
            for pc, (p, _, e) in zip(pair_plan(basis), (pair[:3] for pair in pairs))]


def _ket_order(pc, bounds):
    """A pair class's primitive pairs ordered by shell pair, then by descending bound:
    (order (nprim,) int32, keys (nprim,) complex: shell pair - i bound, ascending in
    NumPy's lexicographic order of complex numbers, for :func:`numpy.searchsorted`)."""
    order = np.lexsort((-bounds, pc.prim_pair))
    keys = np.empty(len(order), complex)
    keys.real, keys.imag = pc.prim_pair[order], -bounds[order]
    return order.astype(np.int32), keys


def _surviving_items(qc, bra_bounds, ket_order, ket_keys, ket_start, threshold):
    """The items (item_ab, item_cd, item_quartet) of quartet class ``qc`` whose Schwarz
    bound Q_ab Q_cd reaches ``threshold``, sorted by quartet, built without the others.

    Per (quartet, bra primitive pair) row, the surviving ket primitive pairs are those
    with Q_cd >= threshold / Q_ab: a leading run of the ket shell pair's pairs in
    descending order of Q, found by one binary search per row. Within a quartet the
    ket pairs come in that order (the sum over items is the same). ``ket_start``: the
    ket class's ``pair_start``.
    """
    rows = expand_ranges(qc.start_ab, qc.count_ab)  # bra primitive pair of each row
    row_quartet = np.repeat(np.arange(len(qc.count_ab), dtype=np.int32), qc.count_ab)
    row_ket = qc.pair_cd[row_quartet]
    query = np.empty(len(rows), complex)
    query.real = row_ket
    # -inf where Q_ab = 0, or is so small (subnormal, e.g. 2e-323 in F2/def2-TZVP) that
    # the quotient overflows: nothing survives, and no warning
    with np.errstate(divide="ignore", over="ignore"):
        query.imag = -threshold / bra_bounds[rows]
    count = np.searchsorted(ket_keys, query, side="right") - ket_start[row_ket]
    item_cd = ket_order[expand_ranges(ket_start[row_ket], count)]
    return np.repeat(rows, count), item_cd, np.repeat(row_quartet, count)


def screened_chunks(basis, pairs) -> list:
    """Per quartet class, the chunks (:class:`ChunkedQuartets`) that the ERI kernels run.

    With concrete pair data (the :func:`hermite_pairs` list), only the primitive quartets
    that survive Schwarz screening at this geometry, built directly (the full item lists,
    22 million for benzene/6-31G*, are never made); with traced ones, every primitive
    quartet (:func:`_chunked_plan`). Same chunk size and ``nquartet_bucket`` either way,
    so the compiled kernels are shared. :func:`pair_matrix_from_pairs` runs these chunks;
    a backward pass that iterates over the same chunks sees the same items.
    """
    bounds = primitive_pair_bounds(basis, pairs)
    if bounds is None:
        return list(_chunked_plan(basis))
    plan, threshold = pair_plan(basis), screen_threshold(basis)
    # NaN bounds (NaN pair data) keep their items, so that the NaN reaches the integrals
    bounds = [np.nan_to_num(q[: pc.nprim_pair], nan=np.inf) for q, pc in zip(bounds, plan)]
    kets = {}
    chunked = []
    for qc, (chunk, nquartet_bucket, _) in zip(quartet_plan(basis), _class_shapes(basis)):
        if qc.ket not in kets:
            kets[qc.ket] = _ket_order(plan[qc.ket], bounds[qc.ket])
        items = _surviving_items(qc, bounds[qc.bra], *kets[qc.ket], plan[qc.ket].pair_start,
                                 threshold)
        chunked.append(_cut_into_chunks(chunk, nquartet_bucket, *items))
    return chunked


def _class_accumulator(basis, k, qc, pairs, omega=0.0, chunks=None):
    """Contracted blocks (nquartet_bucket, nab, ncd) of quartet class ``k``, from
    ``chunks`` (default: all its primitive quartets)."""
    plan = pair_plan(basis)
    chunks = _chunked_plan(basis)[k] if chunks is None else chunks
    p, centre_p, e_ab = pairs[qc.bra]
    q, centre_q, e_cd = pairs[qc.ket]
    degree_ab = plan[qc.bra].la + plan[qc.bra].lb
    degree_cd = plan[qc.ket].la + plan[qc.ket].lb
    accumulator = np.zeros((chunks.nquartet_bucket, e_ab.shape[1], e_cd.shape[1]))
    concrete = not traced((pairs[qc.bra], pairs[qc.ket]))
    on_host = concrete and jax.default_backend() == "cpu"
    static, arrays = (degree_ab, degree_cd, float(omega)), (e_ab, p, centre_p, e_cd, q, centre_q)
    # chunks before screening: the same for every geometry, so the choice never flips;
    # traced pair data (inside jit/grad) take the plain kernel, as compiler options may
    # only be given to the outermost jit
    unscreened = _class_shapes(basis)[k][2]
    if on_host and unscreened <= HOST_MAX_CHUNKS:  # cheaper to run than to compile
        return _host_accumulate(accumulator, static, tuple(np.asarray(a) for a in arrays), chunks)
    kernel = (eri_chunk_kernel if not concrete else
              quick_eri_chunk_kernel if unscreened <= QUICK_MAX_CHUNKS else
              concrete_eri_chunk_kernel)
    pending = None
    for c in range(chunks.item_ab.shape[0]):
        values = kernel(*static, *arrays, chunks.item_ab[c], chunks.item_cd[c])
        if not on_host:
            accumulator = _accumulate(accumulator, values, chunks.item_quartet[c])
            continue
        if pending is not None:  # add the previous chunk while this one runs
            _add_on_host(accumulator, *pending)
        pending = values, chunks.item_quartet[c]
    if pending is not None:
        _add_on_host(accumulator, *pending)
    return accumulator


#: Items per NumPy call of the host path, in kernel chunks. Larger calls hold Python's
#: lock for a smaller share of their time, so the classes' threads overlap better
#: (C4H4O/def2-SVP on 2 threads: 3.3 s a chunk per call, 2.3 s with 4; 16 no better).
HOST_CHUNKS_PER_CALL = 4


def _host_accumulate(accumulator, static, arrays, chunks):
    """A class's blocks from its chunks in NumPy (:func:`host_chunk_values`): the real
    items only (no padding to a fixed shape), HOST_CHUNKS_PER_CALL chunks per call."""
    item_quartet = chunks.item_quartet.ravel()
    real = item_quartet < chunks.nquartet_bucket
    item_ab, item_cd = chunks.item_ab.ravel()[real], chunks.item_cd.ravel()[real]
    item_quartet = item_quartet[real]
    e_ab, p, centre_p, e_cd, q, centre_q = arrays
    arrays = (e_ab, p, centre_p, host_ket_table(e_cd, *static[:2]), q, centre_q)
    size = chunks.chunk * HOST_CHUNKS_PER_CALL
    for start in range(0, len(item_quartet), size):
        part = slice(start, start + size)
        values, quartets = host_chunk_values(*static, *arrays, item_ab[part], item_cd[part],
                                             item_quartet[part])
        _add_on_host(accumulator, values, quartets)
    return accumulator


def _add_on_host(accumulator, values, item_quartet):
    """:func:`_accumulate` in NumPy, for concrete values on a CPU backend: no program to
    compile per class (21 of them for an spd basis). ``item_quartet`` is sorted, so each
    quartet's items are one run of rows, summed by ``np.add.reduceat``."""
    starts = np.flatnonzero(np.diff(item_quartet, prepend=-1))
    quartets = item_quartet[starts]
    keep = quartets < len(accumulator)
    accumulator[quartets[keep]] += np.add.reduceat(np.asarray(values), starts, axis=0)[keep]


@lru_cache(maxsize=8)
def _assembly_indices(basis) -> tuple:
    """Per quartet class, canonical AO-pair indices of its blocks' bra and ket.

    Shapes (nquartet_bucket, nab) and (nquartet_bucket, ncd); the canonical index of AOs
    (i, j) is max*(max+1)/2 + min; padding rows hold npair (out of range: dropped).
    """
    plan = pair_plan(basis)
    npair = basis.nao * (basis.nao + 1) // 2
    out = []
    for qc, (_, nquartet_bucket, _) in zip(quartet_plan(basis), _class_shapes(basis)):
        sides = []
        for pc, pairs in ((plan[qc.bra], qc.pair_ab), (plan[qc.ket], qc.pair_cd)):
            na = ao_transform(pc.la, basis.cartesian).shape[0]
            nb = ao_transform(pc.lb, basis.cartesian).shape[0]
            i = basis.ao_offset[pc.shell_a[pairs]][:, None, None] + np.arange(na)[None, :, None]
            j = basis.ao_offset[pc.shell_b[pairs]][:, None, None] + np.arange(nb)[None, None, :]
            high, low = np.maximum(i, j), np.minimum(i, j)
            index = np.full((nquartet_bucket, na * nb), npair, dtype=np.int32)
            index[: len(pairs)] = (high * (high + 1) // 2 + low).reshape(len(pairs), -1)
            sides.append(index)
        out.append(tuple(sides))
    return tuple(out)


def electron_repulsion(basis, coords, omega=0.0):
    """Electron-repulsion integrals (ij|kl), chemists' notation, shape (nao, nao, nao, nao).

    Parameters
    ----------
    basis : BasisSet
    coords : array (natom, 3), Bohr (traced: the integrals are differentiable in it)
    omega : float, 1/Bohr; > 0 gives the long-range integrals of erf(omega r12) / r12
    """
    return electron_repulsion_from_pairs(basis, hermite_pairs(basis, coords), omega)


def electron_repulsion_from_pairs(basis, pairs, omega=0.0, screen=True):
    """:func:`electron_repulsion` from precomputed :func:`hermite_pairs` data.

    ``screen``: skip primitive quartets below the Schwarz threshold (see
    :func:`screened_chunks`; only with concrete pair data).
    """
    return expand_pair_matrix(basis.nao, pair_matrix_from_pairs(basis, pairs, omega, screen))


#: Largest array (bytes) that :func:`_kernel_pairs` widens the pair data to.
WIDE_PAIR_BYTES = 64 * 1024**2


def _kernel_rows(rows: int, row_bytes: int) -> int:
    """Rows of a pair class's data as the ERI kernels take them: ``rows`` (the pair
    kernels' power-of-two bucket) rounded up to a power of 8 (64, 512, 4096, ...) while
    the array stays within :data:`WIDE_PAIR_BYTES`, else ``rows``."""
    wide = 8 ** max(2, math.ceil(math.log(max(rows, 1), 8) - 1e-9))
    return wide if wide * row_bytes <= WIDE_PAIR_BYTES else rows


def _kernel_pairs(pairs):
    """Concrete pair data (p, P, E) per class, their rows padded as :func:`_kernel_rows` says.

    An ERI chunk kernel is compiled per class and shape of its pair data. The items index
    real rows only, so the padding (zeros) is never read: it changes no value, and
    molecules whose pair classes fall in the same power-of-8 bucket share the kernels (the
    G2-1 set, def2-TZVP: 242 kernel shapes in power-of-two buckets, 128 in these). Padded
    on the host and put back on each array's device; traced pair data (one program under
    jit) are returned as they are.
    """
    if traced([pair[:3] for pair in pairs]):
        return pairs
    widened = []
    for pair in pairs:
        p, centre, e = pair[:3]
        rows = _kernel_rows(p.shape[0], 8 * math.prod(e.shape[1:]))
        if rows == p.shape[0]:
            widened.append(tuple(pair[:3]))
            continue
        device = next(iter(p.devices())) if hasattr(p, "devices") else None
        widened.append(tuple(jax.device_put(_pad_rows(x, rows), device) for x in (p, centre, e)))
    return widened


def pair_matrix_from_pairs(basis, pairs, omega=0.0, screen=True):
    """The ERIs as the symmetric matrix of canonical AO pairs, (npair, npair).

    Row and column P(i, j) = i (i + 1) / 2 + j for i >= j hold (ij|kl) = M[P(i,j), P(k,l)];
    npair = nao (nao + 1) / 2. A quarter of the full tensor's size: J[D] is one product
    with it (see :func:`dftjax.scf.energy.coulomb_and_exchange`), and
    :func:`expand_pair_matrix` gives the full tensor. Arguments as
    :func:`electron_repulsion_from_pairs`.
    """
    chunked = screened_chunks(basis, pairs) if screen else _chunked_plan(basis)
    pairs = _kernel_pairs(pairs)
    classes = [(k, qc) for k, qc in enumerate(quartet_plan(basis)) if len(qc.pair_ab)]
    blocks = map_classes(lambda kq: _class_accumulator(basis, *kq, pairs, omega, chunked[kq[0]]),
                         classes, pairs)
    return _gather_pair_matrix(basis.nao * (basis.nao + 1) // 2, tuple(blocks),
                               _pair_matrix_sources(basis))


@lru_cache(maxsize=2)
def _pair_matrix_sources(basis) -> jnp.ndarray:
    """For each canonical pair-matrix position (npair * npair,), the index of the class
    block element (in the concatenation of all non-empty classes' blocks, flattened) that
    holds its value: the writes of :func:`_assemble`, inverted on the host (int32, on the
    device; 4 npair^2 bytes). Every position is written (each unique quartet is
    computed), so there is no fill value.
    """
    npair = basis.nao * (basis.nao + 1) // 2
    wide = np.int64 if npair * npair >= 2**31 else np.int32
    source = np.full(npair * npair, -1, dtype=np.int32)
    offset = 0
    for qc, (ab, cd) in zip(quartet_plan(basis), _assembly_indices(basis)):
        if not len(qc.pair_ab):
            continue
        # the first len(qc.pair_ab) rows are the class's quartets, the rest padding
        bra, ket = ab[: len(qc.pair_ab), :, None].astype(wide), cd[: len(qc.pair_ab), None, :].astype(wide)
        element = np.arange(offset, offset + bra.size * ket.shape[-1], dtype=np.int32)
        source[(bra * npair + ket).ravel()] = element
        source[(ket * npair + bra).ravel()] = element
        offset += ab.size * cd.shape[1]
    if (source < 0).any():
        raise AssertionError("pair matrix positions without an ERI block element")
    with jax.ensure_compile_time_eval():  # cached: never a tracer, even if called under jit
        return jax.device_put(source)


def _gathered_pair_matrix(npair, blocks, sources):
    """The pair matrix (npair, npair) from the class blocks: :func:`_assemble`'s scatter
    written as one gather, several times faster on CPU."""
    values = jnp.concatenate([b.reshape(-1) for b in blocks])
    return values[sources].reshape(npair, npair)


_gather_pair_matrix = StoredKernel(_gathered_pair_matrix, static_argnums=(0,))


def _expanded_pair_matrix(nao, pair_matrix):
    """The full tensor (nao,)*4 from the canonical pair matrix (npair, npair): two
    row/column gathers."""
    i, j = np.tril_indices(nao)
    index = np.zeros((nao, nao), dtype=np.int32)
    index[i, j] = index[j, i] = np.arange(len(i))
    full = jnp.take(jnp.take(pair_matrix, index.ravel(), axis=0), index.ravel(), axis=1)
    return full.reshape(nao, nao, nao, nao)


def pair_matrix_block(pair_matrix, start: int, stop: int) -> np.ndarray:
    """The block (ij|kl), i, j, k, l in [start, stop), (n,)*4 with n = stop - start, of
    the full tensor, gathered on the host from the canonical pair matrix (npair, npair)
    (an atom's ERIs, e.g. for the SAD guess, without the full tensor)."""
    ao = np.arange(start, stop)
    high, low = np.maximum.outer(ao, ao), np.minimum.outer(ao, ao)
    index = high * (high + 1) // 2 + low
    return np.asarray(pair_matrix)[index[:, :, None, None], index[None, None, :, :]]


#: :func:`_expanded_pair_matrix`, stored (:class:`~dftjax.stored_programs.StoredKernel`)
expand_pair_matrix = StoredKernel(_expanded_pair_matrix, static_argnums=(0,))


@partial(jax.jit, static_argnums=(0,))
def _assemble(nao, blocks, indices):
    """Full (nao,)*4 tensor from the class blocks (nquartet_bucket, nab, ncd).

    The definition of the assembly (the forward pass computes the same with
    :func:`_gather_pair_matrix`): each block element (ab|cd) is written into the matrix of
    canonical AO pairs (i >= j, k >= l) at (bra, ket) and (ket, bra), ``indices`` giving
    their positions (:func:`_assembly_indices`; npair drops padding); the full tensor is
    then two row/column gathers of it (:func:`expand_pair_matrix`).
    """
    npair = nao * (nao + 1) // 2
    values = jnp.concatenate([b.reshape(-1) for b in blocks])
    bra = jnp.concatenate([jnp.broadcast_to(ab[:, :, None], b.shape).reshape(-1)
                           for b, (ab, _) in zip(blocks, indices)])
    ket = jnp.concatenate([jnp.broadcast_to(cd[:, None, :], b.shape).reshape(-1)
                           for b, (_, cd) in zip(blocks, indices)])
    pairs = jnp.zeros((npair, npair))
    pairs = pairs.at[bra, ket].set(values, mode="drop").at[ket, bra].set(values, mode="drop")
    return expand_pair_matrix(nao, pairs)
