"""dftjax.train.prefit: the teacher's points against the engine's own XC energy, a fit
that must recover a teacher inside the student's family, the neural pre-fit, and the
[functional.prefit] configuration (its reuse and its errors)."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.molecule import Molecule
from dftjax.train import Sample
from dftjax.train.config import ConfigError, load_run
from dftjax.train.prefit import PrefitError, prefit, prefit_loss, teacher_points
from dftjax.xc import get_functional
from dftjax.xc.neural import init_params

H2 = Molecule(["H", "H"], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.74]])
H_ATOM = Molecule(["H"], [[0.0, 0.0, 0.0]], multiplicity=2)


def _samples(functional):
    return [Sample("h2", H2, functional, "sto-3g", grid_level=1),
            Sample("h", H_ATOM, functional, "sto-3g", grid_level=1)]


def test_teacher_points_hold_the_engines_xc_energy():
    """The teacher's energy density integrated over a sample's points is the XC energy of
    the teacher's own SCF (dftjax.scf, same basis, grid and spin): the features are the
    converged density's. 1e-10 Ha: the same quadrature of the same density, summed in
    another order."""
    teacher = get_functional("pbe")
    points = teacher_points(_samples("pbe"), teacher)
    assert points.names == ("h2", "h")
    assert points.features.rho.shape == (2, points.npts)
    assert points.features.sigma.shape == (3, points.npts)
    for index, molecule in enumerate((H2, H_ATOM)):
        calc = dftjax.scf(molecule, basis="sto-3g", xc="pbe", grid_level=1, conv_tol=1e-10,
                          stability=False)
        assert abs(points.xc_energy[index] - float(calc.xc_energy)) < 1e-10
        assert abs(points.total_energy[index] - float(calc.energy)) < 1e-9
    # the open shell's beta density is zero: the points are spin-resolved
    atom = points.segment == 1
    assert np.max(np.abs(points.features.rho[1, atom])) < 1e-14
    assert np.max(points.features.rho[0, atom]) > 0.1


def test_prefit_recovers_a_teacher_of_the_students_own_family():
    """Slater exchange with its coefficient scaled by 0.7 fitted to Slater exchange: the
    exact minimum is alpha = 1, where the loss vanishes; L-BFGS must find it."""
    functional = get_functional("lda")
    points = teacher_points(_samples("lda"), functional)
    start = {"alpha": jnp.asarray(0.7)}
    loss = prefit_loss(functional, points)
    assert float(loss(start)[0]) > 1e-3
    fitted, report = prefit(functional, start, points, iterations=10, teacher_name="lda")
    assert abs(float(fitted["alpha"]) - 1.0) < 1e-8
    assert max(abs(e) for e in report.xc_errors.values()) < 1e-8
    assert report.pointwise < 1e-14 < report.pointwise_start
    assert set(report.xc_errors_start) == {"h2", "h"}


def test_a_random_network_learns_its_teacher_deterministically():
    """NN-meta-GGA from a random network towards r2SCAN on H2 and the H atom: the XC
    energy errors fall from hundreds of kcal/mol to a fraction of one, and the fit is
    repeatable to the last bit."""
    functional = get_functional("nn-metagga")
    points = teacher_points(_samples("r2scan"), get_functional("r2scan"))
    start = init_params("nn-metagga", jax.random.PRNGKey(0))
    fitted, report = prefit(functional, start, points, iterations=30, teacher_name="r2scan")
    before = max(abs(e) for e in report.xc_errors_start.values())
    after = max(abs(e) for e in report.xc_errors.values())
    assert before > 0.05 and after < 1e-3, (before, after)  # Ha
    assert report.pointwise < 1e-2 * report.pointwise_start
    again, _ = prefit(functional, start, points, iterations=30, teacher_name="r2scan")
    for a, b in zip(jax.tree_util.tree_leaves(fitted), jax.tree_util.tree_leaves(again)):
        np.testing.assert_array_equal(a, b)


def test_what_a_prefit_cannot_do_is_an_error():
    samples = _samples("lda")
    with pytest.raises(PrefitError, match="exact exchange"):
        teacher_points(samples, get_functional("b3lyp"))
    with pytest.raises(PrefitError, match="nra"):
        teacher_points(samples, get_functional("nn-nra"))
    points = teacher_points(samples[1:], get_functional("lda"))
    with pytest.raises(PrefitError, match="pre-fitted semi-local"):
        prefit_loss(get_functional("nn-nra"), points)


CONFIG = """
[functional]
name = "nn-gga"
random_seed = 1

[functional.prefit]
teacher = "pbe"
iterations = 5
{extra}

[defaults]
basis = "sto-3g"
grid_level = 1

[[samples]]
name = "h2"
geometry = "H 0 0 0; H 0 0 0.74"

[[samples]]
name = "h"
geometry = "H 0 0 0"
multiplicity = 2

[[loss.atomization_energy]]
molecule = "h2"
atoms = {{ h = 2 }}
target = 0.1745

[train]
steps = 1
output = "run"
"""


def test_configured_prefit_starts_the_run_and_is_reused(tmp_path, monkeypatch):
    """[functional.prefit] sets the run's initial parameters, writes prefit.npz, and a
    second start from the same settings loads it instead of fitting again; other settings
    fit again."""
    import dftjax.train.config as config

    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(extra=""))
    run = load_run(path)
    random = init_params("nn-gga", jax.random.PRNGKey(1))
    moved = [float(jnp.max(jnp.abs(a - b))) for a, b in
             zip(jax.tree_util.tree_leaves(run.state.params), jax.tree_util.tree_leaves(random))]
    assert max(moved) > 1e-6
    assert (tmp_path / "run" / "prefit.npz").is_file()
    from dftjax.train.card import model_card
    card = model_card(run, run.state, [])
    assert "pre-fitted to pbe" in card and "## Pre-fit" in card
    assert "| h2 |" in card.split("## Pre-fit")[1]

    def no_refit(*args, **kwargs):
        raise AssertionError("the saved pre-fit should have been reused")

    monkeypatch.setattr(config, "teacher_points", no_refit)
    again = load_run(path)
    for a, b in zip(jax.tree_util.tree_leaves(run.state.params),
                    jax.tree_util.tree_leaves(again.state.params)):
        np.testing.assert_array_equal(a, b)
    path.write_text(CONFIG.format(extra="energy_weight = 1.0"))
    with pytest.raises(AssertionError, match="reused"):
        load_run(path)


@pytest.mark.parametrize("extra, message", [
    ("colour = 1", "unknown keys"),
    ("samples = ['h2o']", "not among the samples"),
    ("energy_weight = -1.0", "energy_weight >= 0"),
])
def test_prefit_configuration_errors_name_the_problem(tmp_path, extra, message):
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(extra=extra))
    with pytest.raises(ConfigError, match=message):
        load_run(path)
    path.write_text(CONFIG.format(extra="").replace('teacher = "pbe"', 'teacher = "b3lyp"'))
    with pytest.raises(ConfigError, match="exact exchange"):
        load_run(path)
