"""SCFResult and the properties computed from it."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.scf.guess import core_guess
from dftjax.scf.result import SCFResult, dipole_moment, spin_square

DATA = np.load(Path(__file__).parent / "data" / "scf_reference.npz")


def test_dipole_is_nuclear_minus_electronic():
    rng = np.random.default_rng(0)
    dipole_ints = rng.normal(size=(3, 4, 4))
    density = rng.normal(size=(4, 4))
    charges, coords = np.array([8.0, 1.0]), rng.normal(size=(2, 3))
    expected = charges @ coords - np.einsum("xij,ij->x", dipole_ints, density.T)
    np.testing.assert_allclose(dipole_moment(dipole_ints, density, charges, coords), expected,
                               atol=1e-12)


def test_spin_square_of_closed_and_high_spin_determinants():
    overlap = jnp.asarray(DATA["h2o_631g_S"])
    h_core = jnp.asarray(DATA["h2o_631g_T"] + DATA["h2o_631g_V"])
    s2, multiplicity = spin_square(core_guess(overlap, h_core, 5, 5), overlap)
    assert abs(float(s2)) < 1e-10 and abs(float(multiplicity) - 1.0) < 1e-10
    # Same spatial orbitals, two extra alpha electrons: a pure triplet, S(S+1) = 2.
    s2, multiplicity = spin_square(core_guess(overlap, h_core, 6, 4), overlap)
    assert abs(float(s2) - 2.0) < 1e-10 and abs(float(multiplicity) - 3.0) < 1e-10


def test_result_is_a_pytree_with_static_flags():
    zero = jnp.zeros(())
    result = SCFResult(
        energy=zero, electronic_energy=zero, nuclear_repulsion=zero, mo_energy=jnp.zeros(2),
        mo_coeff=jnp.eye(2), mo_occ=jnp.asarray([2.0, 0.0]), density_matrix=jnp.eye(2),
        gradient_norm=zero, s2=zero, multiplicity=jnp.ones(()), converged=True, iterations=3,
        restricted=True, n_dropped=0)
    leaves, treedef = jax.tree_util.tree_flatten(result)
    assert len(leaves) == 10
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.converged and rebuilt.iterations == 3 and rebuilt.restricted
    np.testing.assert_array_equal(rebuilt.density_total, jnp.eye(2))
