"""Parameter files (dftjax.params_io): round trips of nested pytrees, metadata, errors."""

import numpy as np
import pytest

from dftjax.params_io import flatten_pytree, load_pytree, save_pytree


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
