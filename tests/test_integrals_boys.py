"""Tests of the Boys function F_n(T) = int_0^1 t^(2n) exp(-T t^2) dt (dftjax.integrals.boys).

Reference: tests/data/integral_reference.npz (boys_T, boys_F), F_0..F_20 at 40 values of
T from 0 to 1e4, computed with mpmath at 50 digits by tests/data/make_integral_reference.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax  # noqa: F401  (enables float64)
from dftjax.integrals import boys
from dftjax.integrals.boys import boys_orders_host

N_MAX = 20


@pytest.fixture(scope="module")
def table(data_dir):
    ref = np.load(data_dir / "integral_reference.npz")
    return ref["boys_T"], ref["boys_F"]


def test_against_mpmath(table):
    T, F = table
    values = np.asarray(boys(N_MAX, jnp.asarray(T)))
    assert values.shape == (len(T), N_MAX + 1)
    # 1e-14 relative: the design target for the Boys function (~1e-14 relative over all T).
    rel = np.abs(values - F) / np.abs(F)
    worst = np.unravel_index(np.argmax(rel), rel.shape)
    assert rel.max() < 1e-14, (
        f"max relative error {rel.max():.2e} at T={T[worst[0]]}, n={worst[1]}")


def test_host_version_against_mpmath(table):
    # The NumPy twin (host-side pair data) runs the same formulas: the same 1e-14.
    T, F = table
    values = np.stack(boys_orders_host(N_MAX, T), axis=-1)
    assert isinstance(values, np.ndarray)
    rel = np.abs(values - F) / np.abs(F)
    assert rel.max() < 1e-14, f"max relative error {rel.max():.2e}"


@pytest.mark.parametrize("n_max", [0, 3, 8])
def test_lower_orders_agree(table, n_max):
    # Asking for fewer orders gives the same numbers (the T-branches do not depend on n_max).
    T, F = table
    values = np.asarray(boys(n_max, jnp.asarray(T)))
    np.testing.assert_allclose(values, F[:, : n_max + 1], rtol=1e-14, atol=0)


def test_shapes_and_scalar():
    assert boys(4, 0.5).shape == (5,)
    assert boys(2, jnp.ones((3, 4))).shape == (3, 4, 3)
    np.testing.assert_allclose(np.asarray(boys(5, 0.0)), 1.0 / (2 * np.arange(6) + 1),
                               rtol=1e-15)


@pytest.mark.parametrize("n", [0, 1, 5, 12])
def test_gradient_at_zero(n):
    # dF_n/dT = -F_{n+1}, at T = 0: -1/(2n+3), finite (no division by T).
    grad = jax.grad(lambda t: boys(n, t)[n])(0.0)
    assert np.isfinite(grad)
    np.testing.assert_allclose(grad, -1.0 / (2 * n + 3), rtol=1e-14)
    # the whole vector of orders, and the second derivative (F_{n+2})
    jac = jax.jacfwd(lambda t: boys(n, t))(0.0)
    np.testing.assert_allclose(np.asarray(jac), -1.0 / (2 * np.arange(n + 1) + 3), rtol=1e-14)
    second = jax.grad(jax.grad(lambda t: boys(n, t)[n]))(0.0)
    np.testing.assert_allclose(second, 1.0 / (2 * n + 5), rtol=1e-14)


def test_gradient_identity(table):
    # dF_n/dT = -F_{n+1} at every tabulated T, from the custom JVP.
    T, F = table
    n = 7
    grads = jax.vmap(jax.grad(lambda t: boys(n, t)[n]))(jnp.asarray(T))
    np.testing.assert_allclose(np.asarray(grads), -F[:, n + 1], rtol=1e-14, atol=0)


@pytest.mark.parametrize("t", [1e-3, 0.3, 2.0, 17.0, 39.99, 40.01, 55.0, 300.0])
@pytest.mark.parametrize("n", [0, 2, 6])
def test_gradient_vs_finite_difference(t, n):
    # finite differences: 1e-6 relative (project tolerance); central step h = 1e-4 * max(t, 1)
    # leaves a truncation error ~ h^2 F''' / 6 well below that.
    h = 1e-4 * max(t, 1.0)
    f = lambda x: float(boys(n, x)[n])  # noqa: E731
    fd = (f(t + h) - f(t - h)) / (2 * h)
    grad = float(jax.grad(lambda x: boys(n, x)[n])(t))
    np.testing.assert_allclose(grad, fd, rtol=1e-6)


def test_order_limit():
    from dftjax.integrals.boys import MAX_ORDER
    with pytest.raises(ValueError):
        boys(MAX_ORDER + 1, 1.0)
