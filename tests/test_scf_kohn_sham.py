"""The Kohn-Sham energy models' written-out Fock matrices are the derivatives of their
energy functions (dftjax.scf.kohn_sham, and dftjax.scf.density_fit with a functional).

Both models write F = h + J - a K - b K_lr + V_xc out instead of taking jax.grad of the
energy (one J/K build serves F and E; the XC potential is blocked matrix products), so
jax.grad(model.energy_fn), symmetrised, is the independent reference. The identity holds
for any symmetric ERIs and any density, so the ERIs here are built from a random fitted
tensor, (ij|kl) = sum_P B_ijP B_klP, and the densities from random orbitals (positive
rho on the grid); the XC part is water/STO-3G on a level-0 grid, to stay quick.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.grid import build_grid
from dftjax.scf.density_fit import df_fock_and_energy
from dftjax.scf.kohn_sham import ks_fock_and_energy
from dftjax.xc import get_functional
from dftjax.xc.blocked import xc_grid

WATER = dftjax.Molecule(["O", "H", "H"], [[0.0, 0.0, 0.119262], [0.0, 0.763239, -0.477047],
                                          [0.0, -0.763239, -0.477047]])
# F and dE/dD are the same sums in another order: agreement to rounding, far below the
# 1e-8 Ha of an SCF energy.
FOCK_TOL = 1e-10


@pytest.fixture(scope="module")
def water():
    basis = dftjax.build_basis(WATER, "sto-3g")
    grid = build_grid(WATER, level=0)
    xcg = xc_grid(basis, grid, WATER.coordinates, deriv=1)
    nao, rng = basis.nao, np.random.default_rng(11)
    factors = []
    for _ in range(2):  # full range, long range
        b = rng.standard_normal((nao, nao, 3 * nao)) * 0.1
        factors.append(jnp.asarray(b + b.transpose(1, 0, 2)))
    h_core = rng.standard_normal((nao, nao))
    orbitals = rng.standard_normal((2, nao, 5)) * 0.3
    density = jnp.asarray(np.einsum("sik,sjk->sij", orbitals, orbitals))
    return xcg, factors, jnp.asarray(h_core + h_core.T), density


def _model(kind, functional, water, restricted):
    xcg, (factor, factor_lr), h_core, _ = water
    long_range = functional.hf_long_range != 0.0
    if kind == "exact":
        eri, eri_lr = (jnp.einsum("ijp,klp->ijkl", f, f) for f in (factor, factor_lr))
        return ks_fock_and_energy(functional, h_core, eri, xcg, restricted=restricted,
                                  eri_long_range=eri_lr if long_range else None)
    return df_fock_and_energy(h_core, factor, 5, functional, xcg, restricted=restricted,
                              factor_long_range=factor_lr if long_range else None)


@pytest.mark.parametrize("kind", ["exact", "density-fit"])
@pytest.mark.parametrize("name", ["b3lyp", "wb97x"])  # global and range-separated hybrid
@pytest.mark.parametrize("restricted", [False, True])
def test_fock_is_the_derivative_of_the_energy(kind, name, restricted, water):
    density = water[3]
    if restricted:
        density = jnp.stack([density[0], density[0]])
    model = _model(kind, get_functional(name), water, restricted)
    fock, energy = jax.jit(lambda m, d: m(d))(model, density)
    expected_energy, gradient = jax.jit(jax.value_and_grad(model.energy_fn))(density, model.params)
    expected = 0.5 * (gradient + jnp.swapaxes(gradient, 1, 2))
    assert abs(float(energy - expected_energy)) < FOCK_TOL
    np.testing.assert_allclose(np.asarray(fock), np.asarray(expected), rtol=0,
                               atol=FOCK_TOL * float(jnp.abs(expected).max()))
