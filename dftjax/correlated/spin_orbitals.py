"""Spin-orbital Fock matrix and antisymmetrised integrals <pq||rs> from spin orbitals.

One code path serves RHF and UHF references (``run`` uses it for UHF, and for RHF
with ``spin_adapted=False``; closed shells default to :mod:`.closed_shell`): the
occupied and virtual orbitals of each spin are listed alpha first, then beta, and a
spin orbital's coefficients are held as a (2, nao, n) stack that is zero in the other
spin's slot. Then

    (pr|qs) = sum_{s,t} (C_s[:, p] C_s[:, r] | C_t[:, q] C_t[:, s]),

which carries the spin deltas delta(sigma_p, sigma_r) delta(sigma_q, sigma_s), and
<pq|rs> = (pr|qs), <pq||rs> = <pq|rs> - <pq|sr> (physicists' notation). Only the six
blocks the coupled-cluster equations read are built, dense (the AO tensor is the
SCF's (nao,)*4 array). Orbitals (o: occupied, v: virtual), Hartree atomic units.
"""

import jax.numpy as jnp


def spin_stack(orbitals_alpha, orbitals_beta):
    """(2, nao, na + nb): alpha orbitals then beta, each zero in the other spin's slot."""
    zeros_a = jnp.zeros_like(orbitals_alpha)
    zeros_b = jnp.zeros_like(orbitals_beta)
    return jnp.stack([jnp.concatenate([orbitals_alpha, zeros_b], axis=1),
                      jnp.concatenate([zeros_a, orbitals_beta], axis=1)])


def spin_fock(fock_ao, left, right):
    """f_pq = sum_s C_s[:, p]^T F_s C_s[:, q]; fock_ao (2, nao, nao), left/right stacks."""
    return jnp.einsum("sup,suv,svq->pq", left, fock_ao, right)


def _chemists(eri, c1, c2, c3, c4):
    """(pr|qs) over spin orbitals; eri (nao,)*4; c (2, nao, n)."""
    half = sum(jnp.einsum("up,vr,uvlk->prlk", c1[s], c2[s], eri) for s in range(2))
    return sum(jnp.einsum("prlk,lq,ks->prqs", half, c3[t], c4[t]) for t in range(2))


def _physicists(eri, c1, c2, c3, c4):
    """<pq|rs> = (pr|qs)."""
    return _chemists(eri, c1, c3, c2, c4).transpose(0, 2, 1, 3)


def antisymmetrized(eri, c1, c2, c3, c4):
    """<pq||rs> = <pq|rs> - <pq|sr>, shape (n1, n2, n3, n4)."""
    return _physicists(eri, c1, c2, c3, c4) - _physicists(eri, c1, c2, c4, c3).transpose(0, 1, 3, 2)


ALL_BLOCKS = ("oooo", "ooov", "oovv", "ovov", "ovvv", "vvvv")


def integral_blocks(eri, occupied, virtual, names=ALL_BLOCKS):
    """Blocks of <pq||rs> by name ("oovv": <ij||ab>, ...) as a dict.

    occupied (2, nao, no), virtual (2, nao, nv): spin-orbital stacks (:func:`spin_stack`).
    CCSD reads :data:`ALL_BLOCKS`; the others follow by the symmetries
    <pq||rs> = -<qp||rs> = -<pq||sr> = <rs||pq>.
    """
    stacks = {"o": occupied, "v": virtual}
    return {name: antisymmetrized(eri, *(stacks[c] for c in name)) for name in names}


def fock_blocks(fock_ao, occupied, virtual):
    """{"oo", "ov", "vv"} spin-orbital Fock blocks."""
    return {"oo": spin_fock(fock_ao, occupied, occupied), "ov": spin_fock(fock_ao, occupied, virtual),
            "vv": spin_fock(fock_ao, virtual, virtual)}


def integral_bytes(nao: int, nocc: int, nvir: int) -> int:
    """Estimated peak bytes of the blocks and the coupled-cluster work arrays.

    nocc, nvir count spin orbitals. The vvvv block, its transformation intermediate and
    the W_abef intermediate are the large terms (three v^4 arrays), then the ovvv-sized
    arrays (the block, its transpose and the triples' per-pair work, o v^3 each).
    """
    o, v = nocc, nvir
    doubles = 3 * v**4 + 6 * o * v**3 + 8 * o * o * v * v + 4 * o**3 * v + o**4 + 2 * nao**4
    return 8 * doubles
