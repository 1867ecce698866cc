"""LDA functionals against libxc, frozen in tests/data/xc_reference_lda_gga.npz.

The reference (tests/data/make_xc_reference.py) is libxc 7 through PySCF's eval_xc on
295 spin-resolved points from tiny to large densities, zero to large gradients, fully
polarised, unpolarised and hand-picked screening edges, plus closed-shell points
evaluated by libxc's unpolarised code. This module also holds the comparison helpers
that tests/test_xc_gga.py uses.

Tolerances, |ours - libxc| <= rtol |libxc| + atol, per point:

* energy per volume: rtol 1e-10, atol 1e-14 Hartree per electron times the density;
* vrho: rtol 1e-8 of the larger |vrho_s| at the point, atol 1e-14 Hartree;
* vsigma: rtol 1e-8 of the largest |vsigma| at the point, atol 1e-14 n^(-4/3) (the
  same 1e-14 Hartree per electron; vsigma scales as n^(-4/3) at fixed reduced gradient;
  n floored at 1e-10, where libxc's screening sets every value to zero anyway).

Taking the largest component as the scale covers components that vanish analytically but
come out of both codes as rounding residues (d E_x[alpha] / d rho_beta). The absolute
terms matter only where the value is itself a cancellation that leaves libxc's double
precision result few digits: LYP at full polarisation, PBE correlation at s ~ 100.

Near full polarisation the potentials' rtol grows by 1e-15 / f, f = 2 min(rho_s) / n
(spin densities floored at libxc's 1e-15): libxc forms 1 +- zeta by subtraction, which
leaves it a relative error ~1e-16 / f that reaches the potentials through powers of
1 +- zeta, while dftjax forms them as 2 rho_s / n. Where f is near libxc's zeta threshold
(2.2e-16) rounding decides which side of it libxc falls, and its potentials of the empty
channel are undetermined; the fully polarised points with small rho_a still test them.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dftjax.xc import Features, get_functional


@pytest.fixture(scope="module")
def reference(data_dir):
    with np.load(data_dir / "xc_reference_lda_gga.npz") as data:
        return dict(data)


def families(reference_data):
    return {key: family for key, _, family in json.loads(str(reference_data["functionals_json"]))}


def evaluate(functional, rho, sigma, jit=False):
    """Energy per volume (npts,), dE/drho (2, npts) and dE/dsigma (3, npts) by autodiff.

    Op by op unless ``jit``: compiling every functional would cost more than it saves here.
    """

    def total(rho, sigma):
        return jnp.sum(functional(Features(rho=rho, sigma=sigma)))

    def energy_and_potentials(rho, sigma):
        energy = functional(Features(rho=rho, sigma=sigma))
        return (energy, *jax.grad(total, argnums=(0, 1))(rho, sigma))

    if jit:
        energy_and_potentials = jax.jit(energy_and_potentials)
    return tuple(np.asarray(x) for x in energy_and_potentials(jnp.asarray(rho), jnp.asarray(sigma)))


def assert_close(ours, libxc, rtol, atol, what):
    np.testing.assert_array_less(np.abs(ours - libxc), rtol * np.abs(libxc) + atol + 1e-300,
                                 err_msg=what)


def assert_matches_libxc(key, reference, jit=False):
    """Spin-resolved energies and potentials of ``key`` against the frozen libxc values."""
    rho, sigma = reference["rho"], reference["sigma"]
    density = rho[0] + rho[1]
    energy, vrho, vsigma = evaluate(get_functional(key), rho, sigma, jit)
    assert np.all(np.isfinite(energy)) and np.all(np.isfinite(vrho)) and np.all(np.isfinite(vsigma))
    assert_close(energy, reference[f"{key}_exc"], 1e-10, 1e-14 * density, f"{key} energy")
    clamped = np.maximum(rho, 1e-15)
    rtol = 1e-8 + 1e-15 / (2 * clamped.min(axis=0) / clamped.sum(axis=0))
    libxc_vrho = reference[f"{key}_vrho"]
    assert_close(vrho, libxc_vrho, 0.0, rtol * np.abs(libxc_vrho).max(axis=0) + 1e-14, f"{key} vrho")
    if families(reference)[key] == "GGA":
        libxc_vsigma = reference[f"{key}_vsigma"]
        atol = rtol * np.abs(libxc_vsigma).max(axis=0) + 1e-14 * np.maximum(density, 1e-10) ** (-4 / 3)
        assert_close(vsigma, libxc_vsigma, 0.0, atol, f"{key} vsigma")
    else:
        assert not np.any(vsigma), "an LDA must not depend on sigma"


def assert_closed_shell_matches_libxc(key, reference):
    """rho_a = rho_b = n/2 against libxc's unpolarised evaluation at n.

    Unpolarised vrho = dE/dn = vrho_a; vsigma = dE/d|grad n|^2 = (vsigma_aa + vsigma_ab
    + vsigma_bb) / 4, since each sigma_st is |grad n|^2 / 4.
    """
    density, sigma_total = reference["closed_rho"], reference["closed_sigma"]
    rho = np.stack([density / 2, density / 2])
    sigma = np.stack([sigma_total / 4] * 3)
    energy, vrho, vsigma = evaluate(get_functional(key), rho, sigma)
    assert_close(energy, reference[f"{key}_closed_exc"], 1e-10, 1e-14 * density, f"{key} energy")
    np.testing.assert_allclose(vrho[0], vrho[1], rtol=1e-13, atol=0)
    libxc_vrho = reference[f"{key}_closed_vrho"]
    assert_close(vrho[0], libxc_vrho, 1e-8, 1e-14, f"{key} vrho")
    if families(reference)[key] == "GGA":
        libxc_vsigma = reference[f"{key}_closed_vsigma"]
        assert_close(vsigma.sum(axis=0) / 4, libxc_vsigma, 1e-8, 1e-14 * density ** (-4 / 3),
                     f"{key} vsigma")


LDA_KEYS = ["lda_x", "lda_c_vwn", "lda_c_vwn_rpa", "lda_c_pw", "lda_c_pw_mod", "lda_c_pz", "svwn"]

# Spin-resolved edge densities: nothing, one empty channel, below every threshold, a
# slightly negative channel; for GGAs with zero, tiny and antiparallel gradients.
EDGE_RHO = np.array([[0.0, 0.0, 0.3, 0.0, 1e-20, 1e-12, 0.5, 0.2, -1e-18, 2.0],
                     [0.0, 0.2, 0.0, 1e-16, 1e-20, 0.0, 0.5, 0.2, 0.3, 0.0]])
EDGE_SIGMA = np.array([[0.0, 0.0, 0.0, 0.1, 0.0, 1e-20, 0.0, 0.1, 0.0, 0.0],
                       [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.1, 0.0, 0.0],
                       [0.0, 0.1, 0.0, 1e-30, 0.0, 0.0, 0.0, 0.1, 0.2, 0.0]])


def assert_finite_at_edges(key):
    energy, vrho, vsigma = evaluate(get_functional(key), EDGE_RHO, EDGE_SIGMA)
    for name, value in [("energy", energy), ("vrho", vrho), ("vsigma", vsigma)]:
        assert np.all(np.isfinite(value)), f"{key}: non-finite {name} at edge densities"
    assert energy[0] == 0.0 and not np.any(vrho[:, 0]), "zero density must give zero"


@pytest.mark.parametrize("key", LDA_KEYS)
def test_lda_matches_libxc(key, reference):
    assert_matches_libxc(key, reference)


@pytest.mark.parametrize("key", LDA_KEYS)
def test_lda_closed_shell_matches_libxc(key, reference):
    assert_closed_shell_matches_libxc(key, reference)


@pytest.mark.parametrize("key", LDA_KEYS)
def test_lda_finite_at_edges(key):
    assert_finite_at_edges(key)


def test_slater_exchange_is_minus_x_factor_rho_to_four_thirds():
    rho = jnp.array([[0.7, 1e-3], [0.2, 1e-4]])
    energy = get_functional("lda_x")(Features(rho=rho))
    expected = -0.75 * (6 / np.pi) ** (1 / 3) * (rho[0] ** (4 / 3) + rho[1] ** (4 / 3))
    np.testing.assert_allclose(energy, expected, rtol=1e-14)


def test_pw92_parameters_are_differentiable():
    pw92 = get_functional("lda_c_pw")
    features = Features(rho=jnp.array([[0.3], [0.1]]))
    grad = jax.grad(lambda params: pw92(features, params)[0])(pw92.params)
    assert np.isfinite(grad["a"][0]) and grad["a"][0] != 0.0
