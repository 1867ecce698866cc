"""The pieces of dftjax.scf.implicit on their own: the conjugate-gradient solve behind
every coupled-perturbed derivative (the derivatives themselves: tests/test_implicit.py,
tests/test_train_fit.py)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.sparse.linalg import cg

from dftjax.scf.implicit import conjugate_gradients

SHAPE = (3, 4)  # an orbital-rotation-like array, not a vector


def spd_problem(seed, condition=1e3):
    """A symmetric positive definite operator on SHAPE arrays with the given condition
    number, its matrix, and a right-hand side."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(SHAPE))
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    matrix = q @ np.diag(np.geomspace(1.0, condition, n)) @ q.T
    matvec = lambda v: (jnp.asarray(matrix) @ v.ravel()).reshape(SHAPE)
    return matvec, matrix, jnp.asarray(rng.normal(size=SHAPE))


def true_residual(matrix, x, b):
    return np.linalg.norm(matrix @ np.asarray(x).ravel() - np.asarray(b).ravel())


def test_solves_to_the_tolerance_and_reports_the_true_residual():
    matvec, matrix, b = spd_problem(0)
    preconditioner = jnp.asarray(1.0 / np.diag(matrix).reshape(SHAPE))
    x, residual = jax.jit(lambda b: conjugate_gradients(matvec, b, preconditioner, 1e-12, 200))(b)
    exact = np.linalg.solve(matrix, np.asarray(b).ravel())
    # condition 1e3 times the 1e-12 relative residual: ~1e-9 relative error at most
    np.testing.assert_allclose(np.asarray(x).ravel(), exact, rtol=0,
                               atol=1e-8 * np.abs(exact).max())
    assert float(residual) <= 1e-12 * float(jnp.linalg.norm(b))
    assert abs(float(residual) - true_residual(matrix, x, b)) <= 1e-14 * float(jnp.linalg.norm(b))


def test_same_steps_as_jax_cg_and_an_honest_residual_when_stopped_early():
    """Stopped by ``maxiter`` the iterate is jax.scipy's (the same recursion) and the
    residual is |A x - b| computed anew, large here."""
    matvec, matrix, b = spd_problem(1, condition=1e6)
    preconditioner = jnp.ones(SHAPE)
    for maxiter in (1, 3, 7):
        x, residual = conjugate_gradients(matvec, b, preconditioner, 1e-12, maxiter)
        reference, _ = cg(matvec, b, tol=1e-12, maxiter=maxiter, M=lambda v: preconditioner * v)
        np.testing.assert_allclose(x, reference, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(float(residual), true_residual(matrix, x, b), rtol=1e-10)
        assert float(residual) > 1e-6 * float(jnp.linalg.norm(b))


def test_zero_right_hand_side_and_a_failing_operator():
    matvec, _, b = spd_problem(2)
    x, residual = conjugate_gradients(matvec, jnp.zeros(SHAPE), jnp.ones(SHAPE), 1e-12, 50)
    assert np.all(np.asarray(x) == 0.0) and float(residual) == 0.0
    nan_operator = lambda v: jnp.full(SHAPE, jnp.nan)
    x, residual = conjugate_gradients(nan_operator, b, jnp.ones(SHAPE), 1e-12, 50)
    assert np.isnan(float(residual))  # the caller's check (residual <= bound) then fails


def test_one_copy_of_the_operator_and_batches_under_vmap():
    """The compiled solve holds the operator once (the check's product is a last pass of
    the loop), and vmap over right-hand sides gives each one's own solve."""
    matvec, matrix, b = spd_problem(3)
    traced = []
    counting = lambda v: traced.append(1) or matvec(v)
    preconditioner = jnp.ones(SHAPE)
    jax.make_jaxpr(lambda b: conjugate_gradients(counting, b, preconditioner, 1e-12, 100))(b)
    assert len(traced) == 1
    batch = jnp.stack([b, 2.0 * b, jnp.zeros(SHAPE)])
    solve = lambda b: conjugate_gradients(matvec, b, preconditioner, 1e-12, 100)
    xs, residuals = jax.vmap(solve)(batch)
    for x, residual, rhs in zip(xs, residuals, batch):
        one, _ = conjugate_gradients(matvec, rhs, preconditioner, 1e-12, 100)
        np.testing.assert_allclose(x, one, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(float(residual), true_residual(matrix, x, rhs), atol=1e-12)
