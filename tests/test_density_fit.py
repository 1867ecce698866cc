"""Density fitting (RI-JK): auxiliary bases, 3- and 2-centre integrals, fitted SCF energies,
the energy model, the exact/fitted choice and memory checks.

References (tests/data/df_integrals.npz, df_reference.json) are frozen by
tests/data/make_df_references.py from PySCF: ``df.incore.aux_e2`` / ``int2c2e`` integrals
and ``mf.density_fit(auxbasis=...)`` energies with the same basis-set-exchange data, plus
PySCF's default auxiliary-basis choices. The default run needs no PySCF; ``-m live``
cross-checks against PySCF now, ``-m slow`` runs every energy case.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax import memory
from dftjax.basis.auxiliary import (aux_element_shells, build_auxbasis, default_auxbasis,
                                    even_tempered_spec, resolve_auxbasis)
from dftjax.integrals.density_fitting import fitted_tensor
from dftjax.integrals.one_electron import pair_data
from dftjax.integrals.three_center import three_center_integrals, two_center_integrals
from dftjax.scf.density_fit import df_coulomb, df_exchange, df_fock_and_energy

from conftest import DATA_DIR

REFERENCE = json.loads((DATA_DIR / "df_reference.json").read_text())
INTEGRALS = np.load(DATA_DIR / "df_integrals.npz")

# Integrals: the project tolerance, 1e-10 absolute. Both codes evaluate the same Gaussian
# integrals in double precision (Boys function to ~1e-15 relative); observed ~1e-12.
INTEGRAL_TOL = 1e-10
# Energies without a grid (HF, UHF): same fitted integrals to ~1e-12, so only the SCF
# convergence (conv_tol 1e-10 here, second order in the energy) and summation order
# remain; observed ~1e-13 Ha. The issue asks for 1e-7; the project tolerance is 1e-8.
HF_TOL = 1e-8
# Kohn-Sham: 1e-6 Ha, the project tolerance on matched grids. Closed shells agree to
# ~1e-12 Ha; open shells with a partly filled degenerate shell (OH's pi^3) to a few 1e-7,
# the grid anisotropy along the hole's orientation (see test_ks_energies.py), the same
# with exact ERIs. Range-separated functionals drop the long-range metric's eigenvalues
# below 1e-7 as PySCF does; the same integrals to 1e-12 keep the same ones (observed 2e-13).
KS_TOL = 1e-6
CONV_TOL = 1e-10

DEFAULT_ENERGY_CASES = {"water_rhf_svp", "oh_uhf_svp", "nh3_rks_b3lyp_dz", "water_rks_wb97x_svp"}


def molecule(name, multiplicity=1, coordinates=None):
    atoms = REFERENCE["molecules_bohr"][name]
    coords = np.array([c for _, c in atoms]) if coordinates is None else coordinates
    return dftjax.Molecule([a for a, _ in atoms], coords, unit="bohr", multiplicity=multiplicity)


# ---------------------------------------------------------------------------------------
# Auxiliary basis sets


@pytest.mark.parametrize("case", REFERENCE["defaults"], ids=lambda c: f"{c['basis']}-{c['xc']}")
def test_default_auxbasis_is_pyscfs(case):
    chosen = default_auxbasis(case["basis"], ["O", "H"], None if case["xc"] == "hf" else case["xc"])
    names = {k: (v if isinstance(v, str) else "etb") for k, v in chosen.items()}
    # PySCF names the def2 universal sets after the orbital basis ('def2-svp-jkfit')
    pyscf_names = {k: {"def2-svp-jkfit": "def2-universal-jkfit", "def2-tzvp-jkfit":
                       "def2-universal-jkfit"}.get(v, v) for k, v in case["auxbasis"].items()}
    assert names == pyscf_names


@pytest.mark.parametrize("case", REFERENCE["etb"], ids=lambda c: f"{c['basis']}-{c['element']}")
def test_even_tempered_spec_is_pyscfs(case):
    ours = even_tempered_spec(case["basis"], case["element"])
    assert len(ours) == len(case["spec"])
    for (l, n, emin, beta), ref in zip(ours, case["spec"]):
        assert (l, n, beta) == (ref[0], ref[1], ref[3])
        assert emin == pytest.approx(ref[2], rel=1e-12)


def test_cc_pvdz_jkfit_is_cc_pvtz_jkfit_without_its_top_shells():
    tz = aux_element_shells("cc-pvtz-jkfit", "C")
    dz = aux_element_shells("cc-pvdz-jkfit", "C")
    top = max(s.l for s in tz)
    assert dz == tuple(s for s in tz if s.l < top)


def test_pyscf_aliases_and_missing_sets():
    mol = molecule("water")
    assert resolve_auxbasis(mol, "def2-svp", "def2-svp-jkfit").name == "def2-universal-jkfit"
    assert resolve_auxbasis(mol, "def2-svp", "weigend").name == "def2-universal-jfit"
    assert resolve_auxbasis(mol, "sto-3g", "etb").name == "etb"
    with pytest.raises(ValueError, match="auxbasis="):  # PySCF's aug-cc-pvdz-jkfit: not in BSE
        resolve_auxbasis(mol, "aug-cc-pvdz", None)
    with pytest.raises(ValueError, match="unknown basis"):
        resolve_auxbasis(mol, "def2-svp", "no-such-fit")


# ---------------------------------------------------------------------------------------
# Integrals


@pytest.mark.parametrize("case", REFERENCE["integrals"], ids=lambda c: c["name"])
def test_three_and_two_center_integrals(case):
    mol = molecule(case["molecule"], multiplicity=2 if case["molecule"] == "oh" else 1)
    basis = dftjax.build_basis(mol, case["basis"], cartesian=case["cartesian"])
    aux = build_auxbasis(mol, resolve_auxbasis(mol, case["basis"], case["auxbasis"]),
                         cartesian=case["cartesian"])
    three = np.asarray(three_center_integrals(basis, aux, mol.coordinates, case["omega"]))
    two = np.asarray(two_center_integrals(aux, mol.coordinates, case["omega"]))
    lower = np.tril_indices(basis.nao)  # the reference holds i >= j (PySCF's s2ij packing)
    np.testing.assert_allclose(three[lower], INTEGRALS[f"{case['name']}_3c"], rtol=0,
                               atol=INTEGRAL_TOL)
    np.testing.assert_allclose(two[np.tril_indices(aux.nao)], INTEGRALS[f"{case['name']}_2c"],
                               rtol=0, atol=INTEGRAL_TOL)
    np.testing.assert_array_equal(two, two.T)


def test_kernel_groupings_agree(monkeypatch):
    """The cost model's grouping (classes padded together) changes only the work split:
    every grouping gives the same integrals."""
    from dftjax.integrals import three_center

    mol = molecule("water")
    basis = dftjax.build_basis(mol, "def2-svp")
    aux = build_auxbasis(mol, resolve_auxbasis(mol, "def2-svp", "cc-pvdz-jkfit"))
    results = []
    for grouping in [(0, 0), (3, 3), (1, 2)]:   # all together, every class alone, mixed
        three_center.df_plan.cache_clear()
        monkeypatch.setattr(three_center, "FORCE_GROUPING", grouping)
        results.append(np.asarray(three_center_integrals(basis, aux, mol.coordinates)))
    three_center.df_plan.cache_clear()
    for other in results[1:]:
        np.testing.assert_allclose(other, results[0], rtol=0, atol=1e-12)


def test_schwarz_screening_of_three_center_integrals():
    """Two waters 12 Bohr apart: most primitive pairs across them are negligible and are
    skipped, and the screened (ij|P) equal the unscreened ones to the screening's bound
    (SCREEN_ERROR, 1e-11 per integral), also at a second geometry (same shapes)."""
    from dftjax.integrals import three_center

    water = molecule("water")
    symbols = list(water.symbols) * 2
    for shift in (12.0, 9.0):
        coords = np.concatenate([water.coordinates, water.coordinates + [shift, 0.0, 0.0]])
        mol = dftjax.Molecule(symbols, coords, unit="bohr")
        basis = dftjax.build_basis(mol, "def2-svp")
        aux = build_auxbasis(mol, resolve_auxbasis(mol, "def2-svp", "def2-universal-jkfit"))
        pairs = [d[:3] for d in pair_data(basis, mol.coordinates)]
        kept = three_center.screened_rows(basis, aux, pairs)
        total = sum(len(g.seg) for g in three_center.df_plan(basis, aux).pair_groups)
        assert sum(len(k) for k in kept) < 0.8 * total  # the screening does skip work
        stack = lambda screen: np.asarray(three_center.stack_three_center(  # noqa: E731
            basis, aux, three_center.three_center_blocks(basis, aux, pairs, mol.coordinates,
                                                         screen=screen)))
        screened, full = stack(True), stack(False)
        assert np.abs(full).max() > 1.0
        np.testing.assert_allclose(screened, full, rtol=0, atol=three_center.SCREEN_ERROR)


def test_integrals_are_differentiable_in_the_coordinates():
    """jax.grad through (ij|P) and (P|Q) agrees with central finite differences."""
    mol = molecule("water")
    basis = dftjax.build_basis(mol, "sto-3g")
    aux = build_auxbasis(mol, resolve_auxbasis(mol, "sto-3g", "def2-universal-jkfit"))
    coords = jnp.asarray(mol.coordinates)

    def scalar(c):
        return (jnp.sum(three_center_integrals(basis, aux, c) ** 2)
                + jnp.sum(two_center_integrals(aux, c) ** 2) * 1e-3)

    gradient = np.asarray(jax.grad(scalar)(coords))
    step = 1e-4
    for atom, axis in [(0, 2), (1, 1), (2, 0)]:
        shift = np.zeros_like(np.asarray(coords))
        shift[atom, axis] = step
        numeric = (scalar(coords + shift) - scalar(coords - shift)) / (2 * step)
        assert gradient[atom, axis] == pytest.approx(float(numeric), rel=1e-6, abs=1e-8)


def _water_factor(basis_name="sto-3g", omega=0.0):
    mol = molecule("water")
    basis = dftjax.build_basis(mol, basis_name)
    aux = build_auxbasis(mol, resolve_auxbasis(mol, basis_name, "def2-universal-jkfit"))
    pairs = [d[:3] for d in pair_data(basis, mol.coordinates)]
    return mol, basis, aux, pairs


def test_fitted_tensor_reproduces_the_fit():
    """B B^T = (ij|P) (P|Q)^-1 (Q|kl), whatever the metric decomposition."""
    mol, basis, aux, pairs = _water_factor()
    three = np.asarray(three_center_integrals(basis, aux, mol.coordinates)).reshape(basis.nao**2, -1)
    two = np.asarray(two_center_integrals(aux, mol.coordinates))
    reference = three @ np.linalg.solve(two, three.T)
    for decomposition in ("cholesky", "eig"):
        factor, used = fitted_tensor(basis, aux, pairs, mol.coordinates, decomposition=decomposition)
        assert used == decomposition
        flat = np.asarray(factor).reshape(basis.nao**2, -1)
        np.testing.assert_allclose(flat @ flat.T, reference, atol=1e-9)


# ---------------------------------------------------------------------------------------
# Energy model


def _random_orbitals(nao, seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(nao, nao)))
    return q


def test_orbital_route_equals_density_route_and_fock_is_the_gradient():
    mol, basis, aux, pairs = _water_factor()
    factor, _ = fitted_tensor(basis, aux, pairs, mol.coordinates)
    nao = basis.nao
    h_core = jnp.asarray(np.random.default_rng(0).normal(size=(nao, nao)))
    h_core = 0.5 * (h_core + h_core.T)
    coeff = jnp.stack([_random_orbitals(nao, 1), _random_orbitals(nao, 2)])
    occ = jnp.array([[1.0] * 5 + [0.0] * (nao - 5), [1.0] * 4 + [0.0] * (nao - 4)])
    density = jnp.einsum("sim,sm,sjm->sij", coeff, occ, coeff)
    model = df_fock_and_energy(h_core, factor, n_occupied=5)
    fock, energy = model(density)
    fock_orb, energy_orb = model.fock_and_energy_from_orbitals(density, coeff, occ, False)
    np.testing.assert_allclose(fock_orb, fock, atol=1e-12)
    assert float(energy_orb) == pytest.approx(float(energy), abs=1e-12)
    gradient = jax.grad(model.energy_fn)(density, model.params)
    np.testing.assert_allclose(0.5 * (gradient + jnp.swapaxes(gradient, -1, -2)), fock, atol=1e-10)
    # J and K against the fitted four-index tensor
    eri = jnp.einsum("ijp,klp->ijkl", factor, factor)
    np.testing.assert_allclose(df_coulomb(factor, density[0]),
                               jnp.einsum("ijkl,kl->ij", eri, density[0]), atol=1e-12)
    np.testing.assert_allclose(df_exchange(factor, density[1]),
                               jnp.einsum("ikjl,kl->ij", eri, density[1]), atol=1e-12)
    # fractional occupation beyond n_occupied: the orbital route falls back to D
    occ_frac = occ.at[:, 5].set(0.5)
    dens_frac = jnp.einsum("sim,sm,sjm->sij", coeff, occ_frac, coeff)
    np.testing.assert_allclose(model.fock_and_energy_from_orbitals(dens_frac, coeff, occ_frac, False)[0],
                               model(dens_frac)[0], atol=1e-12)


def test_guess_density_factor_gives_the_density_routes_fock():
    """The SCF's first Fock matrix from a factor V V^T of the guess density (low rank, as
    a SAD density is) equals the density route's; a density with a negative eigenvalue,
    or one of nearly full rank, is not factorised."""
    from dftjax.scf.driver import density_factor

    mol, basis, aux, pairs = _water_factor("def2-svp")
    factor, _ = fitted_tensor(basis, aux, pairs, mol.coordinates)
    nao = basis.nao
    rng = np.random.default_rng(3)
    h_core = jnp.asarray(rng.normal(size=(nao, nao)))
    h_core = 0.5 * (h_core + h_core.T)
    coeff = _random_orbitals(nao, 4)[:, :7]
    density = jnp.asarray(np.stack([coeff * [1.0, 1, 1, 1, 0.6, 0.3, 0.1] @ coeff.T] * 2))
    model = df_fock_and_energy(h_core, factor, n_occupied=5)
    vectors = density_factor(model, density)
    assert vectors.shape == (2, nao, 8)  # rank 7, rounded up to the ladder
    np.testing.assert_allclose(jnp.einsum("sik,sjk->sij", vectors, vectors), density, atol=1e-13)
    fock, energy = model(density)
    for restricted in (False, True):
        fock_v, energy_v = model.fock_and_energy_from_factor(density, vectors, restricted)
        np.testing.assert_allclose(fock_v, fock, atol=1e-12)
        assert float(energy_v) == pytest.approx(float(energy), abs=1e-12)
    indefinite = density.at[:, 0, 0].add(-5.0)
    assert density_factor(model, indefinite) is None
    full = jnp.stack([jnp.eye(nao)] * 2)
    assert density_factor(model, full) is None
    assert density_factor(lambda d: None, density) is None  # models without the route


# ---------------------------------------------------------------------------------------
# SCF energies against PySCF density_fit()


def _energy_params(case):
    return pytest.param(case, id=case["name"], marks=() if case["name"] in DEFAULT_ENERGY_CASES
                        else pytest.mark.slow)


@pytest.mark.parametrize("case", [_energy_params(c) for c in REFERENCE["energies"]])
def test_density_fitted_energy_matches_pyscf(case):
    mol = molecule(case["molecule"], case["multiplicity"])
    result = dftjax.scf(mol, basis=case["basis"], xc=case["xc"], density_fit=True,
                        auxbasis=case["auxbasis"], unrestricted=case["unrestricted"],
                        conv_tol=CONV_TOL)
    assert result.converged
    assert result.eri_method == "density-fit"
    assert result.naux == case["naux"]
    assert result.integrals.eri is None  # no four-index tensor on this path
    tol = HF_TOL if case["xc"] == "hf" else KS_TOL
    assert abs(result.energy - case["energy"]) < tol


def test_new_geometry_does_not_recompile():
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    mol = molecule("water")
    first = dftjax.scf(mol, basis="sto-3g", density_fit=True)
    moved = np.array(mol.coordinates)
    moved[1, 1] += 0.05
    compiles.clear()
    second = dftjax.scf(molecule("water", coordinates=moved), basis="sto-3g", density_fit=True)
    assert second.converged and first.converged
    assert compiles == []


def _tiled_and_grouped(name, basis_name, monkeypatch):
    """(ij|P) blocks of a G2 molecule by the tiled kernels (TILED_MIN_NAO lowered to 0)
    and by the grouped ones, both screened."""
    from dftjax.benchmarks.g2 import load_g2
    from dftjax.integrals import three_center
    from dftjax.xc.registry import get_functional

    entry = {m["name"]: m for m in load_g2()["molecules"]}[name]
    mol = dftjax.Molecule(entry["symbols"], np.array(entry["positions_angstrom"]))
    basis = dftjax.basis.build_basis(mol, basis_name)
    aux = build_auxbasis(mol, resolve_auxbasis(mol, basis_name, None, get_functional("b3lyp")))
    coords = np.asarray(mol.coordinates)
    pairs = [d[:3] for d in pair_data(basis, coords)]
    monkeypatch.setattr(three_center, "TILED_MIN_NAO", 0)
    tiled = three_center.three_center_blocks(basis, aux, pairs, coords)
    monkeypatch.setattr(three_center, "TILED_MIN_NAO", 10**9)
    grouped = three_center.three_center_blocks(basis, aux, pairs, coords)
    return tiled, grouped


@pytest.mark.parametrize("name, basis_name", [("CH3Cl", "6-31g*"), ("CO", "def2-tzvp")])
def test_tiled_three_center_kernels_equal_the_grouped_ones(name, basis_name, monkeypatch):
    """The tiled (ij|P) path (fixed tiles and ket chunks, shells contracted per tile and
    added on the host) gives the grouped kernels' blocks to rounding (1e-13 on integrals of
    size ~10): Cartesian d (6-31G*), spherical f on both sides and contracted auxiliary
    shells (def2-TZVP), tiles that cross shell pairs and chunks that cross shells."""
    tiled, grouped = _tiled_and_grouped(name, basis_name, monkeypatch)
    for row_tiled, row_grouped in zip(tiled, grouped):
        for a, b in zip(row_tiled, row_grouped):
            assert a.shape == b.shape
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-13)


def test_tiled_three_center_kernels_do_not_depend_on_the_molecule(monkeypatch):
    """After one molecule, another of the same elements but a different size runs the
    tiled (ij|P) path without a single new kernel (grouped kernels: C2H6 after C2H4 in
    def2-SVP needs new ones)."""
    from dftjax.integrals import three_center

    _tiled_and_grouped("C2H4", "def2-svp", monkeypatch)
    programs = len(three_center.tiled_kernel._programs), three_center.tiled_kernel.jitted._cache_size()
    _tiled_and_grouped("C2H6", "def2-svp", monkeypatch)
    assert (len(three_center.tiled_kernel._programs),
            three_center.tiled_kernel.jitted._cache_size()) == programs


def test_a_molecule_of_similar_size_reuses_the_three_center_kernels():
    """Kernel shapes are bucketed (:func:`~dftjax.integrals.three_center.segment_bucket`):
    after CH3Cl, C2H4 in def2-SVP (found by listing G2-1's plans) needs no new (ij|P) or
    (P|Q) kernel; with the 1/8-waste buckets used before, it needed its own."""
    from dftjax.integrals.three_center import class_block, three_center_blocks, two_center_blocks

    from dftjax.benchmarks.g2 import load_g2
    from dftjax.xc.registry import get_functional

    geometries = {m["name"]: m for m in load_g2()["molecules"]}

    def blocks(name):
        entry = geometries[name]
        mol = dftjax.Molecule(entry["symbols"], np.array(entry["positions_angstrom"]))
        basis = dftjax.basis.build_basis(mol, "def2-svp")
        aux = build_auxbasis(mol, resolve_auxbasis(mol, "def2-svp", None, get_functional("b3lyp")))
        coords = np.asarray(mol.coordinates)
        pairs = [d[:3] for d in pair_data(basis, coords)]
        return jax.block_until_ready((three_center_blocks(basis, aux, pairs, coords),
                                      two_center_blocks(aux, coords, basis=basis)))

    blocks("CH3Cl")
    kernels = class_block._cache_size()
    blocks("C2H4")
    assert class_block._cache_size() == kernels

# ---------------------------------------------------------------------------------------
# Choice of method and memory


def test_memory_estimates_and_automatic_choice():
    gib = memory.GIB
    assert memory.exact_bytes(100) > 100**4 * 8
    assert memory.exact_bytes(100, long_range=True) > memory.exact_bytes(100)
    # the 500-function case fits 24 GiB: B (4.3 GiB) and the SCF's copy of it on the
    # ladder (512 functions, 2560 auxiliary: 5.0 GiB)
    assert memory.density_fit_bytes(500, 2300) < 10 * gib
    assert memory.density_fit_bytes(500, 2300) >= (500 * 500 * 2300 + 512 * 512 * 2560) * 8
    # 24 GiB: exact for small molecules, fitted above ~130 functions
    assert memory.choose_method(95, physical=24 * gib) == "exact"
    assert memory.choose_method(200, physical=24 * gib) == "density-fit"
    assert memory.choose_method(500, physical=512 * gib) == "density-fit"   # capped


def test_kept_ao_budget():
    """AO values are kept in at most 30 % of the physical memory and never beyond 80 % of
    what is available beside the other arrays; the peak estimate counts what is kept."""
    gib = memory.GIB
    assert memory.kept_ao_budget(4 * gib, available=22 * gib, physical=24 * gib) == \
        pytest.approx(0.3 * 24 * gib)
    assert memory.kept_ao_budget(8 * gib, available=12 * gib, physical=24 * gib) == \
        pytest.approx(0.8 * 12 * gib - 8 * gib)
    assert memory.kept_ao_budget(12 * gib, available=12 * gib, physical=24 * gib) == 0
    nao, naux, npts = 300, 1400, 400_000
    without = memory.estimate("density-fit", nao, naux, npts=npts, kept_ao_limit=0)
    with_ao = memory.estimate("density-fit", nao, naux, npts=npts, kept_ao_limit=2 * gib)
    assert with_ao - without == 2 * gib


def test_memory_error_before_the_run(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 1024**2)
    mol = molecule("water")
    with pytest.raises(MemoryError, match="density_fit=True"):
        dftjax.scf(mol, basis="sto-3g", density_fit=False)
    with pytest.raises(MemoryError, match="auxiliary functions"):
        dftjax.scf(mol, basis="sto-3g", density_fit=True)


def test_automatic_choice_is_recorded(monkeypatch):
    mol = molecule("water")
    small = dftjax.scf(mol, basis="sto-3g")
    assert small.eri_method == "exact" and small.auxbasis is None and small.memory_estimate > 0
    monkeypatch.setattr(memory, "EXACT_CAP", 0)  # as if the exact tensor were too big
    big = dftjax.scf(mol, basis="sto-3g")
    assert big.eri_method == "density-fit" and big.auxbasis == "def2-universal-jkfit"
    assert abs(big.energy - small.energy) < 1e-3  # the fitting error, small


def test_cli_density_fit(tmp_path, capsys):
    from dftjax.cli import main

    path = tmp_path / "water.xyz"
    path.write_text(molecule("water").to_xyz())
    assert main(["run", str(path), "--basis", "sto-3g", "--density-fit",
                 "--auxbasis", "def2-universal-jkfit", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["eri_method"] == "density-fit"
    assert record["auxbasis"] == "def2-universal-jkfit"
    assert record["naux"] == 113
    assert record["memory_estimate_bytes"] > 0


# ---------------------------------------------------------------------------------------
# Live cross-checks with PySCF


def _pyscf_molecule(mol, basis):
    import basis_set_exchange as bse
    from pyscf import gto

    elements = sorted(set(mol.symbols))
    return gto.M(atom=[(s, c) for s, c in zip(mol.symbols, np.asarray(mol.coordinates))],
                 unit="bohr", basis={e: gto.basis.parse(bse.get_basis(basis, elements=[e], fmt="nwchem"))
                                     for e in elements},
                 spin=mol.multiplicity - 1, charge=mol.charge, verbose=0)


@pytest.mark.live
@pytest.mark.parametrize("basis,xc,unrestricted", [("def2-svp", "hf", True), ("6-31g*", "pbe0", False)])
def test_live_energy_against_pyscf(basis, xc, unrestricted):
    import basis_set_exchange as bse
    from pyscf import dft, gto, scf

    mol = dftjax.Molecule(["N", "H", "H"], [[0.0, 0.0, 0.25], [0.0, 1.55, -0.5], [1.4, -0.7, -0.45]],
                          unit="bohr", multiplicity=2)
    ours = dftjax.scf(mol, basis=basis, xc=xc, density_fit=True, unrestricted=True,
                      conv_tol=CONV_TOL)
    pmol = _pyscf_molecule(mol, basis)
    aux_name = "cc-pvtz-jkfit" if ours.auxbasis == "cc-pvdz-jkfit" else ours.auxbasis
    auxbasis = {}
    for e in sorted(set(mol.symbols)):
        shells = gto.basis.parse(bse.get_basis(aux_name, elements=[e], fmt="nwchem"))
        if ours.auxbasis == "cc-pvdz-jkfit":
            shells = [s for s in shells if s[0] < max(x[0] for x in shells)]
        auxbasis[e] = shells
    mf = scf.UHF(pmol) if xc == "hf" else dft.UKS(pmol)
    if xc != "hf":
        mf.xc = xc
        mf.grids.level = 3
    mf = mf.density_fit(auxbasis=auxbasis)
    mf.conv_tol = 1e-11
    reference = mf.kernel()
    assert abs(ours.energy - reference) < (HF_TOL if xc == "hf" else KS_TOL)


@pytest.mark.live
@pytest.mark.parametrize("basis", ["def2-tzvp", "cc-pvtz", "6-311g**", "3-21g", "sto-6g", "pcseg-1"])
def test_live_default_auxbasis_against_pyscf(basis):
    from pyscf import gto, scf
    from pyscf.df import addons

    pmol = gto.M(atom="C 0 0 0; O 0 0 2.1; H 0 1.7 -1; H 0 -1.7 -1", unit="bohr", basis=basis, verbose=0)
    mf = scf.RHF(pmol).density_fit()
    chosen = mf.with_df.auxbasis or addons.make_auxbasis(pmol)
    if isinstance(chosen, str):
        chosen = {e: chosen for e in ("C", "O", "H")}
    ours = default_auxbasis(basis, ["C", "O", "H"])
    for element in ("C", "O", "H"):
        theirs = chosen[element]
        if isinstance(theirs, str):
            assert ours[element] == resolve_auxbasis(molecule("water"), basis, theirs).name
        else:
            assert ours[element][0] == "etb"
