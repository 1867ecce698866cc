"""Electron-repulsion integrals (ij|kl) against PySCF.

References (tests/data/integral_reference.npz, made by
tests/data/make_integral_reference.py with PySCF on the same basis-set-exchange data):
per case 3000 random index quadruples with their values, and J, K contracted with a
stored random symmetric matrix D: J_ij = sum_kl (ij|kl) D_kl, K_ij = sum_kl (ik|jl) D_kl.
Each case runs twice: with the classes run in NumPy where that is cheaper than compiling
(the default; see HOST_MAX_CHUNKS) and with every class compiled. Compiled, the f- and
g-function cases (HF cc-pVTZ, LiH cc-pVQZ) take over a minute on two cores and are marked
slow (in NumPy, 2-8 s).
"""

import json
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.integrals import electron_repulsion

from conftest import DATA_DIR

# integrals: 1e-10 absolute, the project tolerance; both codes are exact to ~1e-14
ATOL = 1e-10

REF = np.load(DATA_DIR / "integral_reference.npz")
CASES = {case["name"]: case for case in json.loads(str(REF["cases_json"]))}
SLOW = {"hf_ccpvtz", "lih_ccpvqz"}
CASE_PARAMS = [pytest.param(name, compiled, id=f"{name}-{'compiled' if compiled else 'numpy'}",
                            marks=[pytest.mark.slow] if compiled and name in SLOW else [])
               for name in CASES for compiled in (False, True)]


@lru_cache(maxsize=None)
def setup(name):
    case = CASES[name]
    mol = dftjax.Molecule(case["symbols"], case["coords"])
    return mol, dftjax.build_basis(mol, case["basis"], cartesian=case["cartesian"])


@lru_cache(maxsize=2)
def computed(name, compiled=False):
    """The full ERI tensor; ``compiled``: every class by its compiled kernel, rather than
    in NumPy where that is the cheaper (HOST_MAX_CHUNKS, the default)."""
    from dftjax.integrals import two_electron
    mol, basis = setup(name)
    bound = two_electron.HOST_MAX_CHUNKS
    two_electron.HOST_MAX_CHUNKS = 0 if compiled else bound
    try:
        return np.asarray(electron_repulsion(basis, mol.coordinates))
    finally:
        two_electron.HOST_MAX_CHUNKS = bound


def assert_close(name, key, value, reference):
    assert value.shape == reference.shape, f"{name} {key}: shape {value.shape} != {reference.shape}"
    err = np.abs(value - reference)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err.max() < ATOL, f"{name} {key}: max abs error {err.max():.3e} at {worst}"


@pytest.mark.parametrize("name, compiled", CASE_PARAMS)
def test_against_pyscf(name, compiled):
    eri = computed(name, compiled)
    nao = setup(name)[1].nao
    assert eri.shape == (nao,) * 4
    idx = REF[f"{name}_eri_idx"]
    assert_close(name, "sampled (ij|kl)", eri[idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3]],
                 REF[f"{name}_eri_val"])
    dm = REF[f"{name}_dm"]
    # J and K sum nao^2 integrals each; 1e-10 absolute still holds (errors ~1e-13).
    assert_close(name, "J", np.einsum("ijkl,kl->ij", eri, dm), REF[f"{name}_J"])
    assert_close(name, "K", np.einsum("ikjl,kl->ij", eri, dm), REF[f"{name}_K"])


@pytest.mark.parametrize("name", ["water_sto3g", "h2co_631gs_cart", "nh3_def2svp"])
def test_eightfold_symmetry(name):
    eri = computed(name)
    for perm in [(1, 0, 2, 3), (0, 1, 3, 2), (1, 0, 3, 2), (2, 3, 0, 1), (3, 2, 0, 1),
                 (2, 3, 1, 0), (3, 2, 1, 0)]:
        np.testing.assert_allclose(eri, eri.transpose(perm), rtol=0, atol=1e-14,
                                   err_msg=f"{name}: permutation {perm}")


def test_positive_diagonal():
    # (ij|ij) >= 0: the Coulomb self-energy of the charge distribution i*j.
    eri = computed("nh3_def2svp")
    nao = eri.shape[0]
    diag = eri.reshape(nao * nao, nao * nao).diagonal()
    assert diag.min() > -1e-14


def test_coordinate_gradient_vs_finite_difference():
    # d/dR of sum_ijkl (ij|kl) W_ij W_kl (a Coulomb-energy-like scalar, W random symmetric)
    # against central finite differences, step 1e-4 Bohr: finite differences 1e-6
    # relative, the project tolerance.
    mol, basis = setup("water_sto3g")
    w = np.random.default_rng(11).standard_normal((basis.nao, basis.nao))
    w = w + w.T

    @jax.jit
    def f(coords):
        return jnp.einsum("ijkl,ij,kl->", electron_repulsion(basis, coords), w, w)

    x0 = np.asarray(mol.coordinates, dtype=float)
    grad = np.asarray(jax.grad(f)(jnp.asarray(x0)))
    assert np.all(np.isfinite(grad))
    h = 1e-4
    fd = np.zeros_like(x0)
    for index in np.ndindex(x0.shape):
        step = np.zeros_like(x0)
        step[index] = h
        fd[index] = (float(f(jnp.asarray(x0 + step))) - float(f(jnp.asarray(x0 - step)))) / (2 * h)
    scale = np.abs(fd).max()
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6 * scale)


def assert_survivors_are_the_brute_force_ones(basis, pairs, chunks):
    """The screened chunks' items, built directly, are exactly those of the full item
    lists whose bound product reaches the threshold (per quartet; the order within one
    may differ), sorted by quartet as accumulation needs."""
    from dftjax.integrals import two_electron as te

    bounds = [np.asarray(q)[: pc.nprim_pair]
              for q, pc in zip(te.primitive_pair_bounds(basis, pairs), te.pair_plan(basis))]
    for qc, chunk in zip(te.quartet_plan(basis), chunks):
        keep = (bounds[qc.bra][qc.item_ab] * bounds[qc.ket][qc.item_cd]
                >= te.screen_threshold(basis))
        real = chunk.item_quartet < chunk.nquartet_bucket
        assert np.all(np.diff(chunk.item_quartet.ravel()) >= 0)
        assert (sorted(zip(qc.item_quartet[keep], qc.item_ab[keep], qc.item_cd[keep]))
                == sorted(zip(chunk.item_quartet[real], chunk.item_ab[real], chunk.item_cd[real])))


def test_schwarz_screening_stays_within_its_error_bound():
    # Screening skips primitive quartets whose Schwarz bound is below the threshold; the
    # bound guarantees |error| < SCREEN_ERROR (1e-11) for every integral. A stretched
    # geometry screens more items than the equilibrium one, with the same chunk shapes
    # (no recompilation), and traced pair data fall back to the unscreened plan.
    from dftjax.integrals import two_electron as te
    from dftjax.integrals.one_electron import hermite_pairs

    mol, basis = setup("nh3_def2svp")
    counts = []
    for scale in (1.0, 2.0):
        pairs = hermite_pairs(basis, jnp.asarray(mol.coordinates) * scale)
        screened = np.asarray(te.electron_repulsion_from_pairs(basis, pairs))
        full = np.asarray(te.electron_repulsion_from_pairs(basis, pairs, screen=False))
        assert np.abs(screened - full).max() < te.SCREEN_ERROR
        chunks = te.screened_chunks(basis, pairs)
        plan = te._chunked_plan(basis)
        assert all(c.chunk == p.chunk and c.nquartet_bucket == p.nquartet_bucket
                   for c, p in zip(chunks, plan))
        counts.append(sum(int((c.item_quartet < c.nquartet_bucket).sum()) for c in chunks))
    total = sum(len(qc.item_ab) for qc in te.quartet_plan(basis))
    assert total > counts[0] > counts[1]
    assert_survivors_are_the_brute_force_ones(basis, pairs, chunks)
    seen = []

    def traced(coords):
        seen.append(te.primitive_pair_bounds(basis, hermite_pairs(basis, coords)))
        return jnp.sum(coords)

    jax.jit(traced)(jnp.asarray(mol.coordinates))
    assert seen == [None]  # no numbers to screen with under jit: the full plan is used


def test_screening_of_vanishing_pairs_is_exact_and_quiet():
    # Two steep primitives on different atoms can make a Schwarz factor so small that it
    # is subnormal (F2/def2-TZVP at its G2 geometry: 2e-323), and threshold / Q then
    # overflows. Such a row keeps no items, as one with Q = 0, and no RuntimeWarning
    # reaches the user (it did, once per process, in every G2 run).
    import warnings

    from dftjax.benchmarks.g2 import load_g2
    from dftjax.integrals import two_electron as te
    from dftjax.integrals.one_electron import hermite_pairs

    entry = next(m for m in load_g2()["molecules"] if m["name"] == "F2")
    mol = dftjax.Molecule(entry["symbols"], np.array(entry["positions_angstrom"]))
    basis = dftjax.build_basis(mol, "def2-tzvp")
    pairs = hermite_pairs(basis, jnp.asarray(mol.coordinates))
    bounds = te.primitive_pair_bounds(basis, pairs)
    assert any(((q > 0) & (q < np.finfo(np.float64).tiny)).any() for q in bounds)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        chunks = te.screened_chunks(basis, pairs)
    assert_survivors_are_the_brute_force_ones(basis, pairs, chunks)


def test_host_accumulation_matches_the_device_program():
    # On a CPU backend, concrete chunks are summed into their class accumulator in NumPy
    # (no program per class); traced ones by the _accumulate program. Same sums.
    from dftjax.integrals.two_electron import _accumulate, _add_on_host
    rng = np.random.default_rng(3)
    nquartet, chunk = 16, 64
    item_quartet = np.sort(rng.integers(0, nquartet + 1, chunk)).astype(np.int32)  # 16: padding
    values = rng.normal(size=(chunk, 3, 5))
    start = rng.normal(size=(nquartet, 3, 5))
    host = start.copy()
    _add_on_host(host, jnp.asarray(values), item_quartet)
    device = _accumulate(jnp.asarray(start), jnp.asarray(values), jnp.asarray(item_quartet))
    np.testing.assert_allclose(host, device, atol=1e-13)
    assert not np.allclose(host, start)


@pytest.mark.parametrize("omega", [0.0, 0.4])
def test_host_chunks_equal_the_compiled_kernel(omega):
    # Every class of an spd basis, plain and long-range (omega > 0) Coulomb: the NumPy
    # twin, which sums each row's items (a quartet's ket primitive pairs of one bra
    # primitive pair) before its bra product, gives the kernel's values summed per
    # quartet, to rounding (1e-14 of the largest: the same formulas, summed in another
    # order). The kernel's function runs op by op (no class program to compile), on 48
    # surviving items spread over each class and 48 consecutive ones from its middle
    # (whole rows, and rows cut at either end). (The f and g classes meet PySCF's integrals both ways in
    # test_against_pyscf; spdf here took 48 s in CI.)
    from dftjax.integrals import two_electron as te
    from dftjax.integrals.one_electron import hermite_pairs
    from dftjax.integrals.plan import pair_plan, quartet_plan
    mol = _molecule(*WATER)
    basis = dftjax.build_basis(mol, "def2-svp")
    plan = pair_plan(basis)
    pairs = hermite_pairs(basis, mol.coordinates)
    checked = summed = 0
    for qc, chunks in zip(quartet_plan(basis), te.screened_chunks(basis, pairs)):
        bra, ket = plan[qc.bra], plan[qc.ket]
        degrees = (bra.la + bra.lb, ket.la + ket.lb)
        (p, centre_p, e_ab), (q, centre_q, e_cd) = pairs[qc.bra], pairs[qc.ket]
        real = np.flatnonzero(chunks.item_quartet.ravel() < chunks.nquartet_bucket)
        spread = real[np.linspace(0, len(real) - 1, 48).astype(int)]
        items = np.union1d(spread, real[len(real) // 2:len(real) // 2 + 48])  # sorted
        # always 96 items (the last repeated: it adds to both sides alike), so that the
        # op-by-op kernel meets the same item count in every class and compiles its
        # operations once (a count per class made this test take 120 s in CI, not ~7)
        items = np.concatenate([items, np.full(96 - len(items), items[-1])])
        item_ab, item_cd, item_quartet = (x.ravel()[items] for x in (
            chunks.item_ab, chunks.item_cd, chunks.item_quartet))
        per_item = np.asarray(te.chunk_values(*degrees, omega, e_ab, p, centre_p, e_cd, q,
                                              centre_q, item_ab, item_cd))
        expected = np.zeros((chunks.nquartet_bucket,) + per_item.shape[1:])
        np.add.at(expected, item_quartet, per_item)
        host_arrays = [np.asarray(a) for a in (e_ab, p, centre_p, e_cd, q, centre_q)]
        host_arrays[3] = te.host_ket_table(host_arrays[3], *degrees)
        values, quartets = te.host_chunk_values(*degrees, omega, *host_arrays, item_ab,
                                                item_cd, item_quartet)
        host = np.zeros_like(expected)
        np.add.at(host, quartets, values)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(host, expected, rtol=0, atol=1e-14 * scale,
                                   err_msg=f"class {(bra.la, bra.lb, ket.la, ket.lb)}")
        checked += scale > 0
        summed += len(quartets) < len(items)
    assert checked == len(quartet_plan(basis)) == 21  # spd: every class has values
    assert summed >= 10  # most classes summed rows of several items


def test_small_classes_run_in_numpy_and_compile_nothing(monkeypatch):
    # Water/def2-SVP: every class is below HOST_MAX_CHUNKS, so no ERI kernel runs (none
    # compiles: a cold first run's most costly programs); with the bound at 0 every class
    # runs its kernel, and the pair matrix is the same to rounding.
    from dftjax.integrals import two_electron as te
    from dftjax.integrals.one_electron import hermite_pairs
    mol = _molecule(*WATER)
    basis = dftjax.build_basis(mol, "def2-svp")
    pairs = hermite_pairs(basis, mol.coordinates)
    called = []
    for name in ("quick_eri_chunk_kernel", "concrete_eri_chunk_kernel", "eri_chunk_kernel"):
        kernel = getattr(te, name)
        monkeypatch.setattr(te, name, lambda *a, kernel=kernel: called.append(1) or kernel(*a))
    host = np.asarray(te.pair_matrix_from_pairs(basis, pairs))
    assert not called
    monkeypatch.setattr(te, "HOST_MAX_CHUNKS", 0)
    compiled = np.asarray(te.pair_matrix_from_pairs(basis, pairs))
    assert len(called) >= len(te.quartet_plan(basis)) == 21
    np.testing.assert_allclose(host, compiled, rtol=0, atol=1e-14 * np.abs(compiled).max())


def test_kernel_rows_round_pair_buckets_up_to_powers_of_eight():
    from dftjax.integrals.two_electron import WIDE_PAIR_BYTES, _kernel_rows
    assert [_kernel_rows(n, 8) for n in (1, 64, 65, 128, 512, 513, 4096)] == [
        64, 64, 512, 512, 512, 4096, 4096]
    # an array that would pass the memory cap keeps its own rows
    assert _kernel_rows(1024, WIDE_PAIR_BYTES // 2048) == 1024


def _molecule(symbols, angstrom):
    return dftjax.Molecule(symbols, np.array(angstrom, float))


WATER = (["O", "H", "H"], [[0, 0, 0], [0, 0.76, 0.59], [0, -0.76, 0.59]])
METHANE = (["C", "H", "H", "H", "H"], [[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63],
                                       [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]])


def test_molecules_in_one_coarse_pair_bucket_share_the_eri_kernels(monkeypatch):
    # Water and methane in STO-3G hold 128 and 256 padded (s|s) primitive pairs: in
    # power-of-two buckets their ERI kernels would differ; the kernels see 512 rows for
    # both, so methane runs only kernel shapes that water compiled (both compiled, not
    # run in NumPy).
    from dftjax.integrals import two_electron
    from dftjax.integrals.one_electron import hermite_pairs
    monkeypatch.setattr(two_electron, "HOST_MAX_CHUNKS", 0)
    seen = []
    for name in ("quick_eri_chunk_kernel", "concrete_eri_chunk_kernel", "eri_chunk_kernel"):
        kernel = getattr(two_electron, name)

        def spy(*args, kernel=kernel, name=name):
            seen[-1].add((name, args[:3], tuple(np.shape(a) for a in args[3:])))
            return kernel(*args)

        monkeypatch.setattr(two_electron, name, spy)
    raw = []
    for symbols, angstrom in (WATER, METHANE):
        mol = _molecule(symbols, angstrom)
        basis = dftjax.build_basis(mol, "sto-3g")
        pairs = hermite_pairs(basis, mol.coordinates)
        raw.append([pair[0].shape[0] for pair in pairs])
        seen.append(set())
        two_electron.pair_matrix_from_pairs(basis, pairs)
    assert raw[0] != raw[1]
    assert seen[1] and seen[1] <= seen[0]


def test_widened_pair_data_change_no_integral(monkeypatch):
    from dftjax.integrals import two_electron
    from dftjax.integrals.one_electron import hermite_pairs
    mol = _molecule(*WATER)
    basis = dftjax.build_basis(mol, "6-31g")
    pairs = hermite_pairs(basis, mol.coordinates)
    widened = two_electron._kernel_pairs(pairs)
    assert any(w[0].shape[0] > p[0].shape[0] for w, p in zip(widened, pairs))
    wide = np.asarray(two_electron.pair_matrix_from_pairs(basis, pairs))
    monkeypatch.setattr(two_electron, "_kernel_pairs", lambda pairs: pairs)
    narrow = np.asarray(two_electron.pair_matrix_from_pairs(basis, pairs))
    np.testing.assert_array_equal(wide, narrow)  # the padding rows are never read


def test_classes_run_in_threads_only_when_concrete():
    from dftjax.integrals._compilation import map_classes
    seen = []
    assert map_classes(lambda k: k * k, range(5), np.zeros(3)) == [0, 1, 4, 9, 16]

    @jax.jit
    def traced(x):
        return sum(map_classes(lambda k: seen.append(k) or x * k, range(3), x))

    assert float(traced(jnp.ones(()))) == 3.0 and seen == [0, 1, 2]  # in order, in this thread
    with pytest.raises(ZeroDivisionError):
        map_classes(lambda k: 1 / k, range(3))


def test_quartet_items_expand_every_primitive_pair_combination():
    # Items of a quartet are every (bra primitive pair, ket primitive pair) combination,
    # bra-major, quartets in order; empty ranges give none (written out by loops here).
    from dftjax.integrals.plan import _expand_items, expand_ranges
    rng = np.random.default_rng(5)
    for _ in range(50):
        n = int(rng.integers(0, 7))
        start_ab, count_ab = rng.integers(0, 40, n), rng.integers(0, 4, n)
        start_cd, count_cd = rng.integers(0, 40, n), rng.integers(0, 4, n)
        expected = [(a, c, q) for q in range(n)
                    for a in range(start_ab[q], start_ab[q] + count_ab[q])
                    for c in range(start_cd[q], start_cd[q] + count_cd[q])]
        items = _expand_items(start_ab, count_ab, start_cd, count_cd)
        assert list(zip(*(x.tolist() for x in items))) == expected
        assert expand_ranges(start_ab, count_ab).tolist() == [
            a for q in range(n) for a in range(start_ab[q], start_ab[q] + count_ab[q])]


def test_surviving_items_match_brute_force_on_random_bounds():
    # The binary search over ket pairs sorted by bound finds exactly the items with
    # Q_ab Q_cd >= threshold, with zero bounds (nothing survives) and ties included.
    from types import SimpleNamespace

    from dftjax.integrals import two_electron as te
    from dftjax.integrals.plan import QuartetClass
    rng = np.random.default_rng(11)
    for _ in range(20):
        npair_ab, npair_cd = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        count_bra, count_ket = rng.integers(0, 5, npair_ab), rng.integers(1, 5, npair_cd)
        start_bra = np.concatenate([[0], np.cumsum(count_bra)])
        start_ket = np.concatenate([[0], np.cumsum(count_ket)])
        q_bra = rng.choice([0.0, 1e-8, 1e-6, 1e-3, 1.0], start_bra[-1])
        q_ket = rng.choice([0.0, 1e-8, 1e-6, 1e-3, 1.0], start_ket[-1])
        ab, cd = (x.ravel() for x in np.meshgrid(np.arange(npair_ab), np.arange(npair_cd),
                                                 indexing="ij"))
        qc = QuartetClass(0, 1, ab, cd, start_bra[ab], count_bra[ab], start_ket[cd], count_ket[cd])
        ket = SimpleNamespace(prim_pair=np.repeat(np.arange(npair_cd), count_ket))
        items = te._surviving_items(qc, q_bra, *te._ket_order(ket, q_ket), start_ket, 1e-9)
        keep = q_bra[qc.item_ab] * q_ket[qc.item_cd] >= 1e-9
        expected = sorted(zip(qc.item_quartet[keep], qc.item_ab[keep], qc.item_cd[keep]))
        assert sorted(zip(items[2], items[0], items[1])) == expected
        assert np.all(np.diff(items[2]) >= 0)


def test_pair_matrix_block_is_the_full_tensors_block():
    # an atom's ERIs (the SAD guess) gathered from the pair matrix, against the full
    # tensor's diagonal block: the same numbers, copied (exact equality)
    from dftjax.integrals.two_electron import pair_matrix_block, pair_matrix_from_pairs
    from dftjax.integrals.one_electron import hermite_pairs

    mol, basis = setup("nh3_def2svp")
    eri = computed("nh3_def2svp")
    pairs = pair_matrix_from_pairs(basis, hermite_pairs(basis, np.asarray(mol.coordinates)))
    for start, stop in basis.atom_ao_ranges():
        block = pair_matrix_block(pairs, start, stop)
        assert block.shape == (stop - start,) * 4
        np.testing.assert_array_equal(block, eri[start:stop, start:stop, start:stop, start:stop])


def test_compute_integrals_makes_the_full_tensor_when_first_read():
    # Integrals.eri is expanded from the pair matrix on first use and kept; the same
    # values as electron_repulsion (1e-10, the integral tolerance; both are one
    # calculation, so in practice equal)
    mol, basis = setup("nh3_def2svp")
    ints = dftjax.compute_integrals(mol, basis)
    assert ints.exact and ints._eri is None
    eri = ints.eri
    assert ints.eri is eri  # kept
    np.testing.assert_allclose(np.asarray(eri), computed("nh3_def2svp"), rtol=0, atol=ATOL)


def test_scf_never_makes_the_full_tensor():
    # the SCF, its guess and its padded model need only the pair matrix: the nao^4 tensor
    # (4x the pair matrix's memory) is made only for a caller who reads it
    mol, _ = setup("nh3_def2svp")
    result = dftjax.scf(mol, basis="def2-svp", xc="b3lyp")
    assert result.converged and result.integrals._eri is None
