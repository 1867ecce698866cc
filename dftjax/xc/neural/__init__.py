"""Neural XC functionals: the Nagai-Akashi-Sugino forms NN-LSDA, NN-GGA, NN-meta-GGA, NN-NRA.

    >>> from dftjax.xc.neural import nn_functional
    >>> released = nn_functional("nn-gga")                       # the published weights
    >>> fresh = nn_functional("nn-metagga", key=jax.random.PRNGKey(0))   # random, for training
    >>> mine = nn_functional("nn-metagga", params=trained_params)

The network and descriptors are in :mod:`dftjax.xc.neural.network`; NN-NRA's nonlocal
descriptor in :mod:`dftjax.xc.nra`. The released weights (MIT licence, converted by
``scripts/convert_nnfunctional_weights.py``; provenance and SHA-256 of the sources in
``weights/README.md``) are package data, ``weights/<form>.npz``, in the parameter-file
format of :mod:`dftjax.params_io`.
"""

from functools import lru_cache, partial
from pathlib import Path

import jax
import numpy as np

from ...params_io import load_pytree
from ..functional import Functional
from .network import (EPSILON, FORMS, energy_density, epsilon_xc, init_params, n_descriptors,
                      weight_shapes)

WEIGHTS = Path(__file__).resolve().parent / "weights"

__all__ = ["EPSILON", "FORMS", "epsilon_xc", "init_params", "nn_functional", "released_params",
           "widen_params"]


@lru_cache(maxsize=None)
def _released(form):
    params, metadata = load_pytree(WEIGHTS / f"{form}.npz")
    return jax.tree_util.tree_map(lambda x: x.astype("float64"), params), metadata


def released_params(form):
    """``(params, metadata)`` of the published weights of ``form`` (float64 numpy arrays)."""
    _check_form(form)
    return _released(form)


def _check_form(form):
    if form not in FORMS:
        raise ValueError(f"unknown neural functional form {form!r}; known: {', '.join(FORMS)}")


def check_params(form, params):
    """ValueError unless ``params`` has the layer shapes of ``form``'s network."""
    expected = weight_shapes(form)
    try:
        shapes = [tuple(layer["weight"].shape) for layer in params["layers"]]
        biases = [tuple(layer["bias"].shape) for layer in params["layers"]]
    except (KeyError, TypeError) as error:
        raise ValueError(f"{form} parameters must be {{'layers': [{{'weight', 'bias'}}, ...]}}: "
                         f"missing {error}") from None
    if shapes != expected or biases != [(n_out,) for _, n_out in expected]:
        raise ValueError(f"{form} parameters have weight shapes {shapes}, expected {expected} "
                         f"(n_in = {n_descriptors(form)})")


def widen_params(params, from_form, to_form):
    """``from_form``'s parameters as ``to_form``'s, where ``to_form`` reads the same
    descriptors and more (e.g. NN-meta-GGA -> NN-NRA): the first layer gets zero weights
    for the new inputs, so the network computes the same function until training moves
    them. This is how a nonlocal form is started from a trained local one."""
    _check_form(from_form)
    _check_form(to_form)
    check_params(from_form, params)
    old, new = FORMS[from_form], FORMS[to_form]
    if new[:len(old)] != old or len(new) == len(old):
        raise ValueError(f"{to_form} does not extend {from_form}'s inputs {list(old)}")
    first, *rest = params["layers"]
    n_new = n_descriptors(to_form) - n_descriptors(from_form)
    weight = np.asarray(first["weight"], np.float64)
    widened = {"weight": np.concatenate([weight, np.zeros((n_new, weight.shape[1]))]),
               "bias": np.asarray(first["bias"], np.float64)}
    return {"layers": [widened] + [dict(layer) for layer in rest]}


def nn_functional(form, params=None, key=None, name=None):
    """The Functional of one of :data:`FORMS` (``"nn-lsda"``, ``"nn-gga"``, ``"nn-metagga"``,
    ``"nn-nra"``): with ``params`` if given, else freshly initialised from the PRNG ``key``
    if given, else the released weights. ``name`` defaults to ``form``."""
    _check_form(form)
    if params is not None and key is not None:
        raise ValueError("give params or key, not both")
    if params is None:
        params = init_params(form, key) if key is not None else released_params(form)[0]
    check_params(form, params)
    return Functional(name=name or form, energy_density=partial(energy_density, needs=FORMS[form]),
                      needs=FORMS[form], params=params)


NN_LSDA, NN_GGA, NN_METAGGA, NN_NRA = (nn_functional(form) for form in FORMS)
