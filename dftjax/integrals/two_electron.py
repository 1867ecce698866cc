"""Four-centre electron-repulsion integrals (ij|kl) by McMurchie-Davidson.

(ab|cd) = 2 pi^(5/2) / (p q sqrt(p+q)) sum_{tuv,t'u'v'} E^{ab}_{tuv} (-1)^{t'+u'+v'}
          E^{cd}_{t'u'v'} R_{t+t',u+u',v+v'}(pq/(p+q), R_PQ)
(Helgaker, Jorgensen & Olsen eq. 9.9.33). E comes from :func:`pair_class_kernel`
with contraction coefficients and the AO transformation already folded in, so each
primitive quartet costs two small matrix products.

Work is organised per quartet class (class_ab, class_cd) from :mod:`.plan`; the items
of a class are primitive quartets sorted by shell quartet. A kernel, compiled once per
class and (bucketed) shape, handles a fixed-size chunk of items and adds them into the
class's per-quartet accumulator in place. The unique blocks are then written into the
matrix of canonical AO pairs and expanded to the full (nao, nao, nao, nao) tensor.
"""

from dataclasses import dataclass
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from .hermite import hermite_coulomb, hermite_indices, n_hermite
from .one_electron import ao_transform, hermite_pairs
from .plan import bucket, chunk_size_for, pair_plan, quartet_plan


def _coulomb_gather(degree_ab: int, degree_cd: int):
    """Index into R (degree_ab + degree_cd) and sign for the (bra Hermite, ket Hermite) matrix."""
    herm_ab, herm_cd = hermite_indices(degree_ab), hermite_indices(degree_cd)
    lookup = {tuple(h): k for k, h in enumerate(hermite_indices(degree_ab + degree_cd))}
    index = np.array([[lookup[tuple(a + c)] for c in herm_cd] for a in herm_ab])
    sign = (-1.0) ** herm_cd.sum(axis=1)
    return index, sign


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
    pa, pc = p[item_ab], q[item_cd]
    alpha = pa * pc / (pa + pc)
    prefactor = 2.0 * jnp.pi**2.5 / (pa * pc * jnp.sqrt(pa + pc))
    if omega > 0.0:
        attenuated = alpha * omega**2 / (alpha + omega**2)
        prefactor = prefactor * jnp.sqrt(attenuated / alpha)
        alpha = attenuated
    r = hermite_coulomb(degree_ab + degree_cd, alpha, centre_p[item_ab] - centre_q[item_cd])
    index, sign = _coulomb_gather(degree_ab, degree_cd)
    coulomb = r[:, index] * sign
    ket = jnp.einsum("chk,cfk->chf", coulomb, e_cd[item_cd])
    return jnp.einsum("ceh,chf->cef", e_ab[item_ab], ket) * prefactor[:, None, None]


@partial(jax.jit, static_argnums=(0, 1, 2), donate_argnums=(3,))
def eri_chunk_kernel(degree_ab, degree_cd, omega, accumulator, e_ab, p, centre_p, e_cd, q,
                     centre_q, item_ab, item_cd, item_quartet):
    """Add one chunk of primitive quartets (:func:`chunk_values`) into the class
    accumulator (nquartet_bucket, nab, ncd), in place; item_quartet (C,) is the quartet
    each item adds to (>= len(accumulator) for padding, dropped).
    """
    values = chunk_values(degree_ab, degree_cd, omega, e_ab, p, centre_p, e_cd, q, centre_q,
                          item_ab, item_cd)
    return accumulator.at[item_quartet].add(values, mode="drop", indices_are_sorted=True)


@dataclass(frozen=True, eq=False)
class ChunkedQuartets:
    """Kernel inputs of one quartet class, cut into chunks (host arrays, geometry-free).

    item_ab, item_cd, item_quartet : (nchunk, chunk); padding items add to quartet
    ``nquartet_bucket`` (dropped).
    """

    chunk: int
    nquartet_bucket: int
    item_ab: np.ndarray
    item_cd: np.ndarray
    item_quartet: np.ndarray


def _chunk_quartets(qc, work_per_item: int) -> ChunkedQuartets:
    """Cut the primitive quartets of a class into fixed-size chunks."""
    chunk = chunk_size_for(work_per_item, budget=1 << 19, smallest=256)
    n = len(qc.item_quartet)
    nchunk = max(1, -(-n // chunk))
    nquartet_bucket = bucket(len(qc.pair_ab), smallest=16)

    def items(values, fill):
        padded = np.full(nchunk * chunk, fill, dtype=np.int32)
        padded[:n] = values
        return padded.reshape(nchunk, chunk)

    return ChunkedQuartets(chunk, nquartet_bucket, items(qc.item_ab, 0), items(qc.item_cd, 0),
                           items(qc.item_quartet, nquartet_bucket))


@lru_cache(maxsize=8)
def _chunked_plan(basis) -> tuple:
    plan = pair_plan(basis)
    out = []
    for qc in quartet_plan(basis):
        ab, cd = plan[qc.bra], plan[qc.ket]
        k_ab, k_cd = n_hermite(ab.la + ab.lb), n_hermite(cd.la + cd.lb)
        nab = ao_transform(ab.la, False).shape[1] * ao_transform(ab.lb, False).shape[1]
        ncd = ao_transform(cd.la, False).shape[1] * ao_transform(cd.lb, False).shape[1]
        work = k_ab * (k_cd + ncd) + nab * ncd * 2 + n_hermite(ab.la + ab.lb + cd.la + cd.lb) * 4
        out.append(_chunk_quartets(qc, work))
    return tuple(out)


def _class_accumulator(basis, k, qc, pairs, omega=0.0):
    """Contracted blocks (nquartet_bucket, nab, ncd) of quartet class ``k``."""
    plan = pair_plan(basis)
    chunks = _chunked_plan(basis)[k]
    p, centre_p, e_ab = pairs[qc.bra]
    q, centre_q, e_cd = pairs[qc.ket]
    degree_ab = plan[qc.bra].la + plan[qc.bra].lb
    degree_cd = plan[qc.ket].la + plan[qc.ket].lb
    accumulator = np.zeros((chunks.nquartet_bucket, e_ab.shape[1], e_cd.shape[1]))
    for c in range(chunks.item_ab.shape[0]):
        accumulator = eri_chunk_kernel(
            degree_ab, degree_cd, float(omega), accumulator, e_ab, p, centre_p, e_cd, q, centre_q,
            chunks.item_ab[c], chunks.item_cd[c], chunks.item_quartet[c])
    return accumulator


@lru_cache(maxsize=8)
def _assembly_indices(basis) -> tuple:
    """Per quartet class, canonical AO-pair indices of its blocks' bra and ket.

    Shapes (nquartet_bucket, nab) and (nquartet_bucket, ncd); the canonical index of AOs
    (i, j) is max*(max+1)/2 + min; padding rows hold npair (out of range: dropped).
    """
    plan = pair_plan(basis)
    npair = basis.nao * (basis.nao + 1) // 2
    out = []
    for qc, chunks in zip(quartet_plan(basis), _chunked_plan(basis)):
        sides = []
        for pc, pairs in ((plan[qc.bra], qc.pair_ab), (plan[qc.ket], qc.pair_cd)):
            na = ao_transform(pc.la, basis.cartesian).shape[0]
            nb = ao_transform(pc.lb, basis.cartesian).shape[0]
            i = basis.ao_offset[pc.shell_a[pairs]][:, None, None] + np.arange(na)[None, :, None]
            j = basis.ao_offset[pc.shell_b[pairs]][:, None, None] + np.arange(nb)[None, None, :]
            high, low = np.maximum(i, j), np.minimum(i, j)
            index = np.full((chunks.nquartet_bucket, na * nb), npair, dtype=np.int32)
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


def electron_repulsion_from_pairs(basis, pairs, omega=0.0):
    """:func:`electron_repulsion` from precomputed :func:`hermite_pairs` data."""
    blocks, indices = [], []
    for k, (qc, index) in enumerate(zip(quartet_plan(basis), _assembly_indices(basis))):
        if len(qc.pair_ab):
            blocks.append(_class_accumulator(basis, k, qc, pairs, omega))
            indices.append(index)
    return _assemble(basis.nao, tuple(blocks), tuple(indices))


@partial(jax.jit, static_argnums=(0,))
def _assemble(nao, blocks, indices):
    """Full (nao,)*4 tensor from the class blocks (nquartet_bucket, nab, ncd).

    The values are first written into the matrix of canonical AO pairs (i >= j, k >= l),
    as (ij|kl) and (kl|ij); the full tensor is then two row/column gathers of it, much
    cheaper than scattering all eight permutations.
    """
    npair = nao * (nao + 1) // 2
    values = jnp.concatenate([b.reshape(-1) for b in blocks])
    bra = jnp.concatenate([jnp.broadcast_to(ab[:, :, None], b.shape).reshape(-1)
                           for b, (ab, _) in zip(blocks, indices)])
    ket = jnp.concatenate([jnp.broadcast_to(cd[:, None, :], b.shape).reshape(-1)
                           for b, (_, cd) in zip(blocks, indices)])
    pairs = jnp.zeros((npair, npair))
    pairs = pairs.at[bra, ket].set(values, mode="drop").at[ket, bra].set(values, mode="drop")
    i, j = np.tril_indices(nao)
    index = np.zeros((nao, nao), dtype=np.int32)
    index[i, j] = index[j, i] = np.arange(npair)
    full = jnp.take(jnp.take(pairs, index.ravel(), axis=0), index.ravel(), axis=1)
    return full.reshape(nao, nao, nao, nao)
