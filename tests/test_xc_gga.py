"""GGA functionals and the hybrids built from them, against libxc (through PySCF).

Same reference file and tolerances as tests/test_xc_lda.py, whose helpers these tests use.
B3LYP is libxc's/PySCF's (VWN_RPA correlation); "b3lyp5" the VWN5 variant.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_xc_lda import (assert_closed_shell_matches_libxc, assert_finite_at_edges,
                         assert_matches_libxc, reference)  # noqa: F401  (fixture)

from dftjax.xc import Features, get_functional

GGA_KEYS = ["gga_x_b88", "gga_x_pbe", "gga_c_pbe", "gga_c_lyp", "pbe", "blyp", "b3lyp", "b3lyp5",
            "pbe0"]


@pytest.mark.parametrize("key", GGA_KEYS)
def test_gga_matches_libxc(key, reference):
    assert_matches_libxc(key, reference)


@pytest.mark.parametrize("key", GGA_KEYS)
def test_gga_closed_shell_matches_libxc(key, reference):
    assert_closed_shell_matches_libxc(key, reference)


@pytest.mark.parametrize("key", GGA_KEYS)
def test_gga_finite_at_edges(key):
    assert_finite_at_edges(key)


@pytest.mark.parametrize("key", ["b3lyp", "pbe"])
def test_compiled_matches_libxc(key, reference):
    """Under jit (as the SCF runs them; XLA fuses multiply-adds) the tolerances still hold."""
    assert_matches_libxc(key, reference, jit=True)


def test_exact_exchange_fractions_match_pyscf(reference):
    for key in GGA_KEYS:
        assert get_functional(key).hf_full == pytest.approx(float(reference[f"{key}_hf"]), abs=1e-15)


@pytest.mark.parametrize("key", ["gga_x_b88", "gga_x_pbe"])
def test_gga_exchange_reduces_to_slater_without_gradient(key):
    features = Features(rho=jnp.array([[0.4, 2e-3], [0.1, 0.0]]), sigma=jnp.zeros((3, 2)))
    np.testing.assert_allclose(get_functional(key)(features), get_functional("lda_x")(features),
                               rtol=1e-14)


def test_mixing_coefficients_are_differentiable():
    b3lyp = get_functional("b3lyp")
    features = Features(rho=jnp.array([[0.3], [0.2]]), sigma=jnp.array([[0.1], [0.02], [0.05]]))
    grad = jax.grad(lambda params: b3lyp(features, params)[0])(b3lyp.params)
    (_, slater_params), (_, b88_params) = b3lyp.params[:2]
    np.testing.assert_allclose(grad[0][0], get_functional("lda_x")(features, slater_params)[0],
                               rtol=1e-14)
    np.testing.assert_allclose(grad[1][0], get_functional("b88")(features, b88_params)[0], rtol=1e-14)
