"""Parameter files (dftjax.params_io): round trips of nested pytrees, metadata, errors."""

import numpy as np
import pytest

from dftjax.params_io import flatten_pytree, load_pytree, match_params, save_pytree


def test_round_trip_nested_dicts_and_lists(tmp_path):
    tree = {"layers": [{"weight": np.arange(6.0).reshape(2, 3), "bias": np.ones(3)},
                       {"weight": np.zeros((3, 1)), "bias": np.array([0.5])}],
            "scale": np.float64(2.0)}
    path = save_pytree(tmp_path / "p.npz", tree, metadata={"form": "test", "steps": 3})
    loaded, metadata = load_pytree(path)
    assert metadata == {"form": "test", "steps": 3}
    assert sorted(flatten_pytree(loaded)) == ["layers/0/bias", "layers/0/weight", "layers/1/bias",
                                              "layers/1/weight", "scale"]
    assert isinstance(loaded["layers"], list) and len(loaded["layers"]) == 2
    np.testing.assert_array_equal(loaded["layers"][0]["weight"], tree["layers"][0]["weight"])
    assert loaded["layers"][1]["bias"].dtype == np.float64
    assert float(loaded["scale"]) == 2.0


def test_suffix_is_kept_and_metadata_optional(tmp_path):
    path = save_pytree(tmp_path / "weights.params", {"c": np.array([1.0])})
    assert path.exists() and path.name == "weights.params"
    tree, metadata = load_pytree(path)
    assert metadata == {} and float(tree["c"][0]) == 1.0


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="may not contain"):
        save_pytree(tmp_path / "x.npz", {"a/b": np.ones(1)})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pytree(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_text("not an npz")
    with pytest.raises(ValueError, match="not a parameter file"):
        load_pytree(bad)


def test_match_params_restores_tuples_and_names_mismatches(tmp_path):
    """A file keeps no tuples: match_params puts a loaded tree back into its template's
    structure by path, and names the paths or shapes that differ."""
    template = (1.0, {"kappa": 0.804, "mu": 0.2195}, (np.zeros(2), np.ones(3)))
    trained = (1.1, {"kappa": 0.9, "mu": 0.25}, (np.arange(2.0), np.arange(3.0)))
    loaded, _ = load_pytree(save_pytree(tmp_path / "t.npz", trained))
    assert isinstance(loaded, list)
    matched = match_params(loaded, template)
    assert isinstance(matched, tuple) and isinstance(matched[2], tuple)
    assert float(matched[1]["mu"]) == 0.25 and matched[0].dtype == np.float64
    np.testing.assert_array_equal(matched[2][1], np.arange(3.0))
    with pytest.raises(ValueError, match=r"missing 2/1; not the functional's 2/2"):
        match_params({"0": 1.0, "1": {"kappa": 0.9, "mu": 0.2}, "2": {"0": np.zeros(2), "2": np.zeros(3)}},
                     template)
    with pytest.raises(ValueError, match=r"2/1 \(2,\) \(expected \(3,\)\)"):
        match_params((1.0, {"kappa": 0.9, "mu": 0.2}, (np.zeros(2), np.zeros(2))), template)
