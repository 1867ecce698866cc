"""Pallas kernels for the two contractions of dftjax's blocked XC path.

On one block of B grid points with n AOs (values phi and gradients grad phi, ``ao``
(ncomp, B, n)):

* :func:`block_density`: rho_s = sum_mn phi_m D_s,mn phi_n, grad rho_s = 2 sum_mn phi_m
  D_s,mn grad phi_n, tau_s = 1/2 sum_mn grad phi_m . grad phi_n D_s,mn, fused: phi D is
  formed tile by tile and reduced at once, never written out as a (B, n) array;
* :func:`block_potential`: V_s = Y_s + Y_s^T with Y_s = phi^T (v_rho phi + g . grad phi) +
  grad phi^T (v_tau grad phi), each program one (tile, tile) block of Y, looping over the
  points.

They are the twins of :func:`dftjax.xc.features.block_density_jax` and
:func:`dftjax.xc.features.block_potential_jax` (same arguments, same results to rounding;
``tests/test_kernels.py`` checks it in interpret mode). Inputs are zero-padded to whole
tiles (``TILE_POINTS`` points, ``TILE_AO`` AOs, powers of two as GPU lowerings want) and
the padding is cut off again. ``interpret=None`` runs compiled on a GPU or TPU and in
Pallas's interpreter elsewhere (slow: for tests).

dftjax calls these only on a GPU or TPU backend (or when ``DFTJAX_KERNELS=pallas``);
their speed there has not been measured yet.
"""

from functools import partial

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

TILE_POINTS = 32
TILE_AO = 32


def _round_up(size, tile):
    return -(-size // tile) * tile


def _pad_to(x, shape):
    return jnp.pad(x, [(0, target - size) for size, target in zip(x.shape, shape)])


def _interpret(interpret):
    return jax.default_backend() not in ("gpu", "tpu") if interpret is None else interpret


def _transposed_dot(a, b):
    """a^T b for a (p, i), b (p, j)."""
    return jax.lax.dot_general(a, b, (((0,), (0,)), ((), ())), preferred_element_type=a.dtype)


def _density_kernel(ao_ref, dm_ref, out_ref, *, ntile, with_grad, with_tau):
    npoint = ao_ref.shape[1]
    zero = jnp.zeros((npoint,), ao_ref.dtype)

    def column_tile(j, rows):
        columns = pl.ds(j * TILE_AO, TILE_AO)

        def inner_tile(k, products):
            inner = pl.ds(k * TILE_AO, TILE_AO)
            block = dm_ref[0, inner, columns]
            return tuple(p + jnp.dot(ao_ref[c, :, inner], block, preferred_element_type=block.dtype)
                         for p, c in zip(products, components))

        start = tuple(jnp.zeros((npoint, TILE_AO), ao_ref.dtype) for _ in components)
        products = jax.lax.fori_loop(0, ntile, inner_tile, start)  # (phi D)[:, columns], ...
        phi_d = products[0]
        rows = list(rows)
        rows[0] = rows[0] + jnp.sum(phi_d * ao_ref[0, :, columns], axis=1)
        if with_grad:
            for x in range(3):
                rows[1 + x] = rows[1 + x] + 2.0 * jnp.sum(phi_d * ao_ref[1 + x, :, columns], axis=1)
        if with_tau:
            rows[-1] = rows[-1] + 0.5 * sum(jnp.sum(products[1 + x] * ao_ref[1 + x, :, columns], axis=1)
                                            for x in range(3))
        return tuple(rows)

    components = (0, 1, 2, 3) if with_tau else (0,)
    nout = 1 + 3 * with_grad + with_tau
    rows = jax.lax.fori_loop(0, ntile, column_tile, (zero,) * nout)
    for i, row in enumerate(rows):
        out_ref[0, i, :] = row


@partial(jax.jit, static_argnames=("with_grad", "with_tau", "interpret"))
def block_density(ao, density, with_grad, with_tau, interpret=None):
    """rho_s, grad rho_s, tau_s on a block of points, (S, 1 + 3 with_grad + with_tau, B).

    ``ao`` (ncomp, B, n) with ncomp = 4 when ``with_grad`` or ``with_tau``; ``density``
    (S, n, n) symmetric.
    """
    ncomp, npoint, nao = ao.shape
    nspin = density.shape[0]
    padded_points, padded_aos = _round_up(npoint, TILE_POINTS), _round_up(nao, TILE_AO)
    ao = _pad_to(ao, (ncomp, padded_points, padded_aos))
    density = _pad_to(density, (nspin, padded_aos, padded_aos))
    nout = 1 + 3 * with_grad + with_tau
    kernel = partial(_density_kernel, ntile=padded_aos // TILE_AO, with_grad=with_grad,
                     with_tau=with_tau)
    out = pl.pallas_call(
        kernel,
        grid=(nspin, padded_points // TILE_POINTS),
        in_specs=[pl.BlockSpec((ncomp, TILE_POINTS, padded_aos), lambda s, t: (0, t, 0)),
                  pl.BlockSpec((1, padded_aos, padded_aos), lambda s, t: (s, 0, 0))],
        out_specs=pl.BlockSpec((1, nout, TILE_POINTS), lambda s, t: (s, 0, t)),
        out_shape=jax.ShapeDtypeStruct((nspin, nout, padded_points), ao.dtype),
        interpret=_interpret(interpret),
    )(ao, density)
    return out[:, :, :npoint]


def _potential_kernel(ao_ref, coef_ref, out_ref, *, npoint_tiles, with_grad, with_tau):
    rows = pl.ds(pl.program_id(1) * TILE_AO, TILE_AO)
    columns = pl.ds(pl.program_id(2) * TILE_AO, TILE_AO)

    def point_tile(t, acc):
        points = pl.ds(t * TILE_POINTS, TILE_POINTS)
        mixed = coef_ref[0, 0, points][:, None] * ao_ref[0, points, columns]
        if with_grad:
            for x in range(3):
                mixed = mixed + coef_ref[0, 1 + x, points][:, None] * ao_ref[1 + x, points, columns]
        acc = acc + _transposed_dot(ao_ref[0, points, rows], mixed)
        if with_tau:
            v_tau = coef_ref[0, 3 * with_grad + 1, points][:, None]
            for x in range(3):
                acc = acc + _transposed_dot(ao_ref[1 + x, points, rows], v_tau * ao_ref[1 + x, points, columns])
        return acc

    out_ref[0] = jax.lax.fori_loop(0, npoint_tiles, point_tile,
                                   jnp.zeros((TILE_AO, TILE_AO), ao_ref.dtype))


@partial(jax.jit, static_argnames=("interpret",))
def block_potential(ao, v_rho, g=None, v_tau=None, interpret=None):
    """V_s = Y_s + Y_s^T, Y_s = phi^T (v_rho phi + g . grad phi) + grad phi^T (v_tau grad phi).

    ``ao`` (ncomp, B, n); ``v_rho`` (S, B); ``g`` (S, 3, B) or None; ``v_tau`` (S, B) or
    None. Returns (S, n, n).
    """
    ncomp, npoint, nao = ao.shape
    nspin = v_rho.shape[0]
    with_grad, with_tau = g is not None, v_tau is not None
    coefficients = [v_rho[:, None]] + ([g] if with_grad else []) + ([v_tau[:, None]] if with_tau else [])
    coefficients = jnp.concatenate(coefficients, axis=1)  # (S, k, B)
    padded_points, padded_aos = _round_up(npoint, TILE_POINTS), _round_up(nao, TILE_AO)
    ao = _pad_to(ao, (ncomp, padded_points, padded_aos))
    coefficients = _pad_to(coefficients, coefficients.shape[:2] + (padded_points,))
    kernel = partial(_potential_kernel, npoint_tiles=padded_points // TILE_POINTS,
                     with_grad=with_grad, with_tau=with_tau)
    ntile = padded_aos // TILE_AO
    y = pl.pallas_call(
        kernel,
        grid=(nspin, ntile, ntile),
        in_specs=[pl.BlockSpec((ncomp, padded_points, padded_aos), lambda s, i, j: (0, 0, 0)),
                  pl.BlockSpec((1,) + coefficients.shape[1:], lambda s, i, j: (s, 0, 0))],
        out_specs=pl.BlockSpec((1, TILE_AO, TILE_AO), lambda s, i, j: (s, i, j)),
        out_shape=jax.ShapeDtypeStruct((nspin, padded_aos, padded_aos), ao.dtype),
        interpret=_interpret(interpret),
    )(ao, coefficients)[:, :nao, :nao]
    return y + jnp.swapaxes(y, -1, -2)
