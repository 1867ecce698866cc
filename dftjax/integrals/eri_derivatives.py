"""Reverse-mode derivatives of the four-centre ERIs, chunk by chunk.

Differentiating :func:`~dftjax.integrals.two_electron.electron_repulsion_from_pairs` with
plain autodiff would keep every chunk's intermediates (Hermite integrals of millions of
primitive quartets) alive until the backward pass. :func:`eri_from_pairs` is the same
function with a ``custom_vjp``: its backward pass takes the cotangent of the full tensor,
d(loss)/d(ij|kl) (nao,)*4, pulls it back through the assembly onto the unique blocks,
and then, per chunk, through :func:`~dftjax.integrals.two_electron.chunk_values` onto
the Hermite pair data (exponent sums p, centres P, coefficients E), recomputing the
chunk instead of storing it. The pair data then lead to the coordinates by ordinary
autodiff of :func:`~dftjax.integrals.one_electron.pair_data`.

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

from .hermite import hermite_coulomb, hermite_indices
from .plan import pair_plan, quartet_plan
from .two_electron import (_assembly_indices, coulomb_exponent_and_prefactor,
                           electron_repulsion_from_pairs, screened_chunks)


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


def block_cotangents(basis, eri_cotangent):
    """Pull d(loss)/d(ij|kl) (nao,)*4 back onto the unique quartet blocks of each class.

    Returns a list (one entry per quartet class, None for empty classes) of
    (nquartet_bucket, nab, ncd) arrays: the exact transpose of :func:`_assemble`, i.e.
    for each unique block element the sum of the cotangent over every position of the
    full tensor it fills (its 8-fold images), counted once.
    """
    npair = basis.nao * (basis.nao + 1) // 2
    pair_ct = _pair_matrix_cotangent(basis.nao, eri_cotangent, _write_counts(basis))
    out = []
    for qc, (ab, cd) in zip(quartet_plan(basis), _assembly_indices(basis)):
        out.append(_block_gather(npair, pair_ct, ab, cd) if len(qc.pair_ab) else None)
    return out


def pair_cotangents(basis, pairs, eri_cotangent, omega=0.0):
    """d(loss)/d(pair data) for d(loss)/d(ij|kl) ``eri_cotangent`` (nao,)*4.

    Returns a list shaped like ``pairs``: (dp, dP, dE) per pair class. With concrete pair
    data the primitive quartets that Schwarz screening drops from the forward integrals
    are dropped here too (their integrals are below 1e-14 Ha, their derivatives below
    ~1e-12 Ha/Bohr); traced pair data walk them all.
    """
    plan, chunked = pair_plan(basis), screened_chunks(basis, pairs)
    grads = [[jnp.zeros_like(x) for x in (p, centre, e)] for p, centre, e in pairs]
    for k, (qc, block_ct) in enumerate(zip(quartet_plan(basis), block_cotangents(basis, eri_cotangent))):
        if block_ct is None:
            continue
        chunks = chunked[k]
        p, centre_p, e_ab = pairs[qc.bra]
        q, centre_q, e_cd = pairs[qc.ket]
        degree_ab = plan[qc.bra].la + plan[qc.bra].lb
        degree_cd = plan[qc.ket].la + plan[qc.ket].lb
        for c in range(chunks.item_ab.shape[0]):
            d_eab, d_p, d_cp, d_ecd, d_q, d_cq = _chunk_pullback(
                degree_ab, degree_cd, float(omega), block_ct, e_ab, p, centre_p, e_cd, q,
                centre_q, chunks.item_ab[c], chunks.item_cd[c], chunks.item_quartet[c])
            bra, ket = grads[qc.bra], grads[qc.ket]
            bra[0], bra[1], bra[2] = bra[0] + d_p, bra[1] + d_cp, bra[2] + d_eab
            ket[0], ket[1], ket[2] = ket[0] + d_q, ket[1] + d_cq, ket[2] + d_ecd
    return [tuple(g) for g in grads]


def _eri_bwd(basis, omega, pairs, eri_cotangent):
    cotangents = pair_cotangents(basis, pairs, eri_cotangent, omega)
    # The cotangent must mirror the primal's container types (list of tuples).
    return (type(pairs)(cotangents),)


eri_from_pairs.defvjp(_eri_fwd, _eri_bwd)
