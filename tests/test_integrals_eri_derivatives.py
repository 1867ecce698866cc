"""The memory-lean ERI pullback (dftjax.integrals.eri_derivatives) against plain autodiff.

Plain reverse-mode autodiff of electron_repulsion is the independent reference (it keeps
every chunk's intermediates, fine for water); the two must agree to rounding, for the
Coulomb and the erf-attenuated operator. Both are also finite-difference checked in
test_integrals_two_electron.py / test_gradients.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.integrals import electron_repulsion
from dftjax.integrals.eri_derivatives import eri_from_pairs
from dftjax.integrals.one_electron import hermite_pairs

WATER = [[0.0, 0.0, 0.1], [0.0, 0.75, -0.5], [0.0, -0.8, -0.45]]


# d functions (6-31g*): plain autodiff takes minutes to compile on two cores, so slow.
@pytest.mark.parametrize("basis_name,omega", [
    ("sto-3g", 0.0), ("sto-3g", 0.4),
    pytest.param("6-31g*", 0.0, marks=pytest.mark.slow),
    pytest.param("6-31g*", 0.4, marks=pytest.mark.slow)])
def test_pullback_matches_plain_autodiff(basis_name, omega):
    mol = dftjax.Molecule(["O", "H", "H"], WATER)
    basis = dftjax.build_basis(mol, basis_name)
    n = basis.nao
    weights = jnp.asarray(np.random.default_rng(0).normal(size=(n, n, n, n)))
    coords = jnp.asarray(mol.coordinates)
    lean = jax.grad(lambda c: jnp.sum(weights * eri_from_pairs(basis, hermite_pairs(basis, c), omega)))(coords)
    plain = jax.grad(lambda c: jnp.sum(weights * electron_repulsion(basis, c, omega)))(coords)
    # integrals tolerance (1e-10) scaled by the size of the gradient; both are exact to ~1e-14
    np.testing.assert_allclose(lean, plain, rtol=0, atol=1e-10 * max(1.0, float(jnp.abs(plain).max())))
    # and the values are the same function
    np.testing.assert_allclose(eri_from_pairs(basis, hermite_pairs(basis, coords), omega),
                               electron_repulsion(basis, coords, omega), atol=1e-14)
