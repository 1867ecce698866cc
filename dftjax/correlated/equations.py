"""MP2 and CCSD amplitude equations and energies, spin orbitals, any orbitals.

The equations hold the full Fock matrix (occupied-occupied and virtual-virtual
off-diagonal blocks and the occupied-virtual block), so they are valid in non-canonical
orbitals and the energies are invariant to rotations among the occupied and among the
virtual orbitals: they depend on the orbitals only through the reference density.
That is what makes their derivatives with respect to the density safe (no eigenvector
derivatives). Residuals are written R(t) = RHS(t) - D t with the diagonal Fock terms
kept inside, so R = 0 is the full equation and D (orbital-energy differences) serves
only as the preconditioner.

CCSD: J. F. Stanton, J. Gauss, J. D. Watts and R. J. Bartlett, J. Chem. Phys. 94,
4334 (1991), with the intermediates F_ae, F_mi, F_me, W_mnij, W_abef, W_mbej as in
T. D. Crawford's programming projects (#5). Amplitudes t1[i, a] (o, v),
t2[i, j, a, b] (o, o, v, v), antisymmetric; integrals from
:func:`dftjax.correlated.spin_orbitals.integral_blocks`; params = {"f": Fock blocks,
"v": integral blocks}.
"""

import jax.numpy as jnp


def _swap_ij(x):
    return x.transpose(1, 0, 2, 3)


def _swap_ab(x):
    return x.transpose(0, 1, 3, 2)


def antisymmetrize(t2):
    """The projection of (o, o, v, v) onto tensors antisymmetric in ij and in ab.

    The residuals map antisymmetric amplitudes to antisymmetric residuals, but their
    transposed Jacobians do not (a term P(ab) x_ijae f_be, transposed, is not
    antisymmetric in a, e), so the Lambda equations are solved in this subspace.
    """
    t2 = 0.5 * (t2 - _swap_ij(t2))
    return 0.5 * (t2 - _swap_ab(t2))


def ccsd_project(t):
    return t[0], antisymmetrize(t[1])


def denominators(params):
    """(D1 (o, v), D2 (o, o, v, v)): f_ii - f_aa and f_ii + f_jj - f_aa - f_bb."""
    eo, ev = jnp.diag(params["f"]["oo"]), jnp.diag(params["f"]["vv"])
    d1 = eo[:, None] - ev[None, :]
    return d1, d1[:, None, :, None] + d1[None, :, None, :]


def mp2_denominators(params):
    return denominators(params)[1]


def mp2_residual(t2, params):
    """<ij||ab> + P(ab) sum_e t_ij^ae f_be - P(ij) sum_m t_im^ab f_mj."""
    f = params["f"]
    virt = jnp.einsum("ijae,be->ijab", t2, f["vv"])
    occ = jnp.einsum("imab,mj->ijab", t2, f["oo"])
    return params["v"]["oovv"] + virt - _swap_ab(virt) - occ + _swap_ij(occ)


def mp2_energy(t2, params):
    """1/4 sum <ij||ab> t_ij^ab (Ha)."""
    return 0.25 * jnp.sum(params["v"]["oovv"] * t2)


def ccsd_energy(t, params):
    """sum f_ia t_i^a + 1/4 sum <ij||ab> t_ij^ab + 1/2 sum <ij||ab> t_i^a t_j^b (Ha)."""
    t1, t2 = t
    oovv = params["v"]["oovv"]
    return (jnp.sum(params["f"]["ov"] * t1) + 0.25 * jnp.sum(oovv * t2)
            + 0.5 * jnp.einsum("ijab,ia,jb->", oovv, t1, t1))


def ccsd_residual(t, params):
    """(R1 (o, v), R2 (o, o, v, v)) of the CCSD equations."""
    t1, t2 = t
    f, v = params["f"], params["v"]
    oooo, ooov, oovv, ovov, ovvv, vvvv = (v[k] for k in ("oooo", "ooov", "oovv", "ovov",
                                                          "ovvv", "vvvv"))
    ovvo = -ovov.transpose(0, 1, 3, 2)     # <mb||ej>
    oovo = -ooov.transpose(0, 1, 3, 2)     # <mn||ej>
    vovv = -ovvv.transpose(1, 0, 2, 3)     # <am||ef>
    vvvo = -ovvv.transpose(2, 3, 1, 0)     # <ab||ej>
    ovoo = ooov.transpose(2, 3, 0, 1)      # <mb||ij>
    single_pair = jnp.einsum("ia,jb->ijab", t1, t1)
    tau_tilde = t2 + 0.5 * (single_pair - _swap_ab(single_pair))
    tau = t2 + single_pair - _swap_ab(single_pair)

    fae = (f["vv"] - 0.5 * jnp.einsum("me,ma->ae", f["ov"], t1)
           + jnp.einsum("mf,mafe->ae", t1, ovvv)
           - 0.5 * jnp.einsum("mnaf,mnef->ae", tau_tilde, oovv))
    fmi = (f["oo"] + 0.5 * jnp.einsum("ie,me->mi", t1, f["ov"])
           + jnp.einsum("ne,mnie->mi", t1, ooov)
           + 0.5 * jnp.einsum("inef,mnef->mi", tau_tilde, oovv))
    fme = f["ov"] + jnp.einsum("nf,mnef->me", t1, oovv)
    x = jnp.einsum("je,mnie->mnij", t1, ooov)
    wmnij = oooo + x - _swap_ab(x) + 0.25 * jnp.einsum("ijef,mnef->mnij", tau, oovv)
    y = jnp.einsum("mb,amef->abef", t1, vovv)
    wabef = vvvv - y + _swap_ij(y) + 0.25 * jnp.einsum("mnab,mnef->abef", tau, oovv)
    wmbej = (ovvo + jnp.einsum("jf,mbef->mbej", t1, ovvv)
             - jnp.einsum("nb,mnej->mbej", t1, oovo)
             - jnp.einsum("jnfb,mnef->mbej", 0.5 * t2 + jnp.einsum("jf,nb->jnfb", t1, t1), oovv))

    r1 = (f["ov"] + jnp.einsum("ie,ae->ia", t1, fae) - jnp.einsum("ma,mi->ia", t1, fmi)
          + jnp.einsum("imae,me->ia", t2, fme) - jnp.einsum("nf,naif->ia", t1, ovov)
          - 0.5 * jnp.einsum("imef,maef->ia", t2, ovvv)
          - 0.5 * jnp.einsum("mnae,nmei->ia", t2, oovo))

    a = jnp.einsum("ijae,be->ijab", t2, fae - 0.5 * jnp.einsum("mb,me->be", t1, fme))
    b = jnp.einsum("imab,mj->ijab", t2, fmi + 0.5 * jnp.einsum("je,me->mj", t1, fme))
    c = (jnp.einsum("imae,mbej->ijab", t2, wmbej)
         - jnp.einsum("ie,ma,mbej->ijab", t1, t1, ovvo))
    e = jnp.einsum("ie,abej->ijab", t1, vvvo)
    g = jnp.einsum("ma,mbij->ijab", t1, ovoo)
    r2 = (oovv + a - _swap_ab(a) - b + _swap_ij(b)
          + 0.5 * jnp.einsum("mnab,mnij->ijab", tau, wmnij)
          + 0.5 * jnp.einsum("ijef,abef->ijab", tau, wabef)
          + c - _swap_ij(c) - _swap_ab(c) + _swap_ab(_swap_ij(c))
          + e - _swap_ij(e) - g + _swap_ab(g))
    return r1, r2
