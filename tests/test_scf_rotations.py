"""dftjax.scf.rotations: rotated orbitals stay orthonormal, the cheap second-order rotation
agrees with the exact one to third order, and Hessian-vector products equal finite
differences of the energy along the rotation (a toy quadratic-plus-quartic E(D))."""

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.scf.driver import as_pytree_model
from dftjax.scf.rotations import _energy_along, _hessian_vector, rotated_orbitals

RNG = np.random.default_rng(7)
NAO, NOCC = 5, 2


def orbitals_and_kappa():
    coeff = np.linalg.qr(RNG.normal(size=(NAO, NAO)))[0]
    coeff = np.stack([coeff, coeff[:, ::-1]])            # orthonormal, S = 1
    occ = np.zeros((2, NAO))
    occ[:, :NOCC] = 1.0
    mask = np.zeros((2, NAO, NAO))
    mask[:, NOCC:, :NOCC] = 1.0                           # virtual-occupied block
    return jnp.asarray(coeff), jnp.asarray(occ), jnp.asarray(mask * RNG.normal(size=mask.shape)), mask


def test_rotated_orbitals_are_orthonormal_and_second_order_is_close():
    coeff, _, kappa, _ = orbitals_and_kappa()
    exact = rotated_orbitals(coeff, kappa)
    overlap = jnp.swapaxes(exact, -1, -2) @ exact
    np.testing.assert_allclose(overlap, np.stack([np.eye(NAO)] * 2), atol=1e-13)
    for t in (1e-2, 5e-3):  # the difference is O(t^3): halving t divides it by ~8
        gaps = [float(jnp.abs(rotated_orbitals(coeff, s * kappa) -
                              rotated_orbitals(coeff, s * kappa, exact=False)).max())
                for s in (t, t / 2)]
        assert 7.0 < gaps[0] / gaps[1] < 9.0


def test_hessian_vector_is_the_derivative_of_the_gradient():
    coeff, occ, x, mask = orbitals_and_kappa()
    a = jnp.asarray(RNG.normal(size=(NAO, NAO)))
    a = a + a.T

    def model(density):  # any smooth E(D): one-electron part plus a quartic one
        return None, jnp.sum(density * a) + 0.3 * jnp.sum((density @ density) ** 2)

    model = as_pytree_model(model)
    signs = jnp.ones(2)
    v = jnp.asarray(mask * RNG.normal(size=mask.shape))
    product = _hessian_vector(model, coeff, occ, signs, jnp.asarray(mask), v)
    gradient = jax.grad(lambda y: _energy_along(model, coeff, occ, signs, y))
    h = 1e-5  # central difference of the exact gradient: error O(h^2) ~ 1e-10
    numeric = (gradient(h * v) - gradient(-h * v)) / (2 * h) * mask
    np.testing.assert_allclose(product, numeric, atol=1e-8, rtol=1e-7)
