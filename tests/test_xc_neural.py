"""The neural functionals of dftjax.xc.neural: released weights, descriptors, network.

References: the issue's table of eps_xc from the released weights in float64 (raw
inputs with eps0 included; for NN-NRA, R = rho_a + rho_b), finite differences, and the
released weight files' layer shapes.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dftjax.params_io import save_pytree
from dftjax.xc import Features, get_functional
from dftjax.xc.neural import (EPSILON, FORMS, epsilon_xc, init_params, nn_functional,
                               released_params, widen_params)
from dftjax.xc.neural.network import weight_shapes

# rows: rho_a, rho_b, gamma_aa, gamma_ab, gamma_bb, tau_a, tau_b (eps0 already in the gammas)
INPUTS = np.array([
    [0.0005, 0.0005, 1e-08, 1e-08, 1e-08, 1e-05, 1e-05],
    [0.05, 0.05, 0.001, 0.001, 0.001, 0.03, 0.03],
    [0.5, 0.5, 0.25, 0.25, 0.25, 1.5, 1.5],
    [5.0, 5.0, 100.0, 100.0, 100.0, 70.0, 70.0],
    [0.3, 0.1, 0.05, 0.01, 0.02, 0.4, 0.1],
]).T
TABLE = {  # eps_xc, Ha per electron, 8 decimals
    "nn-lsda": [-0.09663240, -0.38087088, -0.78055648, -1.67561000, -0.61283372],
    "nn-gga": [-0.09595045, -0.39147490, -0.79766463, -1.65057045, -0.63417559],
    "nn-metagga": [-0.09868165, -0.38001552, -0.78613084, -1.64927378, -0.63522705],
    "nn-nra": [-0.09902045, -0.37962338, -0.78331724, -1.64197697, -0.63841729],
}


def raw_inputs(form, x):
    needs = FORMS[form]
    return (x[0:2], x[2:5] if "sigma" in needs else None, x[5:7] if "tau" in needs else None,
            x[0] + x[1] if "nra" in needs else None)


@pytest.mark.parametrize("form", list(FORMS))
def test_table_of_epsilon_xc(form):
    params, metadata = released_params(form)
    value = np.asarray(epsilon_xc(params, *raw_inputs(form, jnp.asarray(INPUTS))))
    # The table is printed to 8 decimals: half a unit of its last digit (5e-9 Ha, 5e-8
    # relative on the smallest entry) is all it can resolve; float32 rounding of the
    # weights would show at 1e-7.
    np.testing.assert_allclose(value, TABLE[form], rtol=0, atol=5.000001e-9)
    assert metadata["form"] == form and len(metadata["source_sha256"]) == 64


def test_weight_shapes():
    for form in FORMS:
        shapes = [layer["weight"].shape for layer in released_params(form)[0]["layers"]]
        assert shapes == [(len(FORMS[form]) + 1, 100), (100, 100), (100, 100), (100, 1)]
        assert shapes == weight_shapes(form)  # what check_params compares, without a PRNG
        fresh = init_params(form, jax.random.PRNGKey(1))["layers"]
        assert [layer["weight"].shape for layer in fresh] == shapes


def features(form, rho, sigma, tau):
    needs = FORMS[form]
    return Features(rho=rho, sigma=sigma if "sigma" in needs else None,
                    tau=tau if "tau" in needs else None,
                    nra=rho.sum(axis=0) + EPSILON if "nra" in needs else None)


@pytest.mark.parametrize("form", list(FORMS))
def test_energy_density_is_n_times_epsilon(form):
    functional = get_functional(form)
    x = jnp.asarray(INPUTS)
    f = features(form, x[0:2], x[2:5] - EPSILON, x[5:7])
    f = Features(f.rho, f.sigma, f.tau, None if f.nra is None else x[0] + x[1])
    expected = (x[0] + x[1]) * epsilon_xc(functional.params, *raw_inputs(form, x))
    np.testing.assert_allclose(functional(f), expected, rtol=1e-14)


@pytest.mark.parametrize("form", list(FORMS))
def test_finite_at_zero_density_and_full_polarisation(form):
    functional = get_functional(form)
    rho = jnp.array([[0.0, 0.3, 0.0, 1e-12], [0.0, 0.0, 0.2, 0.0]])
    sigma = jnp.array([[0.0, 0.1, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.05, 0.0]])
    tau = jnp.array([[0.0, 0.2, 0.0, 0.0], [0.0, 0.0, 0.1, 0.0]])

    def energy(rho, sigma, tau):
        return jnp.sum(functional(features(form, rho, sigma, tau)))

    value = functional(features(form, rho, sigma, tau))
    grads = jax.grad(energy, argnums=(0, 1, 2))(rho, sigma, tau)
    assert value[0] == 0.0 and bool(jnp.all(jnp.isfinite(value)))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


@pytest.mark.parametrize("form", ["nn-gga", "nn-metagga"])
def test_derivatives_match_finite_differences(form):
    functional = get_functional(form)
    x = jnp.asarray(INPUTS[:, 1:])
    rho, sigma, tau = x[0:2], x[2:5], x[5:7]

    def energy(rho, sigma, tau):
        return jnp.sum(functional(features(form, rho, sigma, tau)))

    grads = jax.grad(energy, argnums=(0, 1, 2))(rho, sigma, tau)
    args = [rho, sigma, tau]
    for a in range(2 if form == "nn-gga" else 3):
        direction = jnp.asarray(np.random.default_rng(a).normal(size=args[a].shape)) * args[a]
        h = 1e-5
        plus = [arg + h * direction if i == a else arg for i, arg in enumerate(args)]
        minus = [arg - h * direction if i == a else arg for i, arg in enumerate(args)]
        fd = (energy(*plus) - energy(*minus)) / (2 * h)
        # central differences, step 1e-5 relative: truncation ~1e-10 relative
        np.testing.assert_allclose(jnp.vdot(grads[a], direction), fd, rtol=1e-6)


def test_gradient_with_respect_to_weights():
    functional = get_functional("nn-gga")
    x = jnp.asarray(INPUTS)
    f = features("nn-gga", x[0:2], x[2:5], x[5:7])
    grad = jax.grad(lambda p: jnp.sum(functional(f, p)))(functional.params)
    bias = grad["layers"][3]["bias"]
    h = 1e-6
    shifted = jax.tree_util.tree_map(lambda a: a, functional.params)
    shifted["layers"][3]["bias"] = functional.params["layers"][3]["bias"] + h
    fd = (jnp.sum(functional(f, shifted)) - jnp.sum(functional(f))) / h
    np.testing.assert_allclose(bias[0], fd, rtol=1e-5)  # forward difference, O(h) error


def test_fresh_and_given_parameters(tmp_path):
    fresh = nn_functional("nn-metagga", key=jax.random.PRNGKey(3))
    again = nn_functional("nn-metagga", key=jax.random.PRNGKey(3))
    np.testing.assert_array_equal(fresh.params["layers"][0]["weight"],
                                  again.params["layers"][0]["weight"])
    assert np.abs(fresh.params["layers"][0]["weight"]).max() <= 0.5  # +-1/sqrt(4)
    given = nn_functional("nn-metagga", params=fresh.params)
    assert given.params is fresh.params
    with pytest.raises(ValueError, match="weight shapes"):
        nn_functional("nn-gga", params=fresh.params)
    with pytest.raises(ValueError, match="unknown neural functional form"):
        nn_functional("nn-b3lyp")

    path = save_pytree(tmp_path / "trained.npz", fresh.params, {"form": "nn-metagga"})
    loaded = get_functional(f"nn-metagga:{path}")
    np.testing.assert_array_equal(loaded.params["layers"][2]["bias"], fresh.params["layers"][2]["bias"])
    assert loaded is get_functional(f"nn-metagga:{path}")  # cached: compiled code is reused
    with pytest.raises(ValueError, match="holds 'nn-metagga' parameters"):
        get_functional(f"nn-gga:{path}")
    with pytest.raises(FileNotFoundError):
        get_functional(f"nn-gga:{tmp_path / 'missing.npz'}")


def test_reads_only_the_features_it_needs():
    x = jnp.asarray(INPUTS)
    full = Features(x[0:2], x[2:5], x[5:7], x[0] + x[1])
    for form in FORMS:
        functional = get_functional(form)
        np.testing.assert_array_equal(functional(full), functional(features(form, x[0:2], x[2:5], x[5:7])
                                                                   if form != "nn-nra" else full))


def test_widened_parameters_compute_the_same_function():
    """NN-meta-GGA's weights widened to NN-NRA's inputs (zero weights for R) give NN-NRA
    the meta-GGA's energy density whatever R is: the start of a nonlocal fine-tune."""
    metagga = get_functional("nn-metagga")
    widened = widen_params(metagga.params, "nn-metagga", "nn-nra")
    nra = nn_functional("nn-nra", params=widened)
    x = jnp.asarray(INPUTS)
    local = features("nn-metagga", x[0:2], x[2:5] - EPSILON, x[5:7])
    for r in (x[0] + x[1] + EPSILON, jnp.full_like(x[0], 3.7)):
        nonlocal_features = Features(local.rho, local.sigma, local.tau, r)
        # the same products plus exact zeros: equal to round-off of the sums' order
        np.testing.assert_allclose(nra(nonlocal_features), metagga(local), rtol=1e-14)
    assert np.all(widened["layers"][0]["weight"][-1] == 0.0)
    with pytest.raises(ValueError, match="does not extend"):
        widen_params(nra.params, "nn-nra", "nn-metagga")
    with pytest.raises(ValueError, match="does not extend"):
        widen_params(get_functional("nn-gga").params, "nn-gga", "nn-gga")
