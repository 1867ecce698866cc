"""Four-centre electron-repulsion integrals (ij|kl) by McMurchie-Davidson.

(ab|cd) = 2 pi^(5/2) / (p q sqrt(p+q)) sum_{tuv,t'u'v'} E^{ab}_{tuv} (-1)^{t'+u'+v'}
          E^{cd}_{t'u'v'} R_{t+t',u+u',v+v'}(pq/(p+q), R_PQ)
(Helgaker, Jorgensen & Olsen eq. 9.9.33). E comes from :func:`hermite_pair_kernel`
with contraction coefficients and the AO transformation already folded in, so each
primitive quartet costs two small matrix products.

Work is organised per quartet class (class_ab, class_cd) from :mod:`.plan`; the items
of a class are primitive quartets sorted by shell quartet. A kernel, compiled once per
class and chunk shape, handles a chunk of items and sums them into per-quartet slots;
a final segment sum adds slots of quartets that straddle chunks. The unique blocks are
then scattered into the full (nao, nao, nao, nao) tensor with its 8-fold symmetry.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .batching import chunk_size_for
from .hermite import hermite_coulomb, hermite_indices, n_hermite
from .one_electron import ao_transform, hermite_pairs
from .plan import pair_plan, quartet_plan


def _coulomb_gather(degree_ab: int, degree_cd: int):
    """Index into R (degree_ab + degree_cd) and sign for the (bra Hermite, ket Hermite) matrix."""
    herm_ab, herm_cd = hermite_indices(degree_ab), hermite_indices(degree_cd)
    lookup = {tuple(h): k for k, h in enumerate(hermite_indices(degree_ab + degree_cd))}
    index = np.array([[lookup[tuple(a + c)] for c in herm_cd] for a in herm_ab])
    sign = (-1.0) ** herm_cd.sum(axis=1)
    return index, sign


@partial(jax.jit, static_argnums=(0, 1, 2))
def eri_kernel(degree_ab, degree_cd, nslot, e_ab, p, centre_p, e_cd, q, centre_q, slot):
    """Primitive quartets -> contracted quartet slots.

    e_ab : (C, nab, K_ab); p : (C,); centre_p : (C, 3); likewise for cd;
    slot : (C,) int, the output slot of each item (slots >= nslot are dropped).
    Returns (nslot, nab, ncd).
    """
    alpha = p * q / (p + q)
    r = hermite_coulomb(degree_ab + degree_cd, alpha, centre_p - centre_q)
    index, sign = _coulomb_gather(degree_ab, degree_cd)
    coulomb = r[:, index] * sign
    prefactor = 2.0 * jnp.pi**2.5 / (p * q * jnp.sqrt(p + q))
    ket = jnp.einsum("chk,cfk->chf", coulomb, e_cd)
    values = jnp.einsum("ceh,chf->cef", e_ab, ket) * prefactor[:, None, None]
    return jax.ops.segment_sum(values, slot, nslot)


def _chunk_slots(item_quartet: np.ndarray, chunk: int, nslot: int):
    """Split sorted items into chunks of ``chunk``; local slot of each item and slot owners.

    Returns (slot (nchunk*chunk,), owner (nchunk*nslot,)), where padded items get slot
    ``nslot`` (dropped) and unused slots get owner -1.
    """
    n = len(item_quartet)
    nchunk = max(1, -(-n // chunk))
    padded = np.full(nchunk * chunk, -1, dtype=np.int64)
    padded[:n] = item_quartet
    blocks = padded.reshape(nchunk, chunk)
    first = blocks[:, :1]
    slot = np.where(blocks >= 0, blocks - first, nslot)
    if slot[blocks >= 0].max(initial=0) >= nslot:
        raise AssertionError("quartet slot overflow: chunk planning is inconsistent")
    owner = first + np.arange(nslot)[None, :]
    last = np.where(blocks >= 0, blocks, -1).max(axis=1, keepdims=True)
    owner = np.where(owner <= last, owner, -1)
    return slot.ravel(), owner.ravel()


def _class_blocks(basis, qc, pairs):
    """Contracted blocks (nquartet, nab, ncd) of one quartet class."""
    pc_ab, pc_cd = pair_plan(basis)[qc.bra], pair_plan(basis)[qc.ket]
    p_all, cp_all, e_ab_all = pairs[qc.bra]
    q_all, cq_all, e_cd_all = pairs[qc.ket]
    degree_ab, degree_cd = pc_ab.la + pc_ab.lb, pc_cd.la + pc_cd.lb
    nab, ncd = e_ab_all.shape[1], e_cd_all.shape[1]
    work = n_hermite(degree_ab) * (n_hermite(degree_cd) + ncd) + nab * ncd * 2 + n_hermite(degree_ab + degree_cd) * 4
    chunk = chunk_size_for(work, budget=1 << 23, smallest=256)
    chunk = max(chunk, 1 << int(np.ceil(np.log2(max(1, qc.min_items)))))
    nslot = chunk // qc.min_items + 2
    nslot = 1 << int(np.ceil(np.log2(nslot)))
    slot, owner = _chunk_slots(qc.item_quartet, chunk, nslot)
    n = len(qc.item_ab)
    nchunk = len(slot) // chunk
    item_ab = np.zeros(nchunk * chunk, dtype=np.int64)
    item_cd = np.zeros(nchunk * chunk, dtype=np.int64)
    item_ab[:n], item_cd[:n] = qc.item_ab, qc.item_cd
    kernel = partial(eri_kernel, degree_ab, degree_cd, nslot)
    pieces = []
    for k in range(nchunk):
        ia = item_ab[k * chunk : (k + 1) * chunk]
        ic = item_cd[k * chunk : (k + 1) * chunk]
        pieces.append(
            kernel(e_ab_all[ia], p_all[ia], cp_all[ia], e_cd_all[ic], q_all[ic], cq_all[ic],
                   slot[k * chunk : (k + 1) * chunk])
        )
    slots = jnp.concatenate(pieces)
    nquartet = len(qc.pair_ab)
    owner = np.where(owner >= 0, owner, nquartet)
    return jax.ops.segment_sum(slots, owner, nquartet)


def _shell_offsets(basis, pc, pair_index):
    return basis.ao_offset[pc.shell_a[pair_index]], basis.ao_offset[pc.shell_b[pair_index]]


def electron_repulsion(basis, coords):
    """Electron-repulsion integrals (ij|kl), chemists' notation, shape (nao, nao, nao, nao).

    Parameters
    ----------
    basis : BasisSet
    coords : array (natom, 3), Bohr (traced: the integrals are differentiable in it)
    """
    coords = jnp.asarray(coords, dtype=jnp.float64)
    pairs = hermite_pairs(basis, coords)
    nao = basis.nao
    plan = pair_plan(basis)
    out = jnp.zeros((nao, nao, nao, nao))
    for qc in quartet_plan(basis):
        if len(qc.pair_ab) == 0:
            continue
        block = _class_blocks(basis, qc, pairs)
        pc_ab, pc_cd = plan[qc.bra], plan[qc.ket]
        na = ao_transform(pc_ab.la, basis.cartesian).shape[0]
        nb = ao_transform(pc_ab.lb, basis.cartesian).shape[0]
        nc = ao_transform(pc_cd.la, basis.cartesian).shape[0]
        nd = ao_transform(pc_cd.lb, basis.cartesian).shape[0]
        block = block.reshape(-1, na, nb, nc, nd)
        oa, ob = _shell_offsets(basis, pc_ab, qc.pair_ab)
        oc, od = _shell_offsets(basis, pc_cd, qc.pair_cd)
        i = (oa[:, None] + np.arange(na))[:, :, None, None, None]
        j = (ob[:, None] + np.arange(nb))[:, None, :, None, None]
        k = (oc[:, None] + np.arange(nc))[:, None, None, :, None]
        l = (od[:, None] + np.arange(nd))[:, None, None, None, :]
        out = _scatter_symmetric(out, block, i, j, k, l)
    return out


@partial(jax.jit, donate_argnums=(0,))
def _scatter_symmetric(out, block, i, j, k, l):
    """Write a block of (ij|kl) and its 7 symmetry partners into ``out``."""
    i, j, k, l = jnp.broadcast_arrays(i, j, k, l)
    for a, b, c, d in ((i, j, k, l), (j, i, k, l), (i, j, l, k), (j, i, l, k)):
        out = out.at[a, b, c, d].set(block)
        out = out.at[c, d, a, b].set(block)
    return out
