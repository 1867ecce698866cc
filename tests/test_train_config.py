"""dftjax.train.config: the keys that set up the seed's protocol (random networks, widened
parameters, samples and density references from coupled-cluster files, G2 targets), each
against an independent value, and their errors. The end-to-end command is
tests/test_train_cli.py's."""

from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pytest

from dftjax.benchmarks.g2 import KCAL_PER_HARTREE
from dftjax.correlated.reference_data import packaged_reference, read_reference
from dftjax.params_io import save_pytree
from dftjax.train import Sample
from dftjax.benchmarks.g2 import select
from dftjax.elements import ANGSTROM_TO_BOHR
from dftjax.train.config import (ConfigError, _atomization_target, _molecule, _reference_density,
                                 load_functional, load_g2, load_loss, load_run, load_samples)
from dftjax.xc import get_functional
from dftjax.xc.neural import init_params

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "seed_protocol"


def test_random_network_from_a_seed():
    functional, params = load_functional({"name": "nn-metagga", "random_seed": 3}, Path("."))
    expected = init_params("nn-metagga", jax.random.PRNGKey(3))
    for got, want in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_array_equal(got, want)
    assert functional.name == "nn-metagga"
    with pytest.raises(ConfigError, match="neural forms"):
        load_functional({"name": "lda", "random_seed": 0}, Path("."))
    with pytest.raises(ConfigError, match="not both"):
        load_functional({"name": "nn-gga", "random_seed": 0, "params": "x.npz"}, Path("."))


def test_nonlocal_form_started_from_local_weights(tmp_path):
    metagga = get_functional("nn-metagga").params
    save_pytree(tmp_path / "metagga.npz", metagga)
    table = {"name": "nn-nra", "params": "metagga.npz", "params_form": "nn-metagga"}
    _, params = load_functional(table, tmp_path)
    first, first_local = params["layers"][0], metagga["layers"][0]
    np.testing.assert_array_equal(first["weight"][:-1], first_local["weight"])
    np.testing.assert_array_equal(first["weight"][-1], 0.0)
    np.testing.assert_array_equal(params["layers"][3]["bias"], metagga["layers"][3]["bias"])
    with pytest.raises(ConfigError, match=r"layers.0.weight \(4, 100\) \(expected \(5, 100\)\)"):
        load_functional({"name": "nn-nra", "params": "metagga.npz"}, tmp_path)
    with pytest.raises(ConfigError, match="needs params"):
        load_functional({"name": "nn-nra", "params_form": "nn-metagga"}, tmp_path)


def test_sample_and_density_from_a_packaged_reference():
    """The H atom's CCSD(T)/cc-pVTZ density projected on a level-3 grid of the same atom
    is the density the file stores on its own level-3 grid (same points, same basis)."""
    molecule = _molecule({"name": "h", "reference": "packaged:h"}, Path("."))
    assert molecule.multiplicity == 2 and molecule.nelectron == 1
    sample = Sample("h", molecule, "lda", "sto-3g", grid_level=3)
    reference = _reference_density({"reference": "packaged:cc-pvtz/h"}, sample, Path("."))
    assert reference.basis == "cc-pvtz"  # a density matrix, in its own basis
    rho = sample.density_on_grid(reference.density_matrix, basis=reference.basis)
    stored = read_reference(packaged_reference("h"))
    assert rho.shape == stored["grid_weights"].shape
    # the same AO values and density matrix, summed in another order: round-off
    np.testing.assert_allclose(rho, stored["grid_density"], rtol=1e-10, atol=1e-14)


def test_density_fitting_and_ladder_per_sample():
    entries = [{"name": "h2", "geometry": "H 0 0 0; H 0 0 0.74"},
               {"name": "h2-df", "geometry": "H 0 0 0; H 0 0 0.74", "density_fit": True,
                "auxbasis": "def2-universal-jkfit", "ladder": True}]
    samples = load_samples(entries, {"basis": "sto-3g", "grid_level": 1},
                           get_functional("lda"), Path("."))
    assert samples["h2"].eri.method == "exact"  # chosen by size
    assert samples["h2-df"].eri.method == "density-fit"
    assert samples["h2-df"].eri.auxbasis_name == "def2-universal-jkfit"
    on_ladder = lambda sample: sample.model.params["xc_grid"].npts != sample.grid.npts
    assert on_ladder(samples["h2-df"]) and not on_ladder(samples["h2"])


def test_reference_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="differ from its reference"):
        _molecule({"name": "h", "reference": "packaged:h", "multiplicity": 1}, Path("."))
    with pytest.raises(ConfigError, match="no packaged reference 'ch4'"):
        _molecule({"name": "m", "reference": "packaged:ch4"}, Path("."))
    with pytest.raises(ConfigError, match="exactly one of"):
        _molecule({"name": "h", "reference": "packaged:h", "geometry": "H 0 0 0"}, Path("."))
    moved = Sample("h", _molecule({"name": "h", "geometry": "H 0 0 0.1", "multiplicity": 2},
                                  Path(".")), "lda", "sto-3g", grid_level=1)
    with pytest.raises(ConfigError, match="another geometry"):
        _reference_density({"reference": "packaged:h"}, moved, Path("."))


def test_axial_average_key():
    # the H atom is no linear molecule: asking for an axial average is an error, as is a
    # value that is not a boolean; absent, the atom's density is compared as it is
    samples = {"h": Sample("h", _molecule({"name": "h", "reference": "packaged:h"}, Path(".")),
                           "lda", "sto-3g", grid_level=1)}
    entry = {"sample": "h", "reference": "packaged:cc-pvtz/h"}
    with pytest.raises(ConfigError, match="axial average needs a linear molecule"):
        load_loss({"density": [dict(entry, axial_average=True)]}, samples, Path("."))
    with pytest.raises(ConfigError, match="must be true or false"):
        load_loss({"density": [dict(entry, axial_average="yes")]}, samples, Path("."))
    (item,) = load_loss({"density": [entry]}, samples, Path(".")).terms[0].items
    outputs = samples["h"].outputs(samples["h"].functional.params,
                                   samples["h"].solve(samples["h"].functional.params))
    assert float(item.fn(outputs)) > 0


def test_atomization_target_from_g2():
    # H2O's experimental De + atomic spin-orbit in the packaged G2 data, kcal/mol
    assert _atomization_target({"molecule": "w", "g2": "H2O"}) == 232.805803 / KCAL_PER_HARTREE
    assert _atomization_target({"molecule": "w", "target": 0.3}) == 0.3
    with pytest.raises(ConfigError, match="not in the G2 set: Water"):
        _atomization_target({"molecule": "w", "g2": "Water"})
    with pytest.raises(ConfigError, match="exactly one of 'target' and 'g2'"):
        _atomization_target({"molecule": "w", "g2": "H2O", "target": 0.3})


def test_g2_tables_make_samples_and_atomization_targets(tmp_path):
    """Two [[g2]] tables sharing the H atom: the molecules and atoms at the set's
    geometries, charges and multiplicities, one atomization item per molecule with its
    experimental target, and a [[samples]] entry beside them."""
    config = tmp_path / "g2.toml"
    config.write_text("""
[functional]
name = "nn-gga"
[defaults]
basis = "sto-3g"
grid_level = 0
[[samples]]
name = "h2_stretched"
geometry = "H 0 0 0; H 0 0 1.0"
[[g2]]
molecules = ["H2", "LiH"]
exclude = ["LiH"]
[[g2]]
molecules = ["LiH"]
""")
    lines = []
    run = load_run(config, log=lines.append)
    assert set(run.samples) == {"h2_stretched", "H2", "H", "LiH", "Li"}
    assert [line.split(":")[0] for line in lines] == [
        "sample 1/5 h2_stretched", "sample 2/5 H", "sample 3/5 H2", "sample 4/5 Li", "sample 5/5 LiH"]
    entries = {m["name"]: m for m in select(molecules=["H2", "LiH"])[0]}
    for name in ("H2", "LiH"):
        molecule = run.samples[name].molecule
        np.testing.assert_allclose(molecule.coordinates,
                                   np.array(entries[name]["positions_angstrom"]) * ANGSTROM_TO_BOHR,
                                   rtol=0, atol=1e-12)
    assert run.samples["H"].molecule.multiplicity == 2 and run.samples["Li"].molecule.nelectron == 3
    (term,) = run.loss.terms
    assert [item.samples for item in term.items] == [("H2", "H"), ("LiH", "Li", "H")]
    # the items' targets, through their loss at known energies (AE = 2 E_H - E_H2, ...)
    out = {n: SimpleNamespace(energy=e)
           for n, e in (("H2", -1.0), ("H", -0.4), ("LiH", -8.0), ("Li", -7.5))}
    for item, name, ae in zip(term.items, ("H2", "LiH"), (0.2, 0.1)):
        target = _atomization_target({"molecule": name, "g2": name})
        np.testing.assert_allclose(float(item.fn(*(out[s] for s in item.samples))),
                                   (ae - target) ** 2, rtol=1e-12)


def test_g2_subset_expands_to_every_molecule_and_its_atoms(monkeypatch):
    """G2-1 whole, without building samples: 55 molecules, the atoms they contain, and each
    molecule's atom counts summing to its size."""
    import dftjax.train.config as config

    monkeypatch.setattr(config, "Sample", lambda name, molecule, functional, **kw:
                        SimpleNamespace(molecule=molecule, kept_ao_bytes=0))
    samples = {}
    entries = load_g2([{"subset": "g2-1"}], samples, {}, None)
    molecules, atoms = select("g2-1")
    assert len(entries) == len(molecules) == 55
    assert set(samples) == {m["name"] for m in molecules} | {a["name"] for a in atoms}
    for entry, molecule in zip(entries, molecules):
        assert entry["g2"] == entry["molecule"] == molecule["name"]
        assert sum(entry["atoms"].values()) == len(molecule["symbols"])
        assert samples[molecule["name"]].molecule.charge == molecule["charge"]


def test_samples_share_one_budget_of_kept_ao_values():
    """A budget that holds the first sample's AO values only: the second evaluates its
    own in every step, and its SCF energy is the same as with them kept."""
    from dftjax.train.config import AOBudget

    h2 = _molecule({"name": "h2", "geometry": "H 0 0 0; H 0 0 0.74"}, Path("."))
    settings = {"basis": "6-31g", "grid_level": 1}
    alone = Sample("h2", h2, "pbe", **settings)
    assert alone.kept_ao_bytes > 0
    budget = AOBudget(alone.kept_ao_bytes)
    first = budget.make("a", h2, "pbe", settings)
    second = budget.make("b", h2, "pbe", settings)
    assert first.kept_ao_bytes == alone.kept_ao_bytes and second.kept_ao_bytes == 0
    assert budget.left == 0
    params = alone.functional.params
    energies = [float(s.solve(params).energy) for s in (alone, second)]
    np.testing.assert_allclose(energies[1], energies[0], rtol=0, atol=1e-10)  # same grid, same sums


def test_g2_table_errors_name_the_problem():
    with pytest.raises(ConfigError, match="not in the G2 set g2-1: C6H6"):
        load_g2([{"subset": "g2-1", "molecules": ["C6H6"]}], {}, {}, None)
    with pytest.raises(ConfigError, match="not in the G2 set: Water"):
        load_g2([{"molecules": ["H2"], "exclude": ["Water"]}], {}, {}, None)
    with pytest.raises(ConfigError, match="selects no molecules"):
        load_g2([{"molecules": ["H2"], "exclude": ["H2"]}], {}, {}, None)
    with pytest.raises(ConfigError, match="unknown G2 subset 'g3'"):
        load_g2([{"subset": "g3"}], {}, {}, None)
    with pytest.raises(ConfigError, match=r"unknown keys in \[\[g2\]\]: \['weight'\]"):
        load_g2([{"subset": "g2-1", "weight": 2.0}], {}, {}, None)
    with pytest.raises(ConfigError, match="must be a list"):
        load_g2([{"molecules": "H2"}], {}, {}, None)
    with pytest.raises(ConfigError, match=r"write \[\[g2\]\], not \[g2\]"):
        load_g2({"subset": "g2-1"}, {}, {}, None)
    with pytest.raises(ConfigError, match="'H' is also the name of a"):
        load_g2([{"molecules": ["H2"]}], {"H": object()}, {}, None)


@pytest.mark.parametrize("name", ["nn_metagga.toml", "nn_nra.toml", "nn_metagga_prefit.toml"])
def test_shipped_seed_protocol_configurations_are_consistent(name, tmp_path):
    """The shipped seed-protocol files name the packaged data they train on; checked
    without building their samples (that is the benchmark's job)."""
    from dftjax.train.config import tomllib

    config = tomllib.loads((EXAMPLES / name).read_text())
    samples = {s["name"]: s for s in config["samples"]}
    assert set(samples) == {"h2o", "nh3", "no", "h", "n", "o"}
    for sample in samples.values():
        read_reference(packaged_reference(sample["reference"].split(":")[1]))
    targets = {e["molecule"]: e["g2"] for e in config["loss"]["atomization_energy"]}
    assert targets == {"h2o": "H2O", "nh3": "NH3", "no": "NO"}
    assert {e["sample"] for e in config["loss"]["density"]} == {"h2o", "nh3", "no"}
    if "random_seed" in config["functional"]:
        assert config["functional"]["name"] == "nn-metagga"
        prefit = config["functional"].get("prefit")
        if prefit is not None:
            teacher = get_functional(prefit["teacher"])
            assert not teacher.is_hybrid and set(teacher.needs) <= {"rho", "sigma", "tau"}
    else:
        assert config["functional"]["params_form"] == "nn-metagga"


def test_shipped_g2_fit_configuration_holds_out_g2_2(monkeypatch):
    """examples/g2_fit: trains on G2-1 and the packaged densities only, so that G2-2 is a
    clean test; checked without building its samples."""
    import dftjax.train.config as config

    path = EXAMPLES.parent / "g2_fit" / "nn_metagga_g2-1.toml"
    table = config.tomllib.loads(path.read_text())
    monkeypatch.setattr(config, "Sample", lambda name, molecule, functional, **kw:
                        SimpleNamespace(molecule=molecule, kept_ao_bytes=0))
    samples = {}
    entries = load_g2(table["g2"], samples, table["defaults"], None)
    trained = {entry["molecule"] for entry in entries}
    assert trained == {m["name"] for m in select("g2-1")[0]}
    assert not trained & {m["name"] for m in select("g2-2")[0]}
    for sample in table["samples"]:
        read_reference(packaged_reference(sample["reference"].split(":")[1]))
    assert table["train"]["batch_size"] > 0 and table["defaults"]["ladder"] is True


@pytest.mark.slow  # ~35 s: compiles NN-meta-GGA's SCF and backward for two samples
def test_a_seed_protocol_run_in_miniature(tmp_path):
    """The shipped NN-meta-GGA configuration with the molecules swapped for the H atom and
    H2 in STO-3G on a coarse grid: one real step from a random network, a density loss
    from a packaged reference and a G2 target; the loss is finite and the step applied."""
    text = (EXAMPLES / "nn_metagga.toml").read_text()
    head = text.split("[[samples]]")[0]
    head = head.replace("basis = \"cc-pvtz\"", "basis = \"sto-3g\"")
    head = head.replace("grid_level = 3", "grid_level = 1")
    assert 'basis = "sto-3g"' in head and "grid_level = 1" in head
    config = tmp_path / "mini.toml"
    config.write_text(head + """
[[samples]]
name = "h2"
geometry = "H 0 0 0.368583; H 0 0 -0.368583"

[[samples]]
name = "h"
reference = "packaged:h"

[[loss.atomization_energy]]
molecule = "h2"
atoms = { h = 2 }
g2 = "H2"

[[loss.density]]
sample = "h"
reference = "packaged:h"

[train]
steps = 1
output = "run"
""")
    run = load_run(config)
    from dftjax.train import fit

    state, history = fit(run.samples, run.loss, run.optimizer, run.state, 1, log=None)
    assert history[0].applied and not history[0].failed
    assert np.isfinite(history[0].loss) and history[0].loss > 0.0
    assert state.step == 1
