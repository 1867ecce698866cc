"""Reverse-mode derivatives of the four-centre ERIs, chunk by chunk.

Differentiating :func:`~dftjax.integrals.two_electron.electron_repulsion_from_pairs` with
plain autodiff would keep every chunk's intermediates (Hermite integrals of millions of
primitive quartets) alive until the backward pass. :func:`eri_from_pairs` is the same
function with a ``custom_vjp``: its backward pass takes the cotangent of the full tensor,
d(loss)/d(ij|kl) (nao,)*4, pulls it back through the assembly onto the unique blocks,
and then, per chunk, through :func:`~dftjax.integrals.two_electron.chunk_values` onto
the Hermite pair data (exponent sums p, centres P, coefficients E), recomputing the
chunk instead of storing it. The pair data then lead to the coordinates by ordinary
autodiff of :func:`~dftjax.integrals.one_electron.pair_data` (traced), or, for forces, by
its per-class pullback (:func:`~dftjax.integrals.one_electron.pair_data_pullback`).
Concrete pair data on a CPU take NumPy twins where the forward integrals do (classes of
at most HOST_MAX_CHUNKS chunks): nothing to compile per class. C4H4NH/def2-SVP B3LYP
forces: cold 68 -> 35 s, warm 10.7 -> 10.4 s.

So forces cost one more pass over the primitive quartets (a vector-Jacobian product
of each chunk, about two to three times the forward work), with memory for one chunk.
Only reverse mode is defined (``jax.grad``, ``jax.vjp``); the backward pass is itself
differentiable JAX, so reverse-over-reverse (``jax.jacrev(jax.grad(f))``) works for
small molecules.
"""

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse

from .hermite import hermite_coulomb, hermite_indices
from .plan import pair_plan, quartet_plan
from ..tracing import traced
from ._compilation import map_classes
from .two_electron import (HOST_CHUNKS_PER_CALL, HOST_MAX_CHUNKS, _assembly_indices, _class_shapes,
                           coulomb_exponent_and_prefactor, electron_repulsion_from_pairs,
                           screened_chunks)


@partial(jax.custom_vjp, nondiff_argnums=(0, 2))
def eri_from_pairs(basis, pairs, omega=0.0):
    """(ij|kl) (nao,)*4 from :func:`hermite_pairs` data, with a memory-lean backward pass.

    Same values as :func:`electron_repulsion_from_pairs`; ``pairs`` is the list of
    (p (n,), P (n, 3), E (n, nab, K)) per pair class; ``omega`` (1/Bohr) > 0 gives the
    erf-attenuated long-range integrals.
    """
    return electron_repulsion_from_pairs(basis, pairs, omega)


def _eri_fwd(basis, pairs, omega):
    return electron_repulsion_from_pairs(basis, pairs, omega), pairs


@lru_cache(maxsize=None)
def _derivative_gather(degree_ab: int, degree_cd: int):
    """Indices into the Hermite table of degree degree_ab + degree_cd + 1.

    value[h, k]: R_{h + k} for bra Hermite index h and ket index k; plus[x][h, k]:
    R_{h + k + e_x}, which is dR_{h+k}/dX_PQ (McMurchie-Davidson: R_{tuv} is the
    (t, u, v)-th derivative of R_000 with respect to P - Q). sign (K_cd,): (-1)^(t'+u'+v').
    """
    herm_ab, herm_cd = hermite_indices(degree_ab), hermite_indices(degree_cd)
    table = hermite_indices(degree_ab + degree_cd + 1)
    lookup = {tuple(h): k for k, h in enumerate(table)}
    value = np.array([[lookup[tuple(a + c)] for c in herm_cd] for a in herm_ab])
    plus = np.stack([np.array([[lookup[tuple(a + c + np.eye(3, dtype=np.int64)[x])] for c in herm_cd]
                               for a in herm_ab]) for x in range(3)])
    sign = (-1.0) ** herm_cd.sum(axis=1)
    return value, plus, sign


@partial(jax.jit, static_argnums=(0, 1, 2))
def _chunk_pullback(degree_ab, degree_cd, omega, block_cotangent, e_ab, p, centre_p, e_cd, q,
                    centre_q, item_ab, item_cd, item_quartet):
    """Cotangents of one chunk's pair data, given the class blocks' cotangent.

    block_cotangent (nquartet_bucket, nab, ncd); padding items (item_quartet out of
    range) get a zero cotangent. Returns cotangents of (e_ab, p, centre_p, e_cd, q,
    centre_q), written out rather than by autodiff of :func:`chunk_values`: with
    values = pre * E_ab . R' . E_cd^T (R'_hk = sign_k R_{h+k}), the E cotangents are
    matrix products, and dR_{tuv}/dP = R_{t+1,u,v} (one more Hermite degree) replaces the
    reverse pass through the Boys function and the Hermite recursion, ~3x cheaper.
    The exponent sums p, q are constants of the basis: their cotangents are returned as
    zeros (dftjax does not differentiate with respect to basis exponents).
    """
    cotangent = jnp.take(block_cotangent, item_quartet, axis=0, mode="fill", fill_value=0.0)
    alpha, prefactor = coulomb_exponent_and_prefactor(p[item_ab], q[item_cd], omega)
    value, plus, sign = _derivative_gather(degree_ab, degree_cd)
    r = hermite_coulomb(degree_ab + degree_cd + 1, alpha, centre_p[item_ab] - centre_q[item_cd])
    coulomb = r[:, value] * sign                                   # (C, K_ab, K_cd)
    bra, ket = e_ab[item_ab], e_cd[item_cd]                         # (C, nab, K_ab), (C, ncd, K_cd)
    weighted = cotangent * prefactor[:, None, None]                 # (C, nab, ncd)
    bra_ct = jnp.einsum("ceh,cef->chf", bra, weighted)             # (C, K_ab, ncd)
    d_ket = jnp.einsum("chf,chk->cfk", bra_ct, coulomb)
    d_coulomb = jnp.einsum("chf,cfk->chk", bra_ct, ket) * sign     # d loss / d R_{h+k}
    d_bra = jnp.einsum("cef,chf->ceh", weighted, jnp.einsum("chk,cfk->chf", coulomb, ket))
    d_pq = jnp.stack([jnp.sum(d_coulomb * r[:, plus[x]], axis=(1, 2)) for x in range(3)], axis=-1)
    zeros = lambda x: jnp.zeros_like(x)
    return (zeros(e_ab).at[item_ab].add(d_bra), zeros(p),
            zeros(centre_p).at[item_ab].add(d_pq),
            zeros(e_cd).at[item_cd].add(d_ket), zeros(q),
            zeros(centre_q).at[item_cd].add(-d_pq))


def host_chunk_pullback(degree_ab, degree_cd, omega, block_cotangent, e_ab, p, centre_p, e_cd,
                        q, centre_q, item_ab, item_cd, item_quartet, out):
    """:func:`_chunk_pullback` in NumPy, for host arrays on a CPU: the same formulas,
    nothing to compile (as the forward integrals' :func:`host_chunk_values`). Padding
    items (item_quartet out of range) are dropped. Adds the cotangents of (e_ab,
    centre_p, e_cd, centre_q) into ``out``, four arrays of their shapes (the exponent
    sums' cotangents are zero)."""
    real = item_quartet < len(block_cotangent)
    item_ab, item_cd, item_quartet = item_ab[real], item_cd[real], item_quartet[real]
    alpha, prefactor = coulomb_exponent_and_prefactor(np.take(p, item_ab), np.take(q, item_cd),
                                                      omega, xp=np)
    value, plus, sign = _derivative_gather(degree_ab, degree_cd)
    r = hermite_coulomb(degree_ab + degree_cd + 1, alpha,
                        np.take(centre_p, item_ab, axis=0) - np.take(centre_q, item_cd, axis=0),
                        xp=np)
    coulomb = np.take(r, value, axis=1) * sign                    # (C, K_ab, K_cd)
    bra, ket = np.take(e_ab, item_ab, axis=0), np.take(e_cd, item_cd, axis=0)
    weighted = np.take(block_cotangent, item_quartet, axis=0) * prefactor[:, None, None]
    bra_ct = np.matmul(bra.transpose(0, 2, 1), weighted)          # (C, K_ab, ncd)
    d_ket = np.matmul(bra_ct.transpose(0, 2, 1), coulomb)         # (C, ncd, K_cd)
    d_coulomb = np.matmul(bra_ct, ket) * sign                     # (C, K_ab, K_cd)
    d_bra = np.matmul(weighted, np.matmul(ket, coulomb.transpose(0, 2, 1)))  # (C, nab, K_ab)
    d_pq = np.stack([np.einsum("chk,chk->c", d_coulomb, np.take(r, plus[x], axis=1))
                     for x in range(3)], axis=-1)
    for target, index, values in zip(out, (item_ab, item_ab, item_cd, item_cd),
                                     (d_bra, d_pq, d_ket, -d_pq)):
        _add_rows(target, index, values)


def _add_rows(target, index, values):
    """target[index] += values with repeated indices summed, as one sparse product (the
    one-hot (len(target), len(index)) matrix times the rows): much faster than
    ``np.add.at``, and than sorting the rows."""
    n = len(index)
    one_hot = scipy.sparse.csr_matrix((np.ones(n), (index, np.arange(n))), shape=(len(target), n))
    target += (one_hot @ values.reshape(n, -1)).reshape(target.shape)


@lru_cache(maxsize=8)
def _write_counts(basis):
    """How many block elements :func:`_assemble` writes into each canonical-pair-matrix
    position (flattened (npair * npair,) array, float). Elements of a diagonal shell
    pair, and diagonal pair blocks, write the same value to one position more than once;
    the backward pass shares that position's cotangent among its writers."""
    npair = basis.nao * (basis.nao + 1) // 2
    targets = []
    for qc, (ab, cd) in zip(quartet_plan(basis), _assembly_indices(basis)):
        if len(qc.pair_ab):
            bra = np.broadcast_to(ab[:, :, None], (ab.shape[0], ab.shape[1], cd.shape[1]))
            ket = np.broadcast_to(cd[:, None, :], bra.shape)
            keep = (bra < npair) & (ket < npair)
            bra, ket = bra[keep].astype(np.int64), ket[keep].astype(np.int64)
            targets += [bra * npair + ket, ket * npair + bra]
    return np.bincount(np.concatenate(targets), minlength=npair * npair).astype(np.float64)


@partial(jax.jit, static_argnums=(0,))
def _pair_matrix_cotangent(nao, eri_cotangent, counts):
    """Cotangent of the canonical pair matrix (npair, npair) from that of the full
    tensor, divided by the number of writers per position (``counts``, see
    :func:`_write_counts`); positions nobody writes stay zero."""
    g = eri_cotangent.reshape(nao, nao, nao, nao)
    g = g + jnp.swapaxes(g, 0, 1)
    g = g + jnp.swapaxes(g, 2, 3)
    i, j = np.tril_indices(nao)
    # (ii|..) positions were counted twice by the symmetrisation above.
    half = np.where(i == j, 0.5, 1.0)
    flat = g.reshape(nao * nao, nao * nao)[i * nao + j][:, i * nao + j] * half[:, None] * half[None, :]
    return flat.reshape(-1) / jnp.maximum(counts, 1.0)


@partial(jax.jit, static_argnums=(0,))
def _block_gather(npair, pair_cotangent, bra, ket):
    """Cotangent of a class's blocks (nquartet_bucket, nab, ncd): each element collects
    the (shared) cotangent of the positions (bra, ket) and (ket, bra) it was written to;
    padding (index npair) gets zero."""
    valid = (bra[:, :, None] < npair) & (ket[:, None, :] < npair)
    bra_b, ket_b = bra[:, :, None].astype(jnp.int64), ket[:, None, :].astype(jnp.int64)
    first = jnp.take(pair_cotangent, bra_b * npair + ket_b, mode="fill", fill_value=0.0)
    second = jnp.take(pair_cotangent, ket_b * npair + bra_b, mode="fill", fill_value=0.0)
    return jnp.where(valid, first + second, 0.0)


def _host_block_gather(npair, pair_cotangent, bra, ket):
    """:func:`_block_gather` in NumPy, for a host ``pair_cotangent``: nothing to compile
    per class."""
    bra = np.asarray(bra, dtype=np.int64)[:, :, None]
    ket = np.asarray(ket, dtype=np.int64)[:, None, :]
    valid = (bra < npair) & (ket < npair)
    bra, ket = np.minimum(bra, npair - 1), np.minimum(ket, npair - 1)
    both = pair_cotangent[bra * npair + ket] + pair_cotangent[ket * npair + bra]
    return np.where(valid, both, 0.0)


def block_cotangents(basis, eri_cotangent, host=False):
    """Pull d(loss)/d(ij|kl) (nao,)*4 back onto the unique quartet blocks of each class.

    Returns a list (one entry per quartet class, None for empty classes) of
    (nquartet_bucket, nab, ncd) arrays: the exact transpose of :func:`_assemble`, i.e.
    for each unique block element the sum of the cotangent over every position of the
    full tensor it fills (its 8-fold images), counted once. ``host``: for a concrete
    cotangent on a CPU, the classes' gathers run in NumPy (NumPy arrays out), so only
    the fold of the (nao,)*4 tensor, faster compiled, is a program (one per basis size).
    """
    npair = basis.nao * (basis.nao + 1) // 2
    pair_ct = _pair_matrix_cotangent(basis.nao, eri_cotangent, _write_counts(basis))
    gather = _block_gather
    if host:
        pair_ct, gather = np.asarray(pair_ct), _host_block_gather
    return [gather(npair, pair_ct, ab, cd) if len(qc.pair_ab) else None
            for qc, (ab, cd) in zip(quartet_plan(basis), _assembly_indices(basis))]


def pair_cotangents(basis, pairs, eri_cotangent, omega=0.0):
    """d(loss)/d(pair data) for d(loss)/d(ij|kl) ``eri_cotangent`` (nao,)*4.

    Returns a list shaped like ``pairs``: (dp, dP, dE) per pair class. With concrete pair
    data the primitive quartets that Schwarz screening drops from the forward integrals
    are dropped here too (their integrals are below 1e-14 Ha, their derivatives below
    ~1e-12 Ha/Bohr); traced pair data walk them all. On a CPU, concrete classes of at
    most :data:`~dftjax.integrals.two_electron.HOST_MAX_CHUNKS` chunks (before screening,
    as for the forward integrals) run in NumPy (:func:`host_chunk_pullback`), and the
    classes run side by side in threads (:func:`~._compilation.map_classes`).
    """
    plan, chunked = pair_plan(basis), screened_chunks(basis, pairs)
    concrete = not traced((pairs, eri_cotangent))
    on_host = concrete and jax.default_backend() == "cpu"
    block_cts = block_cotangents(basis, eri_cotangent, host=on_host)
    shapes = _class_shapes(basis)

    def one_class(k):
        qc, block_ct, chunks = quartet_plan(basis)[k], block_cts[k], chunked[k]
        p, centre_p, e_ab = pairs[qc.bra]
        q, centre_q, e_cd = pairs[qc.ket]
        degree_ab = plan[qc.bra].la + plan[qc.bra].lb
        degree_cd = plan[qc.ket].la + plan[qc.ket].lb
        if on_host and shapes[k][2] <= HOST_MAX_CHUNKS:  # cheaper to run than to compile
            arrays = [np.asarray(x) for x in (block_ct, e_ab, p, centre_p, e_cd, q, centre_q)]
            out = [np.zeros(np.shape(x)) for x in (e_ab, centre_p, e_cd, centre_q)]
            items = [x.ravel() for x in (chunks.item_ab, chunks.item_cd, chunks.item_quartet)]
            size = chunks.chunk * HOST_CHUNKS_PER_CALL
            for start in range(0, len(items[0]), size):
                host_chunk_pullback(degree_ab, degree_cd, float(omega), *arrays,
                                    *(x[start:start + size] for x in items), out)
            return tuple(out)
        block_ct = jnp.asarray(block_ct)  # once, not at every chunk's call
        d_eab, d_cp, d_ecd, d_cq = (jnp.zeros_like(x) for x in (e_ab, centre_p, e_cd, centre_q))
        for c in range(chunks.item_ab.shape[0]):
            d = _chunk_pullback(degree_ab, degree_cd, float(omega), block_ct, e_ab, p, centre_p,
                                e_cd, q, centre_q, chunks.item_ab[c], chunks.item_cd[c],
                                chunks.item_quartet[c])
            d_eab, d_cp, d_ecd, d_cq = d_eab + d[0], d_cp + d[2], d_ecd + d[3], d_cq + d[5]
        return d_eab, d_cp, d_ecd, d_cq

    classes = [k for k, ct in enumerate(block_cts) if ct is not None]
    xp = np if on_host else jnp
    grads = [[xp.zeros(np.shape(x)) for x in (p, centre, e)] for p, centre, e in pairs]
    for k, (d_eab, d_cp, d_ecd, d_cq) in zip(classes, map_classes(one_class, classes,
                                                                  (pairs, eri_cotangent))):
        qc = quartet_plan(basis)[k]
        bra, ket = grads[qc.bra], grads[qc.ket]
        bra[1], bra[2] = bra[1] + d_cp, bra[2] + d_eab
        ket[1], ket[2] = ket[1] + d_cq, ket[2] + d_ecd
    return [tuple(g) for g in grads]


def _eri_bwd(basis, omega, pairs, eri_cotangent):
    cotangents = pair_cotangents(basis, pairs, eri_cotangent, omega)
    # The cotangent must mirror the primal's container types (list of tuples).
    return (type(pairs)(cotangents),)


eri_from_pairs.defvjp(_eri_fwd, _eri_bwd)
