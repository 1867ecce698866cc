"""The Boys function F_n(T) = int_0^1 t^(2n) exp(-T t^2) dt, for n = 0..n_max at once.

Accuracy about 1e-15 relative for all T >= 0 and n <= MAX_ORDER:

* T < T_SWITCH: seven-term Taylor expansion of the highest order about the nearest
  point of a table with spacing 0.05, ``F_n(T) = sum_k F_{n+k}(T_i) (T_i - T)^k / k!``,
  then the stable downward recursion ``F_{n-1} = (2T F_n + exp(-T)) / (2n-1)``. The
  table comes from the convergent all-positive series
  ``F_n(T) = exp(-T) sum_k (2T)^k / ((2n+1)(2n+3)...(2n+2k+1))``.
* T >= T_SWITCH = 40: ``F_0 = sqrt(pi/T) / 2`` (erf(sqrt 40) = 1 in double precision)
  and upward recursion ``F_{n+1} = ((2n+1) F_n - exp(-T)) / (2T)``, stable because
  2T > 2n+1 there.

The derivative uses the exact identity dF_n/dT = -F_{n+1} (a custom JVP), so it is
exact to all orders and never divides by T; the large-T branch only ever sees T >=
T_SWITCH (double-``where``), so T = 0 is safe in value and gradient.
"""

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from ._fusion import materialize

MAX_ORDER = 32
T_SWITCH = 40.0
_STEP = 0.05
_TAYLOR_TERMS = 7


def _boys_table() -> np.ndarray:
    """F_n(T_i) for T_i = 0, 0.05, ..., T_SWITCH + 0.05 and n = 0..MAX_ORDER + TAYLOR_TERMS."""
    t = np.arange(0.0, T_SWITCH + 2 * _STEP, _STEP)
    n = np.arange(MAX_ORDER + _TAYLOR_TERMS + 1)
    two_n_plus_1 = 2.0 * n[None, :] + 1.0
    term = np.ones((t.size, n.size)) / two_n_plus_1
    total = term.copy()
    for k in range(1, 400):
        term = term * (2.0 * t[:, None]) / (two_n_plus_1 + 2.0 * k)
        total += term
    return np.exp(-t)[:, None] * total


_TABLE = _boys_table()
_INV_FACTORIAL = np.array([1.0 / np.prod(np.arange(1, k + 1)) for k in range(_TAYLOR_TERMS)])


@lru_cache(maxsize=None)
def _taylor_columns(n_max: int):
    """Taylor coefficients F_{n_max+k}(T_i) / k!, k = 0..TAYLOR_TERMS-1, each a contiguous
    (n_table,) column: gathering one value per column is ~3x faster in XLA than gathering
    table rows. Cached, read-only."""
    columns = tuple(np.ascontiguousarray(_TABLE[:, n_max + k] * _INV_FACTORIAL[k])
                    for k in range(_TAYLOR_TERMS))
    for column in columns:
        column.flags.writeable = False
    return columns


def _boys_orders(n_max: int, t, xp=jnp):
    """F_0(t), ..., F_{n_max}(t) as a tuple of arrays shaped like t, no derivative rules.

    Written for speed (this is the inner loop of the ERIs): table columns gathered
    separately, divisions replaced by products with reciprocals (constants, or 1/(2T)
    computed once), and T and the Taylor value :func:`materialize`-d so that the gathers
    and the n_max + 1 outputs do not each recompute them. ``xp``: ``jax.numpy``, or
    ``numpy`` for host arrays (:func:`boys_orders_host`).
    """
    t = xp.asarray(t, dtype=xp.float64)
    fuses = xp is jnp
    if n_max > 0 and fuses:  # with one output, XLA fuses everything into one loop anyway
        t = materialize(t)
    small = t < T_SWITCH
    # Small T: Taylor expansion of F_{n_max} about the nearest table point, then the
    # stable downward recursion F_{n-1} = (2T F_n + exp(-T)) / (2n - 1).
    t_small = xp.where(small, t, 0.0)
    index = xp.round(t_small * (1.0 / _STEP)).astype(xp.int32)
    delta = index * _STEP - t_small
    columns = _taylor_columns(n_max)
    f = xp.asarray(columns[-1])[index]
    for k in range(_TAYLOR_TERMS - 2, -1, -1):  # Horner in delta
        f = xp.asarray(columns[k])[index] + f * delta
    exp_t = xp.exp(-t_small)
    if n_max > 0 and fuses:
        f, exp_t = materialize([f, exp_t])
    two_t = 2.0 * t_small
    downward = [f]
    for n in range(n_max, 0, -1):
        f = (two_t * f + exp_t) * (1.0 / (2 * n - 1))
        downward.append(f)
    downward = downward[::-1]
    # Large T: F_0 = sqrt(pi/T)/2 (erf(sqrt T) = 1 to double precision for T >= 40), then
    # upward recursion, stable for 2T > 2n + 1.
    t_large = xp.where(small, T_SWITCH, t)
    inv_two_t = 0.5 / t_large
    f = xp.sqrt(np.pi * inv_two_t * 0.5)
    upward = [f]
    if n_max > 0:
        exp_large = xp.exp(-t_large)
        for n in range(n_max):
            f = ((2 * n + 1) * f - exp_large) * inv_two_t
            upward.append(f)
    return tuple(xp.where(small, d, u) for d, u in zip(downward, upward))


def _check_order(n_max: int) -> None:
    if not 0 <= n_max <= MAX_ORDER:
        raise ValueError(f"Boys function order {n_max} outside 0..{MAX_ORDER}")


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def boys_orders(n_max: int, t):
    """Boys functions (F_0(t), ..., F_{n_max}(t)): a tuple of n_max + 1 arrays shaped like t.

    The form the integral kernels use: XLA computes separate outputs once each, whereas
    stacking them into one array makes it recompute the recursion for every order.
    ``n_max`` is static and at most MAX_ORDER; ``t >= 0`` (dimensionless).
    """
    _check_order(n_max)
    return _boys_orders(n_max, t)


@boys_orders.defjvp
def _boys_orders_jvp(n_max, primals, tangents):
    (t,), (dt,) = primals, tangents
    if n_max >= MAX_ORDER:
        raise ValueError(f"derivative of Boys order {n_max} needs order {n_max + 1} > {MAX_ORDER}")
    values = boys_orders(n_max + 1, t)
    dt = jnp.asarray(dt)
    return values[:-1], tuple(-v * dt for v in values[1:])


def boys_orders_host(n_max: int, t):
    """:func:`boys_orders` in NumPy, for host arrays (no derivative rules, nothing to
    compile): the same formulas, so the same values to rounding."""
    _check_order(n_max)
    return _boys_orders(n_max, np.asarray(t, dtype=np.float64), xp=np)


def boys(n_max: int, t):
    """Boys functions F_0(t), ..., F_{n_max}(t), shape ``t.shape + (n_max + 1,)``.

    ``n_max`` is static and at most MAX_ORDER; ``t >= 0`` (dimensionless). Derivatives
    use dF_n/dT = -F_{n+1} exactly (see :func:`boys_orders`).
    """
    _check_order(n_max)
    return jnp.stack(boys_orders(n_max, t), axis=-1)
