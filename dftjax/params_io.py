"""Parameter files: a pytree of arrays as a ``.npz``, readable without pickle.

The format shared by shipped functional weights, trained parameters and checkpoints:

* every leaf is an array stored under its path in the tree, the dict keys and list
  indices joined by ``/`` (``"layers/0/weight"``); a dict key may not contain ``/``;
* an optional JSON object (provenance, the functional form, a model card) under the key
  ``__metadata__``, as a 0-d unicode array;
* :func:`load_pytree` rebuilds nested dicts, and turns a dict whose keys are exactly
  ``"0" … "n-1"`` back into a list. Tuples come back as lists and scalars as 0-d arrays;
  :func:`match_params` puts a loaded tree back into the structure of the parameters it
  replaces (tuples where they had tuples), matched leaf by leaf by path.

Values keep their dtype (float64 for our own files).
"""

import io
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ._cache import replace_atomically

METADATA_KEY = "__metadata__"


def _flatten(tree, prefix, out):
    if isinstance(tree, dict):
        for key, value in tree.items():
            key = str(key)
            if "/" in key or key == METADATA_KEY:
                raise ValueError(f"parameter key {key!r} may not contain '/' or be {METADATA_KEY!r}")
            _flatten(value, f"{prefix}{key}/", out)
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            _flatten(value, f"{prefix}{index}/", out)
    elif tree is None:
        raise ValueError(f"parameter {prefix[:-1]!r} is None; parameter files hold arrays only")
    else:
        out[prefix[:-1]] = np.asarray(jax.device_get(tree))


def flatten_pytree(tree) -> dict:
    """``{path: numpy array}`` of a pytree of dicts, lists and arrays (see module docstring)."""
    out = {}
    _flatten(tree, "", out)
    return out


def _listify(node):
    if not isinstance(node, dict):
        return node
    node = {key: _listify(value) for key, value in node.items()}
    if node and sorted(node) == sorted(str(i) for i in range(len(node))):
        return [node[str(i)] for i in range(len(node))]
    return node


def unflatten_pytree(flat: dict):
    """The inverse of :func:`flatten_pytree`."""
    root = {}
    for path, value in flat.items():
        node = root
        *parents, leaf = path.split("/")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return _listify(root)


def save_pytree(path, tree, metadata: dict = None) -> Path:
    """Write ``tree`` (and a JSON-serialisable ``metadata`` dict) to ``path`` (.npz)."""
    path = Path(path)
    flat = flatten_pytree(tree)
    if metadata is not None:
        flat[METADATA_KEY] = np.array(json.dumps(metadata))
    buffer = io.BytesIO()  # np.savez would append .npz to a path with another suffix
    np.savez(buffer, **flat)
    # an interrupted write (Ctrl-C during a training checkpoint) leaves the old file whole
    replace_atomically(path, buffer.getvalue())
    return path


def leaf_paths(tree):
    """The path of every leaf of ``tree`` ("layers/0/w"), in ``tree_leaves`` order."""
    def name(entry):
        for attr in ("key", "idx", "name"):
            if hasattr(entry, attr):
                return str(getattr(entry, attr))
        return str(entry)

    return ["/".join(name(e) for e in path)
            for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def match_params(loaded, template):
    """``loaded`` (a tree from :func:`load_pytree`) in the structure of ``template`` (lists
    vs tuples, leaf order), matched by path, as float64 arrays. ValueError naming the
    paths or shapes that differ."""
    flat = flatten_pytree(loaded)
    paths = leaf_paths(template)
    missing = [p for p in paths if p not in flat]
    extra = sorted(set(flat) - set(paths))
    if missing or extra:
        raise ValueError("parameter paths do not match the functional's: "
                         + "; ".join(part for part in (
                             f"missing {', '.join(missing)}" if missing else "",
                             f"not the functional's {', '.join(extra)}" if extra else "") if part))
    template_leaves = jax.tree_util.tree_leaves(template)
    wrong = [f"{p} {np.shape(flat[p])} (expected {np.shape(t)})"
             for p, t in zip(paths, template_leaves) if np.shape(flat[p]) != np.shape(t)]
    if wrong:
        raise ValueError(f"parameter shapes do not match the functional's: {', '.join(wrong)}")
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template),
                                        [jnp.asarray(flat[p], jnp.float64) for p in paths])


def load_pytree(path):
    """``(tree, metadata)`` from a file written by :func:`save_pytree`; metadata {} if none.

    Raises FileNotFoundError for a missing file and ValueError for one that is not a
    parameter file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            flat = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"{str(path)!r} is not a parameter file (.npz): {error}") from None
    metadata = json.loads(str(flat.pop(METADATA_KEY))) if METADATA_KEY in flat else {}
    return unflatten_pytree(flat), metadata
