"""One-electron integrals: overlap, kinetic energy, nuclear attraction, dipole.

McMurchie-Davidson (Helgaker, Jorgensen & Olsen, ch. 9): with E^{ij}_t the 1D Hermite
coefficients of a primitive pair and p = alpha + beta,

* overlap         S^{ij} = E^{ij}_0 sqrt(pi/p)                           (per direction)
* multipole       <i|x_C|j> = (E^{ij}_1 + X_PC E^{ij}_0) sqrt(pi/p)      (eq. 9.5.30)
* kinetic         T^{ij} = -1/2 [j(j-1) S^{i,j-2} - 2b(2j+1) S^{ij} + 4b^2 S^{i,j+2}]
* nuclear         V = -Z (2 pi/p) sum_tuv E^{ab}_{tuv} R_{tuv}(p, R_PC)    (eq. 9.9.32)

All matrices are (nao, nao) in Hartree atomic units, AO order as PySCF. Coordinates
(Bohr, (natom, 3)) are traced, so every integral is differentiable with respect to them.
"""

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from ..basis.spherical import cart_to_sph, cartesian_powers, cartesian_prefactor
from .batching import chunk_size_for, map_chunks
from .hermite import cartesian_hermite_matrix, hermite_coulomb, hermite_expansion_1d, n_hermite
from .plan import pair_plan


@lru_cache(maxsize=None)
def ao_transform(l: int, cartesian: bool) -> np.ndarray:
    """Matrix (nfunc, ncart) from raw Cartesian monomials to the shell's AOs (PySCF norms)."""
    base = np.eye(len(cartesian_powers(l))) if cartesian else cart_to_sph(l)
    return base * cartesian_prefactor(l)


def _pair_geometry(alpha, beta, a, b):
    p = alpha + beta
    centre = (alpha[:, None] * a + beta[:, None] * b) / p[:, None]
    ab = a - b
    prefactor = jnp.exp(-(alpha * beta / p) * jnp.sum(ab * ab, axis=-1))
    return p, centre, prefactor


@partial(jax.jit, static_argnums=(0, 1, 2))
def hermite_pair_kernel(la, lb, cartesian, alpha, beta, coef, a, b):
    """Per primitive pair: p (C,), P (C,3), and E^{ab}_{tuv} (C, nfa*nfb, K) in AO basis.

    Contraction coefficients and exp(-mu |AB|^2) are folded into E.
    """
    p, centre, prefactor = _pair_geometry(alpha, beta, a, b)
    e1d = hermite_expansion_1d(la, lb, p, centre - a, centre - b)
    e_cart = cartesian_hermite_matrix(cartesian_powers(la), cartesian_powers(lb), e1d)
    ta, tb = ao_transform(la, cartesian), ao_transform(lb, cartesian)
    e_ao = jnp.einsum("ax,by,cxyh->cabh", ta, tb, e_cart) * (coef * prefactor)[:, None, None, None]
    return p, centre, e_ao.reshape(len(p), ta.shape[0] * tb.shape[0], -1)


@partial(jax.jit, static_argnums=(0, 1, 2))
def _overlap_kinetic_dipole_kernel(la, lb, cartesian, origin, alpha, beta, coef, a, b):
    """Per primitive pair: (C, 5, nfa, nfb) = overlap, kinetic, dipole x, y, z."""
    p, centre, prefactor = _pair_geometry(alpha, beta, a, b)
    e1d = hermite_expansion_1d(la, lb + 2, p, centre - a, centre - b)
    root = jnp.sqrt(jnp.pi / p)[:, None, None, None]
    s1d = e1d[..., 0] * root
    moment = (e1d[..., : lb + 1, 1] + (centre - origin)[:, :, None, None] * e1d[..., : lb + 1, 0]) * root
    j = np.arange(lb + 1)
    b2 = beta[:, None, None, None]
    lower = np.where(j >= 2, j - 2, 0)
    kin = -0.5 * (
        (j * (j - 1)) * s1d[..., lower]
        - 2.0 * b2 * (2 * j + 1) * s1d[..., j]
        + 4.0 * b2 * b2 * s1d[..., j + 2]
    )
    pa, pb = cartesian_powers(la), cartesian_powers(lb)

    def pick(table, d):
        return table[:, d, pa[:, None, d], pb[None, :, d]]

    s = [pick(s1d, d) for d in range(3)]
    t = [pick(kin, d) for d in range(3)]
    m = [pick(moment, d) for d in range(3)]
    overlap = s[0] * s[1] * s[2]
    kinetic = t[0] * s[1] * s[2] + s[0] * t[1] * s[2] + s[0] * s[1] * t[2]
    dipole = [m[0] * s[1] * s[2], s[0] * m[1] * s[2], s[0] * s[1] * m[2]]
    cart = jnp.stack([overlap, kinetic] + dipole, axis=1)
    ta, tb = ao_transform(la, cartesian), ao_transform(lb, cartesian)
    return jnp.einsum("ax,by,cqxy->cqab", ta, tb, cart) * (coef * prefactor)[:, None, None, None]


@partial(jax.jit, static_argnums=(0,))
def _point_charge_kernel(degree, p, centre, charge_position, charge):
    """Per (primitive pair, point charge): -Z (2 pi / p) R_tuv(p, P - C), shape (C, K)."""
    r = hermite_coulomb(degree, p, centre - charge_position)
    return (-2.0 * jnp.pi * charge / p)[:, None] * r


def _assemble(basis, blocks_by_class, leading=()):
    """Scatter shell-pair blocks (npair, *leading, nfa, nfb) of each pair class into (*leading, nao, nao)."""
    nao = basis.nao
    out = jnp.zeros(leading + (nao, nao))
    for pc, block in zip(pair_plan(basis), blocks_by_class):
        if pc.npair == 0:
            continue
        na, nb = block.shape[-2:]
        rows = basis.ao_offset[pc.shell_a][:, None, None] + np.arange(na)[None, :, None]
        cols = basis.ao_offset[pc.shell_b][:, None, None] + np.arange(nb)[None, None, :]
        rows, cols = np.broadcast_to(rows, (pc.npair, na, nb)), np.broadcast_to(cols, (pc.npair, na, nb))
        values = jnp.moveaxis(block, 0, -3) if leading else block
        out = out.at[..., rows, cols].set(values)
        out = out.at[..., cols, rows].set(values)
    return out


def _prim_centres(pc, coords):
    return coords[pc.prim_atom_a], coords[pc.prim_atom_b]


def one_electron_matrices(basis, coords, origin=(0.0, 0.0, 0.0)):
    """Overlap, kinetic and dipole integrals.

    Parameters
    ----------
    basis : BasisSet
    coords : array (natom, 3), Bohr
    origin : (3,) Bohr, origin of the dipole operator (PySCF's default is (0, 0, 0))

    Returns
    -------
    overlap (nao, nao), kinetic (nao, nao), dipole (3, nao, nao) = <i|r - origin|j>
    """
    coords = jnp.asarray(coords, dtype=jnp.float64)
    origin = jnp.asarray(origin, dtype=jnp.float64)
    blocks = []
    for pc in pair_plan(basis):
        a, b = _prim_centres(pc, coords)
        kernel = partial(_overlap_kinetic_dipole_kernel, pc.la, pc.lb, basis.cartesian)
        chunk = chunk_size_for(5 * (pc.la + 3) * (pc.lb + 5) ** 2 * 8, budget=1 << 20)
        prim = map_chunks(kernel, (pc.prim_alpha, pc.prim_beta, pc.prim_coef, a, b), chunk, shared=(origin,))
        blocks.append(jax.ops.segment_sum(prim, pc.prim_pair, pc.npair))
    stacked = _assemble(basis, blocks, leading=(5,))
    return stacked[0], stacked[1], stacked[2:]


def hermite_pairs(basis, coords):
    """Per pair class: (p, P, E) of every primitive pair, see :func:`hermite_pair_kernel`."""
    coords = jnp.asarray(coords, dtype=jnp.float64)
    out = []
    for pc in pair_plan(basis):
        a, b = _prim_centres(pc, coords)
        kernel = partial(hermite_pair_kernel, pc.la, pc.lb, basis.cartesian)
        nf = ao_transform(pc.la, False).shape[1] * ao_transform(pc.lb, False).shape[1]
        chunk = chunk_size_for(nf * n_hermite(pc.la + pc.lb) * 4, budget=1 << 21)
        out.append(map_chunks(kernel, (pc.prim_alpha, pc.prim_beta, pc.prim_coef, a, b), chunk))
    return out


def point_charge_matrix(basis, coords, charges, charge_positions, pairs=None):
    """Sum_C <i| -Z_C / |r - R_C| |j> for point charges Z_C at R_C (Bohr), shape (nao, nao).

    With ``charges`` = atomic numbers and ``charge_positions`` = ``coords`` this is the
    nuclear attraction matrix. ``pairs`` may pass precomputed :func:`hermite_pairs`.
    """
    charges = jnp.asarray(charges, dtype=jnp.float64)
    charge_positions = jnp.asarray(charge_positions, dtype=jnp.float64)
    pairs = hermite_pairs(basis, coords) if pairs is None else pairs
    ncharge = charges.shape[0]
    blocks = []
    for pc, (p, centre, e_ao) in zip(pair_plan(basis), pairs):
        degree = pc.la + pc.lb
        which_pair = np.repeat(np.arange(pc.nprim_pair), ncharge)
        which_charge = np.tile(np.arange(ncharge), pc.nprim_pair)
        kernel = partial(_point_charge_kernel, degree)
        chunk = chunk_size_for(n_hermite(degree) * (degree + 2) * 4, budget=1 << 21)
        r = map_chunks(
            kernel,
            (p[which_pair], centre[which_pair], charge_positions[which_charge], charges[which_charge]),
            chunk,
        )
        r = jax.ops.segment_sum(r, which_pair, pc.nprim_pair)
        prim = jnp.einsum("cfh,ch->cf", e_ao, r)
        block = jax.ops.segment_sum(prim, pc.prim_pair, pc.npair)
        na = ao_transform(pc.la, basis.cartesian).shape[0]
        blocks.append(block.reshape(pc.npair, na, -1))
    return _assemble(basis, blocks)
