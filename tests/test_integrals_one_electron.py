"""One-electron integrals (overlap, kinetic, nuclear attraction, dipole) against PySCF.

References are frozen in tests/data/integral_reference.npz by
tests/data/make_integral_reference.py (PySCF with the same basis-set-exchange data, same
Angstrom coordinates); the cases are listed in its ``cases_json``.
"""

import json
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.integrals import one_electron_matrices, point_charge_matrix

from conftest import DATA_DIR

# integrals: 1e-10 absolute, the project tolerance; both codes are exact to ~1e-14
ATOL = 1e-10

REF = np.load(DATA_DIR / "integral_reference.npz")
CASES = {case["name"]: case for case in json.loads(str(REF["cases_json"]))}


@lru_cache(maxsize=None)
def setup(name):
    case = CASES[name]
    mol = dftjax.Molecule(case["symbols"], case["coords"])
    return mol, dftjax.build_basis(mol, case["basis"], cartesian=case["cartesian"])


@lru_cache(maxsize=None)
def computed(name):
    mol, basis = setup(name)
    overlap, kinetic, dipole = one_electron_matrices(basis, mol.coordinates)
    nuclear = point_charge_matrix(basis, mol.coordinates, mol.atomic_numbers.astype(float),
                                  mol.coordinates)
    return {"S": np.asarray(overlap), "T": np.asarray(kinetic), "V": np.asarray(nuclear),
            "dip": np.asarray(dipole)}


def assert_close(name, key, value, reference):
    assert value.shape == reference.shape, f"{name} {key}: shape {value.shape} != {reference.shape}"
    err = np.abs(value - reference)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() < ATOL, f"{name} {key}: max abs error {err.max():.3e} at {worst}"


@pytest.mark.parametrize("key", ["S", "T", "V", "dip"])
@pytest.mark.parametrize("name", list(CASES))
def test_against_pyscf(name, key):
    assert_close(name, key, computed(name)[key], REF[f"{name}_{key}"])


@pytest.mark.parametrize("cartesian", [False, True])
def test_host_pair_data_match_the_compiled_kernel(cartesian):
    # Concrete coordinates take the NumPy twin of the compiled pair-class kernel (traced
    # ones, e.g. forces, the kernel): every output of every class, spd and f shells, with
    # point charges and a dipole origin off the atoms, agrees to rounding (1e-13 relative
    # to each output's largest entry; the formulas are the same).
    from dftjax.integrals import one_electron as oe
    from dftjax.integrals.plan import padded_pair_class, pair_plan

    mol = dftjax.Molecule(["C", "O", "H", "H"], [[0.0, 0.0, 0.0], [0.0, 0.0, 2.27],
                                                 [1.7, 0.6, -0.9], [-1.7, 0.4, -1.1]])
    basis = dftjax.build_basis(mol, "def2-tzvp", cartesian=cartesian)
    coords = oe._pad_rows(np.asarray(mol.coordinates), 8)
    charges = oe._pad_rows(mol.atomic_numbers.astype(float), 8)
    origin = np.array([0.1, -0.2, 0.3])
    plan = pair_plan(basis)
    assert max(pc.la for pc in plan) == 3  # f shells (O and C in def2-TZVP)
    for k, pc in enumerate(plan):
        padded = padded_pair_class(basis, k)
        args = (pc.la, pc.lb, cartesian, padded.npair_bucket, coords, charges, coords, origin,
                padded.alpha, padded.beta, padded.coef, padded.atom_a, padded.atom_b,
                padded.prim_pair)
        compiled = oe.pair_class_kernel(*args)
        host = oe.pair_class_values_host(*args)
        for name, want, got in zip(("p", "P", "E", "blocks"), compiled, host):
            assert isinstance(got, np.ndarray) and got.shape == want.shape
            want = np.asarray(want)
            error = np.abs(got - want).max() / max(np.abs(want).max(), 1e-300)
            assert error < 1e-13, f"class {(pc.la, pc.lb)} {name}: {error:.1e}"


@pytest.mark.parametrize("cartesian", [False, True])
def test_pullback_matches_autodiff_of_the_traced_integrals(cartesian):
    # The forces' one-electron path: the matrices' cotangents back onto the class blocks
    # (assembly_cotangents, the transpose of the assembly, in NumPy) and each class onto
    # the coordinates (pair_data_pullback, one stored program per class), against
    # jax.vjp of the traced pair data and assembly (the nuclei both basis centres and
    # point charges). Random cotangents on every output, the Hermite pair data included
    # (the ERI terms' route); d shells, spherical and Cartesian. Both are exact: 1e-12
    # relative to the largest entry (rounding of sums over ~1e4 terms).
    from dftjax.integrals import one_electron as oe

    mol = dftjax.Molecule(["O", "H", "H"], [[0.0, 0.0, 0.2], [0.0, 1.4, -0.9], [0.1, -1.5, -0.8]])
    basis = dftjax.build_basis(mol, "6-31g*", cartesian=cartesian)
    coords, charges = np.asarray(mol.coordinates), mol.atomic_numbers.astype(float)
    rng = np.random.default_rng(3)
    matrix_ct = rng.normal(size=(6, basis.nao, basis.nao))
    data = oe.pair_data(basis, coords, charges, coords)
    pair_ct = [tuple(rng.normal(size=np.shape(x)) for x in d[:3]) for d in data]

    def traced(c):
        d = oe.pair_data(basis, c, jnp.asarray(charges), c)
        return oe._assemble_pairs(basis, [x[3] for x in d]), [x[:3] for x in d]

    _, vjp = jax.vjp(traced, jnp.asarray(coords))
    want = np.asarray(vjp((jnp.asarray(matrix_ct), [tuple(map(jnp.asarray, c)) for c in pair_ct]))[0])
    blocks_ct = oe.assembly_cotangents(basis, matrix_ct)
    cotangents = [(*c, b) for c, b in zip(pair_ct, blocks_ct)]
    d_centres, d_charges = oe.pair_data_pullback(basis, coords, charges, coords, cotangents)
    got = d_centres + d_charges
    assert got.shape == coords.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize("name", list(CASES))
def test_symmetric(name):
    # Hermitian up to rounding (blocks of a shell with itself are computed in full, so
    # their two triangles may differ in the last bits).
    mats = computed(name)
    for key in ("S", "T", "V"):
        np.testing.assert_allclose(mats[key], mats[key].T, rtol=0, atol=1e-13)
    np.testing.assert_allclose(mats["dip"], mats["dip"].transpose(0, 2, 1), rtol=0, atol=1e-13)


def test_dipole_origin():
    mol, basis = setup("water_sto3g")
    origin = REF["water_sto3g_dip_origin"]
    _, _, dipole = one_electron_matrices(basis, mol.coordinates, origin=tuple(origin))
    assert_close("water_sto3g", "dipole about origin", np.asarray(dipole),
                 REF["water_sto3g_dip_shifted"])
    # <i|r - C|j> = <i|r|j> - C S_ij
    shifted = computed("water_sto3g")["dip"] - origin[:, None, None] * computed("water_sto3g")["S"]
    np.testing.assert_allclose(np.asarray(dipole), shifted, atol=1e-13, rtol=0)


def test_external_point_charges():
    mol, basis = setup("water_sto3g")
    v_ext = point_charge_matrix(basis, mol.coordinates, REF["water_sto3g_ext_charges"],
                                REF["water_sto3g_ext_positions"])
    assert_close("water_sto3g", "V_ext", np.asarray(v_ext), REF["water_sto3g_V_ext"])


def _central_difference(f, x, h=1e-4):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = h
        grad[index] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


@pytest.mark.parametrize("which", ["S", "V"])
def test_coordinate_gradient_vs_finite_difference(which):
    # jax.grad of sum(M * W) with respect to the coordinates against central finite
    # differences (step 1e-4 Bohr): finite differences 1e-6 relative, the project
    # tolerance; the O(h^2) truncation error is ~1e-8 relative here.
    mol, basis = setup("water_sto3g")
    weights = np.random.default_rng(7).standard_normal((basis.nao, basis.nao))
    charges = mol.atomic_numbers.astype(float)

    def f(coords):
        if which == "S":
            matrix = one_electron_matrices(basis, coords)[0]
        else:  # nuclei move with their basis functions
            matrix = point_charge_matrix(basis, coords, charges, coords)
        return jnp.sum(matrix * weights)

    x0 = np.asarray(mol.coordinates, dtype=float)
    grad = np.asarray(jax.grad(f)(jnp.asarray(x0)))
    assert np.all(np.isfinite(grad))
    fd = _central_difference(lambda x: float(f(jnp.asarray(x))), x0)
    scale = np.abs(fd).max()
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6 * scale)
    # translating the whole molecule changes nothing
    np.testing.assert_allclose(grad.sum(axis=0), 0.0, atol=1e-10 * scale)
