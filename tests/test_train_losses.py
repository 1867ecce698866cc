"""Training losses (dftjax.train.losses) on hand-made outputs: values against arithmetic
done by hand, items dropped with their samples, mini-batches. No SCF runs here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dftjax.train.losses import (Loss, atomization_energy, density_error, total_energy,
                                 user_term)
from dftjax.train.sample import Outputs


class FakeGrid:
    npts = 3
    weights = np.array([0.5, 1.0, 2.0])


class FakeSample:
    name = "m"
    grid = FakeGrid()


def out(energy, rho=(0.0, 0.0, 0.0)):
    return Outputs(jnp.asarray(energy), jnp.zeros((2, 1, 1)), jnp.asarray(rho))


OUTPUTS = {"m": out(-2.0, (1.0, 2.0, 3.0)), "a": out(-0.4), "b": out(-0.7)}


def test_values_are_the_formulas():
    loss = Loss([total_energy({"m": -2.1, "a": -0.5}),
                 atomization_energy([("m", {"a": 2, "b": 1}, 0.3)], weight=10.0),
                 density_error([(FakeSample(), [1.0, 1.0, 1.0])], weight=0.5)])
    total, terms = loss.evaluate(OUTPUTS)
    # mean of (0.1^2, 0.1^2); AE = 2(-0.4) + (-0.7) - (-2.0) = 0.5; sum w (rho - 1)^2 = 1 + 8
    assert terms["total_energy"] == pytest.approx(0.01, abs=1e-15)
    assert terms["atomization_energy"] == pytest.approx(0.04, abs=1e-15)
    assert terms["density"] == pytest.approx(9.0, abs=1e-14)
    assert total == pytest.approx(0.01 + 0.4 + 4.5, abs=1e-14)


def test_items_of_missing_samples_are_dropped():
    loss = Loss([total_energy({"m": -2.1, "a": -0.5}),
                 atomization_energy([("m", {"a": 2, "b": 1}, 0.3)])])
    total, terms = loss.evaluate({k: v for k, v in OUTPUTS.items() if k != "a"})
    assert terms == {"total_energy": pytest.approx(0.01)}  # the a item and the AE are gone
    assert loss.samples == ("m", "a", "b")


def test_gradient_with_respect_to_outputs():
    loss = Loss([total_energy({"m": -2.1}), user_term("gap", lambda a, b: a.energy - b.energy, ("a", "b"))])
    total, terms, bars = loss.value_and_grad(OUTPUTS)
    assert terms["gap"] == pytest.approx(0.3)
    assert float(bars["m"].energy) == pytest.approx(2 * 0.1)  # d (E + 2.1)^2 / dE
    assert float(bars["a"].energy) == 1.0 and float(bars["b"].energy) == -1.0


def test_minibatch_draws_items_without_replacement():
    loss = Loss([total_energy({"m": 0.0, "a": 0.0}), total_energy({"b": 0.0}, name="other")])
    assert loss.subset(jax.random.PRNGKey(0), None) is loss
    for seed in range(5):
        batch = loss.subset(jax.random.PRNGKey(seed), 2)
        assert sum(len(t.items) for t in batch.terms) == 2
        assert len(set(batch.samples)) == 2


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="distinct names"):
        Loss([total_energy({"m": 0.0}), total_energy({"a": 0.0})])
    with pytest.raises(ValueError, match="grid of 3 points"):
        density_error([(FakeSample(), [1.0, 2.0])])
