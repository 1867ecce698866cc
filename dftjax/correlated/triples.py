"""The (T) correction in spin orbitals, valid to first order in non-canonical orbitals.

Canonical orbitals (Raghavachari et al., Chem. Phys. Lett. 157, 479 (1989); spin-orbital
form as in T. D. Crawford's project #6):

    D t(c) = W_c = P(i/jk) P(a/bc) [sum_e t_jk^ae <ei||bc> - sum_m t_im^bc <ma||jk>]
    D t(d) = W_d = P(i/jk) P(a/bc) t_i^a <jk||bc>
    E(T) = 1/36 sum_ijkabc W_c (W_c + W_d) / D,  D = f_ii + f_jj + f_kk - f_aa - f_bb - f_cc

with P(i/jk) g(ijk) = g(ijk) - g(jik) - g(kji). In non-canonical orbitals D becomes the
operator A = D + A' with A' the occupied-occupied and virtual-virtual off-diagonal Fock
terms, and E(T) = 1/36 W_c^T A^-1 (W_c + W_d), which is invariant to occupied-occupied
and virtual-virtual rotations. Here A^-1 is expanded to first order,
A^-1 ~ D^-1 - D^-1 A' D^-1, so with X = W_c / D and Y = (W_c + W_d) / D (antisymmetric in
ijk and abc, which turns A''s three terms per index set into three equal ones)

    E(T) = 1/36 [sum X (W_c + W_d) - 3 (sum X_ijk^abc f'_il Y_ljk^abc
                                        - sum X_ijk^abc f'_ad Y_ijk^dbc)],

f' the Fock matrix without its diagonal. The code evaluates it at canonical (or
semicanonical) orbitals, where f' ~ 0, so the value is exact to O(f'^2), and its
first derivative is exact: this is how the orbital response of (T) enters the relaxed
density without diagonalising (whose eigenvector derivatives are undefined at
degenerate orbitals).

Work is batched over occupied pairs j < k (all i at once, o v^3 per batch) inside a
checkpointed ``lax.scan``, so neither the triples nor their derivatives are ever stored.
"""

import jax
import jax.numpy as jnp
import numpy as np


def _permute_abc(x):
    """P(a/bc) on the last three axes: x_abc - x_bac - x_cba."""
    return x - x.swapaxes(-3, -2) - x.swapaxes(-3, -1)


def triples_energy(t1, t2, params):
    """E(T) (Ha) from converged CCSD amplitudes; params as for the CCSD residual."""
    f, v = params["f"], params["v"]
    nocc = t1.shape[0]
    vovv = -v["ovvv"].transpose(1, 0, 2, 3)    # <ei||bc> as [e, i, b, c]
    ovoo = v["ooov"].transpose(2, 3, 0, 1)     # <ma||jk> as [m, a, j, k]
    oovv = v["oovv"]
    eo, ev = jnp.diag(f["oo"]), jnp.diag(f["vv"])
    f_oo = f["oo"] - jnp.diag(eo)
    f_vv = f["vv"] - jnp.diag(ev)
    d_vvv = -(ev[:, None, None] + ev[None, :, None] + ev[None, None, :])
    j_index, k_index = np.triu_indices(nocc, 1)

    @jax.checkpoint
    def pair_energy(j, k):
        # g(i, j, k) for all i, then g(j, i, k) and g(k, j, i): P(i/jk) in the batch.
        w = (jnp.einsum("ae,eibc->iabc", t2[j, k], vovv)
             - jnp.einsum("imbc,ma->iabc", t2, ovoo[:, :, j, k])
             - jnp.einsum("iae,ebc->iabc", t2[:, k], vovv[:, j])
             + jnp.einsum("mbc,mai->iabc", t2[j], ovoo[:, :, :, k])
             - jnp.einsum("iae,ebc->iabc", t2[j, :], vovv[:, k])
             + jnp.einsum("mbc,mai->iabc", t2[k], ovoo[:, :, j, :]))
        wd = (jnp.einsum("ia,bc->iabc", t1, oovv[j, k])
              - jnp.einsum("a,ibc->iabc", t1[j], oovv[:, k])
              - jnp.einsum("a,ibc->iabc", t1[k], oovv[j, :]))
        wc, wd = _permute_abc(w), _permute_abc(wd)
        denominator = (eo[:, None, None, None] + eo[j] + eo[k]) + d_vvv[None]
        x = wc / denominator
        z = wc + wd
        y = z / denominator
        correction = (jnp.einsum("iabc,il,labc->", x, f_oo, y)
                      - jnp.einsum("iabc,ad,idbc->", x, f_vv, y))
        return jnp.sum(x * z) - 3.0 * correction

    def body(total, jk):
        return total + pair_energy(jk[0], jk[1]), None

    pairs = jnp.asarray(np.stack([j_index, k_index], axis=1))
    total, _ = jax.lax.scan(body, jnp.zeros(()), pairs)
    return 2.0 * total / 36.0
