"""User-defined and neural-network functionals through the public API.

A functional is any ``(params, Features) -> energy per volume`` callable wrapped in
:class:`dftjax.xc.Functional`; these tests pass one to ``dftjax.scf`` like a named one.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.xc import Features, Functional, get_functional

WATER = "O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692"
# Spin-scaled Slater exchange: e_x = -(3/4)(6/pi)^(1/3) sum_s rho_s^(4/3), per volume.
SLATER_CONSTANT = -0.75 * (6.0 / np.pi) ** (1.0 / 3.0)


def slater_by_hand(params, features: Features):
    rho = jnp.maximum(features.rho, 0.0)
    safe = jnp.where(rho > 1e-30, rho, 1.0)  # no cbrt of 0 on a computed branch
    return params["scale"] * SLATER_CONSTANT * jnp.sum(jnp.where(rho > 1e-30, safe ** (4.0 / 3.0), 0.0), axis=0)


def mlp_init(key, sizes):
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": 0.1 * jax.random.normal(k, (m, n)), "b": jnp.zeros(n)}
            for k, m, n in zip(keys, sizes[:-1], sizes[1:])]


def nn_exchange(params, features: Features):
    """A tiny neural enhancement factor on Slater exchange: F = 1 + tanh(MLP(x))/2 per spin,
    where x = (rho_s^(1/3), reduced gradient s^2) is dimensionless-ish. Zero output layer
    gives exactly Slater exchange."""
    rho = jnp.maximum(features.rho, 0.0)
    on = rho > 1e-30
    safe = jnp.where(on, rho, 1.0)
    sigma_ss = jnp.stack([features.sigma[0], features.sigma[2]])
    s2 = sigma_ss / safe ** (8.0 / 3.0) / (4.0 * (6.0 * np.pi**2) ** (2.0 / 3.0))
    x = jnp.stack([safe ** (1.0 / 3.0), jnp.log1p(s2)], axis=-1)  # (2, npts, 2)
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    out = (x @ params[-1]["w"] + params[-1]["b"])[..., 0]
    enhancement = 1.0 + 0.5 * jnp.tanh(out)
    e_spin = SLATER_CONSTANT * jnp.where(on, safe ** (4.0 / 3.0), 0.0) * enhancement
    return jnp.sum(e_spin, axis=0)


@pytest.fixture(scope="module")
def water():
    return dftjax.Molecule.from_xyz(WATER)


def test_user_slater_matches_the_library_lda(water):
    mine = Functional("my-slater", slater_by_hand, needs=("rho",), params={"scale": 1.0})
    ours = dftjax.scf(water, basis="sto-3g", xc=mine, grid_level=1, conv_tol=1e-10)
    library = dftjax.scf(water, basis="sto-3g", xc="lda", grid_level=1, conv_tol=1e-10)
    assert ours.converged and library.converged
    # same functional written twice, same grid: agreement to SCF convergence
    assert float(ours.energy) == pytest.approx(float(library.energy), abs=1e-8)
    assert ours.xc_energy == pytest.approx(library.xc_energy, abs=1e-7)


def test_xc_params_override_the_defaults(water):
    mine = Functional("my-slater", slater_by_hand, needs=("rho",), params={"scale": 1.0})
    scaled = dftjax.scf(water, basis="sto-3g", xc=mine, xc_params={"scale": 0.9}, grid_level=1)
    plain = dftjax.scf(water, basis="sto-3g", xc=mine, grid_level=1)
    assert scaled.converged and float(scaled.energy) > float(plain.energy) + 0.1


def test_small_neural_functional_converges_on_water(water):
    params = mlp_init(jax.random.PRNGKey(0), [2, 8, 8, 1])
    functional = Functional("nn-x", nn_exchange, needs=("rho", "sigma"), params=params,
                            hf_full=0.0)
    result = dftjax.scf(water, basis="sto-3g", xc=functional, grid_level=1)
    assert result.converged and np.isfinite(float(result.energy))
    # a zero last layer is exactly Slater exchange
    zeroed = params[:-1] + [jax.tree_util.tree_map(jnp.zeros_like, params[-1])]
    as_slater = dftjax.scf(water, basis="sto-3g", xc=functional, xc_params=zeroed, grid_level=1,
                           conv_tol=1e-10)
    lda = dftjax.scf(water, basis="sto-3g", xc=get_functional("lda"), grid_level=1, conv_tol=1e-10)
    assert float(as_slater.energy) == pytest.approx(float(lda.energy), abs=1e-8)


def test_neural_functional_energy_has_finite_parameter_gradients():
    params = mlp_init(jax.random.PRNGKey(1), [2, 4, 1])
    rho = jnp.array([[1.0, 1e-3, 0.0, 0.2], [0.5, 0.0, 0.0, 0.2]])
    sigma = jnp.array([[0.3, 1e-8, 0.0, 0.0], [0.1, 0.0, 0.0, 0.0], [0.2, 0.0, 0.0, 0.0]])
    features = Features(rho=rho, sigma=sigma)
    grads = jax.grad(lambda p: jnp.sum(nn_exchange(p, features)))(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))
    grad_rho = jax.grad(lambda r: jnp.sum(nn_exchange(params, Features(rho=r, sigma=sigma))))(rho)
    assert bool(jnp.all(jnp.isfinite(grad_rho)))
