"""MP2, CCSD and (T) for closed shells in spatial orbitals (spin-adapted).

An RHF reference has the same orbitals for both spins, so the spin-orbital equations
(:mod:`dftjax.correlated.equations`) can be summed over spin once and for all. What is
left runs over spatial orbitals: half the indices of each kind, so the v^4 arrays are
16 times smaller and the work 16-64 times less. Amplitudes t1[i, a] (o, v) and
t2[i, j, a, b] (o, o, v, v) are those of the alpha-beta pairs, with
t2[i, j, a, b] = t2[j, i, b, a]; the same-spin doubles are t2 - t2 with ab swapped.

Integrals are in chemists' notation, (ia|jb) = ``v["ovov"][i, a, j, b]``, from
:func:`integral_blocks`; params = {"f": Fock blocks, "v": integral blocks}, as in the
spin-orbital code, so the solver, the denominators and the relaxed-density machinery
are shared. As there, the full Fock matrix is kept (non-canonical form), so energies
depend on the orbitals only through the reference density.

CCSD: the spin-adapted equations of S. Hirata, P.-D. Fan, A. A. Auer, M. Nooijen and
P. Piecuch, J. Chem. Phys. 121, 12197 (2004), in the factorisation of G. E. Scuseria,
A. C. Scheiner, T. J. Lee, J. E. Rice and H. F. Schaefer, J. Chem. Phys. 86, 2881 (1987)
(intermediates F, L, W below). (T): A. P. Rendell, T. J. Lee and A. Komornicki, Chem.
Phys. Lett. 178, 462 (1991), with the first-order non-canonical correction of
:mod:`dftjax.correlated.triples`.
"""

import jax
import jax.numpy as jnp
import numpy as np

BLOCKS = ("oooo", "ovoo", "ovov", "oovv", "ovvv", "vvvv")


def mo_integrals(eri, c1, c2, c3, c4):
    """(pq|rs) = sum C1_up C2_vq C3_lr C4_ks (uv|lk); eri (nao,)*4, c (nao, n)."""
    half = jnp.einsum("up,vq,uvlk->pqlk", c1, c2, eri)
    return jnp.einsum("pqlk,lr,ks->pqrs", half, c3, c4)


def integral_blocks(eri, occupied, virtual, names=BLOCKS):
    """Blocks of (pq|rs) by name ("ovov": (ia|jb), ...); occupied (nao, o), virtual
    (nao, v) spatial orbitals. CCSD reads :data:`BLOCKS`; others follow from
    (pq|rs) = (qp|rs) = (rs|pq)."""
    orbitals = {"o": occupied, "v": virtual}
    return {name: mo_integrals(eri, *(orbitals[c] for c in name)) for name in names}


def fock_blocks(fock, occupied, virtual):
    """{"oo", "ov", "vv"} blocks of the spatial Fock matrix fock (nao, nao)."""
    return {"oo": occupied.T @ fock @ occupied, "ov": occupied.T @ fock @ virtual,
            "vv": virtual.T @ fock @ virtual}


def integral_bytes(nao: int, nocc: int, nvir: int) -> int:
    """Estimated peak bytes (spatial orbital counts): the vvvv block, its transformation
    intermediate and W_abcd (three v^4 arrays), the ovvv-sized arrays (the block and the
    triples' per-pair work), the doubles-sized intermediates and the AO tensor."""
    o, v = nocc, nvir
    words = 3 * v**4 + 6 * o * v**3 + 12 * o * o * v * v + 4 * o**3 * v + o**4 + 2 * nao**4
    return 8 * words


def _pair_sym(x):
    """x_ijab + x_jiba: the two spin-orbital terms that a spin sum folds into one."""
    return x + x.transpose(1, 0, 3, 2)


def symmetrize(t2):
    """The projection onto doubles with t2[i, j, a, b] = t2[j, i, b, a], where the
    solution lives (the Lambda equations are solved in this subspace)."""
    return 0.5 * _pair_sym(t2)


def ccsd_project(t):
    return t[0], symmetrize(t[1])


def _exchange(ovov):
    """2 (kc|ld) - (kd|lc) as [k, c, l, d]: the spin sum of a direct and exchange pair."""
    return 2.0 * ovov - ovov.transpose(0, 3, 2, 1)


def mp2_residual(t2, params):
    """(ia|jb) + P [sum_c f_ac t_ijcb - sum_k f_ki t_kjab], P = 1 + (ij)(ab)."""
    f = params["f"]
    return (params["v"]["ovov"].transpose(0, 2, 1, 3)
            + _pair_sym(jnp.einsum("ac,ijcb->ijab", f["vv"], t2)
                        - jnp.einsum("ki,kjab->ijab", f["oo"], t2)))


def mp2_energy(t2, params):
    """sum_ijab t_ijab [2 (ia|jb) - (ib|ja)] (Ha)."""
    return jnp.einsum("iajb,ijab->", _exchange(params["v"]["ovov"]), t2)


def _tau(t):
    t1, t2 = t
    return t2 + jnp.einsum("ia,jb->ijab", t1, t1)


def ccsd_energy(t, params):
    """2 sum f_ia t_ia + sum [2 (ia|jb) - (ib|ja)] (t_ijab + t_ia t_jb) (Ha)."""
    return (2.0 * jnp.sum(params["f"]["ov"] * t[0])
            + jnp.einsum("iajb,ijab->", _exchange(params["v"]["ovov"]), _tau(t)))


def ccsd_residual(t, params):
    """(R1 (o, v), R2 (o, o, v, v)) of the closed-shell CCSD equations, R = 0 at the
    solution; R = RHS - D t with D the orbital-energy differences (the diagonal Fock
    terms are inside the F and L intermediates)."""
    t1, t2 = t
    f, v = params["f"], params["v"]
    oooo, ovoo, ovov, oovv, ovvv, vvvv = (v[k] for k in BLOCKS)
    ovvo = ovov.transpose(0, 1, 3, 2)      # (kc|ai) as [k, c, a, i]
    exchange = _exchange(ovov)
    tau = _tau(t)

    # One-body intermediates: dressed Fock blocks.
    foo = f["oo"] + jnp.einsum("kcld,ilcd->ki", exchange, tau)
    fvv = f["vv"] - jnp.einsum("kcld,klad->ac", exchange, tau)
    fov = f["ov"] + jnp.einsum("kcld,ld->kc", exchange, t1)
    loo = (foo + jnp.einsum("kc,ic->ki", f["ov"], t1)
           + jnp.einsum("lcki,lc->ki", 2.0 * ovoo - ovoo.transpose(2, 1, 0, 3), t1))
    lvv = (fvv - jnp.einsum("kc,ka->ac", f["ov"], t1)
           + jnp.einsum("kdac,kd->ac", 2.0 * ovvv - ovvv.transpose(0, 3, 2, 1), t1))

    # Two-body intermediates.
    woooo = (oooo.transpose(0, 2, 1, 3) + jnp.einsum("lcki,jc->klij", ovoo, t1)
             + jnp.einsum("kclj,ic->klij", ovoo, t1) + jnp.einsum("kcld,ijcd->klij", ovov, tau))
    wvvvv = (vvvv.transpose(0, 2, 1, 3) - jnp.einsum("kdac,kb->abcd", ovvv, t1)
             - jnp.einsum("kcbd,ka->abcd", ovvv, t1))
    wvoov = (ovvo.transpose(2, 0, 3, 1) + jnp.einsum("kcad,id->akic", ovvv, t1)
             - jnp.einsum("kcli,la->akic", ovoo, t1)
             - jnp.einsum("ldkc,id,la->akic", ovov, t1, t1)
             + jnp.einsum("ldkc,ilad->akic", ovov, t2 - 0.5 * t2.transpose(0, 1, 3, 2))
             - 0.5 * jnp.einsum("lckd,ilad->akic", ovov, t2))
    wvovo = (oovv.transpose(2, 0, 3, 1) + jnp.einsum("kdac,id->akci", ovvv, t1)
             - jnp.einsum("lcki,la->akci", ovoo, t1)
             - jnp.einsum("lckd,ilda->akci", ovov, 0.5 * t2 + jnp.einsum("id,la->ilda", t1, t1)))

    r1 = (f["ov"] - 2.0 * jnp.einsum("kc,ka,ic->ia", f["ov"], t1, t1)
          + jnp.einsum("ac,ic->ia", fvv, t1) - jnp.einsum("ki,ka->ia", foo, t1)
          + jnp.einsum("kc,kica->ia", fov, 2.0 * t2 - t2.transpose(1, 0, 2, 3))
          + jnp.einsum("kc,ic,ka->ia", fov, t1, t1)
          + jnp.einsum("kcai,kc->ia", 2.0 * ovvo, t1) - jnp.einsum("kiac,kc->ia", oovv, t1)
          + jnp.einsum("kdac,ikcd->ia", 2.0 * ovvv - ovvv.transpose(0, 3, 2, 1), tau)
          - jnp.einsum("lcki,klac->ia", 2.0 * ovoo - ovoo.transpose(2, 1, 0, 3), tau))

    x = jnp.einsum("iacb,jc->ijab", ovvv, t1) - jnp.einsum("kibc,ka,jc->ijab", oovv, t1, t1)
    y = jnp.einsum("iajk,kb->ijab", ovoo, t1) + jnp.einsum("kcai,jc,kb->ijab", ovvo, t1, t1)
    r2 = (ovov.transpose(0, 2, 1, 3) + _pair_sym(x - y)
          + jnp.einsum("klij,klab->ijab", woooo, tau) + jnp.einsum("abcd,ijcd->ijab", wvvvv, tau)
          + _pair_sym(jnp.einsum("ac,ijcb->ijab", lvv, t2) - jnp.einsum("ki,kjab->ijab", loo, t2)
                      + jnp.einsum("akic,kjcb->ijab", 2.0 * wvoov - wvovo.transpose(0, 1, 3, 2), t2)
                      - jnp.einsum("akic,kjbc->ijab", wvoov, t2)
                      - jnp.einsum("bkci,kjac->ijab", wvovo, t2)))
    return r1, r2


def _r3(x):
    """4 x_abc + x_bca + x_cab - 2 x_cba - 2 x_acb - 2 x_bac on the last three axes: the
    spin sum of the triples' antisymmetriser (a class function of the permutation, so it
    acts alike on abc or on ijk)."""
    return (4.0 * x + x.transpose(0, 2, 3, 1) + x.transpose(0, 3, 1, 2)
            - 2.0 * x.transpose(0, 3, 2, 1) - 2.0 * x.transpose(0, 1, 3, 2)
            - 2.0 * x.transpose(0, 2, 1, 3))


def triples_energy(t1, t2, params):
    """E(T) (Ha) from converged closed-shell CCSD amplitudes.

    With P the sum over the six simultaneous permutations of (ia), (jb), (kc):

        W_ijk^abc = P [sum_d (ia|bd) t_kj^cd - sum_l (kc|jl) t_il^ab]
        V_ijk^abc = W + t_i^a (jb|kc) + t_j^b (ia|kc) + t_k^c (ia|jb)
        E(T) = 1/3 sum W r3(V) / D_ijk^abc

    evaluated, as the spin-orbital (T), in its first-order non-canonical form
    E = 1/3 [sum X r3(V) - 3 (sum X_ijk f'_il Z_ljk - sum X^abc f'_ad Z^dbc)] with
    X = W / D, Z = r3(V) / D and f' the off-diagonal Fock matrix (W and r3(V) are
    symmetric under simultaneous permutations, so the three index slots of each kind
    contribute alike). Batched over occupied pairs j <= k (all i at once, o v^3 each)
    in a checkpointed scan: every (j, k) term equals its (k, j) term.
    """
    f, v = params["f"], params["v"]
    ovvv, ovoo, ovov = v["ovvv"], v["ovoo"], v["ovov"]
    nocc = t1.shape[0]
    eo, ev = jnp.diag(f["oo"]), jnp.diag(f["vv"])
    f_oo = f["oo"] - jnp.diag(eo)
    f_vv = f["vv"] - jnp.diag(ev)
    d_vvv = -(ev[:, None, None] + ev[None, :, None] + ev[None, None, :])
    j_index, k_index = np.triu_indices(nocc)

    @jax.checkpoint
    def pair_energy(j, k):
        # The six permutations of g(i,j,k,a,b,c) = sum_d (ia|bd) t_kj^cd - sum_l (kc|jl) t_il^ab
        # with i free, as [i, a, b, c].
        w = (jnp.einsum("iabd,cd->iabc", ovvv, t2[k, j])
             - jnp.einsum("cl,ilab->iabc", ovoo[k, :, j], t2)
             + jnp.einsum("iacd,bd->iabc", ovvv, t2[j, k])
             - jnp.einsum("bl,ilac->iabc", ovoo[j, :, k], t2)
             + jnp.einsum("bad,icd->iabc", ovvv[j], t2[k])
             - jnp.einsum("cil,lba->iabc", ovoo[k], t2[j])
             + jnp.einsum("bcd,iad->iabc", ovvv[j], t2[:, k])
             - jnp.einsum("ial,lbc->iabc", ovoo[:, :, k], t2[j])
             + jnp.einsum("cad,ibd->iabc", ovvv[k], t2[j])
             - jnp.einsum("bil,lca->iabc", ovoo[j], t2[k])
             + jnp.einsum("cbd,iad->iabc", ovvv[k], t2[:, j])
             - jnp.einsum("ial,lcb->iabc", ovoo[:, :, j], t2[k]))
        singles = (jnp.einsum("ia,bc->iabc", t1, ovov[j, :, k])
                   + jnp.einsum("b,iac->iabc", t1[j], ovov[:, :, k])
                   + jnp.einsum("c,iab->iabc", t1[k], ovov[:, :, j]))
        denominator = (eo[:, None, None, None] + eo[j] + eo[k]) + d_vvv[None]
        r3v = _r3(w + singles)
        x = w / denominator
        z = r3v / denominator
        correction = (jnp.einsum("iabc,il,labc->", x, f_oo, z)
                      - jnp.einsum("iabc,ad,idbc->", x, f_vv, z))
        weight = jnp.where(j == k, 1.0, 2.0)
        return weight * (jnp.sum(x * r3v) - 3.0 * correction)

    def body(total, jk):
        return total + pair_energy(jk[0], jk[1]), None

    pairs = jnp.asarray(np.stack([j_index, k_index], axis=1))
    total, _ = jax.lax.scan(body, jnp.zeros(()), pairs)
    return total / 3.0
