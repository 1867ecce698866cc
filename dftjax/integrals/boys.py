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

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

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


def _boys_values(n_max: int, t):
    """F_0..F_{n_max}(t) without derivative rules; t any shape, result shape t.shape + (n_max+1,)."""
    t = jnp.asarray(t, dtype=jnp.float64)
    small = t < T_SWITCH
    # Small T: Taylor expansion of F_{n_max} about the nearest table point, then the
    # stable downward recursion F_{n-1} = (2T F_n + exp(-T)) / (2n - 1).
    t_small = jnp.where(small, t, 0.0)
    index = jnp.round(t_small / _STEP).astype(jnp.int32)
    delta = index * _STEP - t_small
    rows = jnp.asarray(_TABLE[:, n_max : n_max + _TAYLOR_TERMS])[index]
    f = rows[..., _TAYLOR_TERMS - 1]
    for k in range(_TAYLOR_TERMS - 2, -1, -1):  # Horner in delta
        f = rows[..., k] + f * delta / (k + 1)
    exp_t = jnp.exp(-t_small)
    downward = [f]
    for n in range(n_max, 0, -1):
        f = (2.0 * t_small * f + exp_t) / (2 * n - 1)
        downward.append(f)
    downward = downward[::-1]
    # Large T: F_0 = sqrt(pi/T)/2 (erf(sqrt T) = 1 to double precision for T >= 40), then
    # upward recursion, stable for 2T > 2n + 1.
    t_large = jnp.where(small, T_SWITCH, t)
    exp_large = jnp.exp(-t_large)
    f = 0.5 * jnp.sqrt(jnp.pi / t_large)
    upward = [f]
    for n in range(n_max):
        f = ((2 * n + 1) * f - exp_large) / (2.0 * t_large)
        upward.append(f)
    return jnp.stack([jnp.where(small, d, u) for d, u in zip(downward, upward)], axis=-1)


@partial(jax.custom_jvp, nondiff_argnums=(0,))
def boys(n_max: int, t):
    """Boys functions F_0(t), ..., F_{n_max}(t), shape ``t.shape + (n_max + 1,)``.

    ``n_max`` is static and at most MAX_ORDER; ``t >= 0`` (dimensionless).
    """
    if not 0 <= n_max <= MAX_ORDER:
        raise ValueError(f"Boys function order {n_max} outside 0..{MAX_ORDER}")
    return _boys_values(n_max, t)


@boys.defjvp
def _boys_jvp(n_max, primals, tangents):
    (t,), (dt,) = primals, tangents
    values = boys(n_max + 1, t) if n_max < MAX_ORDER else None
    if values is None:
        raise ValueError(f"derivative of Boys order {n_max} needs order {n_max + 1} > {MAX_ORDER}")
    return values[..., :-1], -values[..., 1:] * jnp.asarray(dt)[..., None]
