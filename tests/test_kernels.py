"""Pallas kernels (``dftjax_kernels``, from kernels/) against their plain-JAX twins in dftjax.

The kernels run in Pallas's interpret mode here, so this checks their logic (tiling,
padding, accumulation) on a CPU; their speed on a GPU is another matter. Sizes are not
multiples of the tiles, so the padding is exercised.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax_kernels
from dftjax.xc import features
from dftjax.xc.features import block_density_jax, block_potential_jax

# Sums of ~n B products of O(1) numbers: the two orders of summation differ by rounding.
RTOL = 1e-12
NPOINT, NAO = 45, 37


@pytest.fixture(scope="module")
def block():
    rng = np.random.default_rng(7)
    ao = jnp.asarray(rng.standard_normal((4, NPOINT, NAO)))
    half = rng.standard_normal((2, NAO, NAO))
    density = jnp.asarray(half + np.swapaxes(half, 1, 2))
    return ao, density, rng


def _close(actual, expected):
    scale = float(jnp.max(jnp.abs(expected)))
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=0, atol=RTOL * scale)


@pytest.mark.parametrize("with_grad, with_tau", [(False, False), (True, False), (True, True), (False, True)])
def test_block_density_kernel_matches_jax(block, with_grad, with_tau):
    ao, density, _ = block
    ao = ao if with_grad or with_tau else ao[:1]
    expected = block_density_jax(ao, density, with_grad, with_tau)
    actual = dftjax_kernels.block_density(ao, density, with_grad, with_tau, interpret=True)
    assert actual.shape == expected.shape
    _close(actual, expected)


@pytest.mark.parametrize("with_grad, with_tau", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("nspin", [1, 2])
def test_block_potential_kernel_matches_jax(block, with_grad, with_tau, nspin):
    ao, _, rng = block
    ao = ao if with_grad or with_tau else ao[:1]
    v_rho = jnp.asarray(rng.standard_normal((nspin, NPOINT)))
    g = jnp.asarray(rng.standard_normal((nspin, 3, NPOINT))) if with_grad else None
    v_tau = jnp.asarray(rng.standard_normal((nspin, NPOINT))) if with_tau else None
    expected = block_potential_jax(ao, v_rho, g, v_tau)
    actual = dftjax_kernels.block_potential(ao, v_rho, g, v_tau, interpret=True)
    assert actual.shape == expected.shape == (nspin, NAO, NAO)
    _close(actual, expected)


def test_dispatch(block, monkeypatch):
    """CPU default: plain JAX; DFTJAX_KERNELS=pallas forces the kernels (interpreted here)."""
    ao, density, _ = block
    monkeypatch.delenv("DFTJAX_KERNELS", raising=False)
    assert not features.use_kernels()
    monkeypatch.setenv("DFTJAX_KERNELS", "pallas")
    assert features.use_kernels()
    _close(features.block_density(ao, density, True, True), block_density_jax(ao, density, True, True))
    monkeypatch.setenv("DFTJAX_KERNELS", "nonsense")
    with pytest.raises(ValueError):
        features.use_kernels()


def test_kernels_have_the_derivatives_of_their_twins(block, monkeypatch):
    """Pallas calls have no derivative rules; dftjax gives the kernels their twins' (the
    XC energy is differentiated for forces and implicit derivatives)."""
    monkeypatch.setenv("DFTJAX_KERNELS", "pallas")  # interpret mode on a CPU
    ao, density, rng = block
    weights = jnp.asarray(rng.standard_normal((2, 5, NPOINT)))
    v_rho, v_tau = (jnp.asarray(rng.standard_normal((2, NPOINT))) for _ in range(2))
    g = jnp.asarray(rng.standard_normal((2, 3, NPOINT)))

    cases = [  # (ours, twin, a scalar function of (ao, second argument), the second argument)
        (features.block_density, block_density_jax,
         lambda fn: lambda a, d: jnp.vdot(weights, fn(a, d, True, True)), density),
        (features.block_potential, block_potential_jax,
         lambda fn: lambda a, v: jnp.vdot(density, fn(a, v, g, v_tau)), v_rho)]
    for ours, twin, scalar, second in cases:
        for argnum in (0, 1):
            _close(jax.grad(scalar(ours), argnum)(ao, second),
                   jax.grad(scalar(twin), argnum)(ao, second))
