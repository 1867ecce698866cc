"""dftjax.scf.rotations: rotated orbitals stay orthonormal, the cheap second-order rotation
agrees with the exact one to third order, and Hessian-vector products equal finite
differences of the energy along the rotation (a toy quadratic-plus-quartic E(D)), and the
stability analysis's finite-difference products equal them at converged SCFs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax

from dftjax.scf.driver import as_pytree_model
from dftjax.scf.rotations import _energy_along, _hessian_vector, rotated_orbitals

RNG = np.random.default_rng(7)
NAO, NOCC = 5, 2


def orbitals_and_kappa():
    coeff = np.linalg.qr(RNG.normal(size=(NAO, NAO)))[0]
    coeff = np.stack([coeff, coeff[:, ::-1]])            # orthonormal, S = 1
    occ = np.zeros((2, NAO))
    occ[:, :NOCC] = 1.0
    mask = np.zeros((2, NAO, NAO))
    mask[:, NOCC:, :NOCC] = 1.0                           # virtual-occupied block
    return jnp.asarray(coeff), jnp.asarray(occ), jnp.asarray(mask * RNG.normal(size=mask.shape)), mask


def test_rotated_orbitals_are_orthonormal_and_second_order_is_close():
    coeff, _, kappa, _ = orbitals_and_kappa()
    exact = rotated_orbitals(coeff, kappa)
    overlap = jnp.swapaxes(exact, -1, -2) @ exact
    np.testing.assert_allclose(overlap, np.stack([np.eye(NAO)] * 2), atol=1e-13)
    for t in (1e-2, 5e-3):  # the difference is O(t^3): halving t divides it by ~8
        gaps = [float(jnp.abs(rotated_orbitals(coeff, s * kappa) -
                              rotated_orbitals(coeff, s * kappa, exact=False)).max())
                for s in (t, t / 2)]
        assert 7.0 < gaps[0] / gaps[1] < 9.0


def test_hessian_vector_is_the_derivative_of_the_gradient():
    coeff, occ, x, mask = orbitals_and_kappa()
    a = jnp.asarray(RNG.normal(size=(NAO, NAO)))
    a = a + a.T

    def model(density):  # any smooth E(D): one-electron part plus a quartic one
        return None, jnp.sum(density * a) + 0.3 * jnp.sum((density @ density) ** 2)

    model = as_pytree_model(model)
    signs = jnp.ones(2)
    v = jnp.asarray(mask * RNG.normal(size=mask.shape))
    product = _hessian_vector(model, coeff, occ, signs, jnp.asarray(mask), v)
    gradient = jax.grad(lambda y: _energy_along(model, coeff, occ, signs, y))
    h = 1e-5  # central difference of the exact gradient: error O(h^2) ~ 1e-10
    numeric = (gradient(h * v) - gradient(-h * v)) / (2 * h) * mask
    np.testing.assert_allclose(product, numeric, atol=1e-8, rtol=1e-7)


def converged_rotations(xyz, multiplicity, **options):
    """A converged 6-31G SCF of ``xyz`` and what the rotation products take: (result,
    pytree model, orbitals, occupations, the free virtual-occupied mask (nspin, nmo, nmo)
    on the padded basis, padding orbitals left out)."""
    from dftjax.scf.second_order import rotation_mask
    from dftjax.scf.stability import _on_the_ladder

    molecule = dftjax.Molecule.from_xyz(f"{len(xyz.splitlines())}\n\n{xyz}\n",
                                        multiplicity=multiplicity)
    calc = dftjax.scf(molecule, basis="6-31g", conv_tol=1e-10, stability=False, **options)
    assert calc.converged
    model, _, coeff, occ, _, nmo = _on_the_ladder(calc.model, calc.result)
    mask = rotation_mask(occ, calc.result.restricted)
    mask[:, nmo:] = False
    return calc.result, as_pytree_model(model), coeff, occ, mask


def unit_vector(mask):
    v = mask * RNG.normal(size=mask.shape)
    return v / np.linalg.norm(v)


@pytest.mark.parametrize("xyz, multiplicity, xc, density_fit", [
    ("O 0 0 0\nH 0 0 0.97", 2, "hf", False),                # UHF
    ("O 0 0 0\nH 0 0 0.97", 2, "b3lyp", False),             # UKS, hybrid GGA
    ("O 0 0 0\nH 0 0 0.97", 2, "m06-l", True),              # UKS, meta-GGA, density fitted
    ("O 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692", 1, "pbe", False),  # RKS
])
def test_finite_difference_products_match_autodiff_at_a_converged_scf(xyz, multiplicity, xc,
                                                                       density_fit):
    # The stability analysis's products: central differences of the orbital gradient at
    # rotated orbitals (one Fock build each), against forward-over-reverse autodiff of
    # E(D). 1e-7 relative: the differences' truncation error is O(HESSIAN_STEP^2) ~ 1e-8
    # and the gradient they difference differs from dE/dx by terms proportional to the
    # converged SCF's residual gradient (measured here: ~5e-10).
    from dftjax.scf.rotations import finite_difference_hessian_vector

    result, model, coeff, occ, mask = converged_rotations(
        xyz, multiplicity, xc=xc, grid_level=1, density_fit=density_fit)
    signs = np.ones(2)
    for _ in range(2):
        v = unit_vector(mask)
        exact = np.asarray(_hessian_vector(model, coeff, occ, signs, jnp.asarray(mask, float),
                                           jnp.asarray(v)))
        numeric = np.asarray(finite_difference_hessian_vector(
            model, coeff, occ, signs, jnp.asarray(mask, float), v,
            restricted=bool(result.restricted)))
        assert np.abs(numeric - exact).max() < 1e-7 * np.abs(exact).max()


@pytest.mark.parametrize("restricted", [False, True])
def test_finite_difference_products_away_from_convergence(restricted):
    # The descent (second_order.newton_iterate) uses the same products at orbitals that
    # are not converged. There they are 2 (F_mo K - K F_mo + C^T dF C)_ai (n_i - n_a),
    # K = v - v^T, dF the Fock matrix's derivative along the rotation: the Hessian less
    # its terms in the gradient F_vo, a symmetric operator (truncated CG needs one).
    # Computed here by autodiff of the Fock build; 1e-7 relative as above (the
    # differences' O(HESSIAN_STEP^2) truncation error).
    from dftjax.scf.driver import density_from_orbitals
    from dftjax.scf.rotations import finite_difference_hessian_vector, rotated_density

    xyz, multiplicity = (("O 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692", 1)
                         if restricted else ("O 0 0 0\nH 0 0 0.97", 2))
    _, model, coeff, occ, mask = converged_rotations(xyz, multiplicity)
    nspin = mask.shape[0]
    signs = np.ones(2)
    # orbitals 0.1 rad away from the solution: the orbital gradient is far from zero
    kick = mask * RNG.normal(size=mask.shape)
    kick = 0.1 * np.broadcast_to(kick, (2,) + mask.shape[1:]) / np.linalg.norm(kick)
    coeff = rotated_orbitals(coeff, jnp.asarray(kick))
    occ_np, coeff_np = np.asarray(occ), np.asarray(coeff)
    fock = np.asarray(model(density_from_orbitals(coeff, occ))[0])
    fock_mo = np.swapaxes(coeff_np, -1, -2) @ fock @ coeff_np
    g = 2.0 * fock_mo * (occ_np[:, None, :] - occ_np[:, :, None])
    assert np.abs(g[:nspin] * mask).max() > 1e-2

    def expected(v):
        kappa = np.broadcast_to(v, (2,) + v.shape[1:])
        _, dfock = jax.jvp(lambda t: model(rotated_density(coeff, occ, t * jnp.asarray(kappa),
                                                           exact=False))[0],
                           (jnp.zeros(()),), (jnp.ones(()),))
        k = kappa - np.swapaxes(kappa, -1, -2)
        response = np.swapaxes(coeff_np, -1, -2) @ np.asarray(dfock) @ coeff_np
        change = fock_mo @ k - k @ fock_mo + response
        product = 2.0 * change * (occ_np[:, None, :] - occ_np[:, :, None])
        if nspin == 1:
            product = product.sum(axis=0, keepdims=True)
        return product * mask

    vectors = [unit_vector(mask) for _ in range(2)]
    products = [np.asarray(finite_difference_hessian_vector(
        model, coeff, occ, signs, jnp.asarray(mask, float), v, restricted=restricted))
        for v in vectors]
    for v, product in zip(vectors, products):
        exact = expected(v)
        assert np.abs(product - exact).max() < 1e-7 * np.abs(exact).max()
    u, v = vectors
    asymmetry = abs(np.vdot(u, products[1]) - np.vdot(v, products[0]))
    assert asymmetry < 1e-7 * np.abs(products[0]).max()
