"""Range-separated hybrids (omega-B97X, CAM-B3LYP) against libxc 7.0.0 through PySCF.

Same reference file, tolerances and helpers as tests/test_xc_mgga.py; these are GGAs, so
vtau is zero. The exact-exchange mapping hf_full K + hf_long_range K_erf(omega) is checked
against PySCF's ``NumInt.rsh_and_hybrid_coeff`` (see dftjax.xc.range_separated).
"""

import jax.numpy as jnp
import numpy as np
import pytest
from test_xc_mgga import (assert_closed_shell_matches_libxc, assert_finite_at_edges,
                          assert_hybrid_coefficients_match_pyscf, assert_matches_libxc,
                          reference)  # noqa: F401  (fixture)

from dftjax.xc import range_separated
from dftjax.xc.functional import Features

RSH_NAMES = ["wb97x", "cam-b3lyp"]


@pytest.mark.parametrize("name", RSH_NAMES)
def test_matches_libxc(name, reference):
    assert_matches_libxc(name, reference)


@pytest.mark.parametrize("name", RSH_NAMES)
def test_closed_shell_matches_libxc(name, reference):
    assert_closed_shell_matches_libxc(name, reference)


@pytest.mark.parametrize("name", RSH_NAMES)
def test_finite_at_edges(name):
    assert_finite_at_edges(name)


@pytest.mark.parametrize("name", RSH_NAMES)
def test_hybrid_coefficients_match_pyscf(name, reference):
    assert_hybrid_coefficients_match_pyscf(name, reference)


@pytest.mark.parametrize("a, expected", [
    (0.5, 0.09654935171923305), (1.0, 0.026772142179266236), (1.3, 0.01607940060976366),
    (1.35, 0.01493400439065734), (2.0, 0.006879916889655129), (20.0, 6.943793460901788e-05),
])
def test_attenuation_matches_high_precision(a, expected):
    """Closed form below a = 1.35, libxc's a^-16 series above; reference values from the
    closed form in 50-digit decimal arithmetic. The closed form cancels to ~1e-14 near 1.35."""
    np.testing.assert_allclose(range_separated.attenuation_erf(jnp.array(a)), expected, rtol=5e-14)


def test_attenuation_limits():
    """F -> 1 as omega -> 0 (full-range exchange) and F ~ 1/(36 a^2) as a -> infinity."""
    np.testing.assert_allclose(range_separated.attenuation_erf(jnp.array([1e-3])), 1.0, rtol=1e-2)
    np.testing.assert_allclose(range_separated.attenuation_erf(jnp.array([1e4])), 1.0 / 36e8, rtol=1e-8)


def test_short_range_exchange_vanishes_with_long_range_only():
    """omega-B97X's exchange with omega -> infinity is fully long-range: semi-local part -> 0."""
    f = range_separated.FUNCTIONALS["wb97x"]
    features = Features(jnp.array([[0.3], [0.1]]), jnp.array([[0.2], [0.05], [0.04]]))
    no_correlation = dict(f.params, c_ss=(0.0,) * 5, c_ab=(0.0,) * 5, omega=1e8)
    assert abs(f(features, no_correlation)[0]) < 1e-12
