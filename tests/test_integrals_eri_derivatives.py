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


@pytest.mark.parametrize("omega", [0.0, 0.4])
def test_host_pullback_matches_the_compiled_one(omega):
    # On a CPU, concrete pair data take the NumPy twins of the compiled backward pass
    # (block cotangents, and each chunk's pullback onto the pair data) for the classes
    # that run in NumPy forward. Against the compiled programs, chunk by chunk, on water
    # in 6-31G* (d shells) with a random (nao,)*4 cotangent: the same formulas, equal to
    # rounding (1e-12 relative to each class's largest entry, and at least 1e-12: the
    # cotangent's entries are O(1), and some classes' centre terms cancel to ~1e-32).
    from dftjax.integrals import eri_derivatives as ed
    from dftjax.integrals.plan import pair_plan, quartet_plan
    from dftjax.integrals.two_electron import screened_chunks

    mol = dftjax.Molecule(["O", "H", "H"], WATER)
    basis = dftjax.build_basis(mol, "6-31g*")
    n = basis.nao
    cotangent = np.random.default_rng(1).normal(size=(n, n, n, n))
    pairs = hermite_pairs(basis, mol.coordinates)
    compiled_blocks = ed.block_cotangents(basis, jnp.asarray(cotangent))
    host_blocks = ed.block_cotangents(basis, cotangent, host=True)
    plan, chunked = pair_plan(basis), screened_chunks(basis, pairs)
    checked = 0
    for k, qc in enumerate(quartet_plan(basis)):
        assert (compiled_blocks[k] is None) == (host_blocks[k] is None)
        if host_blocks[k] is None:
            continue
        np.testing.assert_allclose(host_blocks[k], compiled_blocks[k], rtol=0,
                                   atol=1e-13 * np.abs(cotangent).max())
        (p, cp, e_ab), (q, cq, e_cd) = pairs[qc.bra], pairs[qc.ket]
        degrees = (plan[qc.bra].la + plan[qc.bra].lb, plan[qc.ket].la + plan[qc.ket].lb)
        chunks = chunked[k]
        host = [np.zeros(np.shape(x)) for x in (e_ab, cp, e_cd, cq)]
        want = [np.zeros(np.shape(x)) for x in (e_ab, cp, e_cd, cq)]
        for c in range(chunks.item_ab.shape[0]):
            items = (chunks.item_ab[c], chunks.item_cd[c], chunks.item_quartet[c])
            d = ed._chunk_pullback(*degrees, omega, compiled_blocks[k], e_ab, p, cp, e_cd, q, cq,
                                   *items)
            for w, x in zip(want, (d[0], d[2], d[3], d[5])):
                w += np.asarray(x)
            arrays = [np.asarray(x) for x in (host_blocks[k], e_ab, p, cp, e_cd, q, cq)]
            ed.host_chunk_pullback(*degrees, omega, *arrays, *items, host)
        for name, w, h in zip(("E_ab", "P", "E_cd", "Q"), want, host):
            scale = max(np.abs(w).max(), 1.0)
            assert np.abs(h - w).max() <= 1e-12 * scale, (k, name)
        checked += 1
    assert checked == len([qc for qc in quartet_plan(basis) if len(qc.pair_ab)])
