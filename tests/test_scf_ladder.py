"""The basis-size ladder for Kohn-Sham and density-fitted SCFs (dftjax.scf.ladder).

Each model is solved twice from the same SAD guess: padded onto its rung
(``EnergyModel.pad``, as ``dftjax.scf`` does) and with padding switched off. The padding
functions are decoupled exactly, so the two runs are the same SCF to rounding: 1e-10 Ha
(only the summation order of products changes; conv_tol 1e-11 so that both stop at a
converged state, not at a loose one's cycle-to-cycle noise). The exact-ERI HF ladder is
tested in tests/test_scf_driver.py. Molecules are small (STO-3G, grid level 0) and
have no degenerate open shell, whose symmetry breaking rounding could steer.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax import api
from dftjax.compile_clock import CompileClock
from dftjax.grid import build_grid
from dftjax.scf import kohn_sham, run_scf
from dftjax.scf.energy import PADDING_ENERGY, padded_size

WATER = dftjax.Molecule(["O", "H", "H"], [[0.0, 0.0, 0.119262], [0.0, 0.763239, -0.477047],
                                          [0.0, -0.763239, -0.477047]])
NH2 = dftjax.Molecule(["N", "H", "H"], [[0.0, 0.0, 0.141], [0.0, 0.806, -0.494],
                                        [0.0, -0.806, -0.494]], multiplicity=2)
AMMONIA = dftjax.Molecule.from_xyz("N 0 0 0.1162\nH 0 0.9377 -0.2711\n"
                                   "H 0.8121 -0.4689 -0.2711\nH -0.8121 -0.4689 -0.2711")
HYDRONIUM = dftjax.Molecule.from_xyz("O 0 0 0.1\nH 0 0.94 -0.27\nH 0.81 -0.47 -0.27\n"
                                     "H -0.81 -0.47 -0.27", charge=1)
# padded vs unpadded: the same SCF in another summation order
PAD_TOL = 1e-10


def _model(molecule, basis, xc, density_fit):
    """(energy model, integrals, SAD guess) as dftjax.scf builds them, grid level 0."""
    functional, unrestricted = api._check_request(molecule, xc, None, "sad")
    basis_set = dftjax.build_basis(molecule, basis)
    grid = None if xc == "hf" else build_grid(molecule, level=0)
    eri = api.choose_eri(molecule, basis_set, basis, functional, density_fit, None,
                         0 if grid is None else int(grid.weights.shape[0]), False)
    ints = api.chosen_integrals(molecule, basis_set, functional, eri)
    model = api.energy_model(molecule, basis_set, ints, functional, grid, not unrestricted)
    return model, ints, api.sad_guess(molecule, basis_set, ints)


def _solve(molecule, model, ints, guess, **options):
    return run_scf(model, ints.overlap, ints.h_core, molecule.nuclear_repulsion(),
                   molecule.nalpha, molecule.nbeta, molecule.multiplicity == 1, guess,
                   **options)


@pytest.mark.parametrize("molecule, basis, xc, density_fit", [
    (WATER, "sto-3g", "b3lyp", False),    # RKS, hybrid GGA
    (WATER, "sto-3g", "pbe", False),      # RKS, semi-local: no exchange matrix
    (NH2, "sto-3g", "b3lyp", False),      # UKS, hybrid
    (WATER, "sto-3g", "hf", True),        # DF-RHF
    (WATER, "sto-3g", "b3lyp", True),     # DF-RKS
], ids=["rks-b3lyp", "rks-pbe", "uks-b3lyp", "df-rhf", "df-rks-b3lyp"])
def test_padding_the_basis_changes_nothing(molecule, basis, xc, density_fit):
    model, ints, guess = _model(molecule, basis, xc, density_fit)
    assert model.pad is not None
    nao = ints.overlap.shape[-1]
    assert padded_size(nao) > nao  # the case pads
    padded, plain = (_solve(molecule, m, ints, guess, conv_tol=1e-11, retry=False)
                     for m in (model, dataclasses.replace(model, pad=None)))
    assert padded.converged and plain.converged
    assert abs(float(padded.energy) - float(plain.energy)) < PAD_TOL
    for field in ("mo_energy", "mo_coeff", "mo_occ", "density_matrix"):
        assert np.shape(getattr(padded, field)) == np.shape(getattr(plain, field))
    # first order in the converged density's error (|g| < sqrt(conv_tol) ~ 3e-6)
    np.testing.assert_allclose(padded.mo_energy, plain.mo_energy, atol=1e-8)
    np.testing.assert_allclose(padded.density_matrix, plain.density_matrix, atol=1e-7)


@pytest.mark.parametrize("xc, exchange", [("hf", True), ("b3lyp", True), ("pbe", False),
                                          ("cam-b3lyp", True)])
def test_padded_model_builds_the_exchange_matrix_only_when_k_is_used(xc, exchange):
    # K's matrix holds nao^2 npair doubles (836 MB for benzene/def2-SVP): a semi-local
    # functional never reads it; a range-separated one needs the long-range one in any case
    model, ints, _ = _model(WATER, "sto-3g", xc, False)
    assert "eri_exchange" not in model.params  # the unpadded model of dftjax.scf: never
    padded = model.pad(model, padded_size(ints.overlap.shape[-1]))
    assert ("eri_exchange" in padded.params) == exchange
    if xc == "cam-b3lyp":
        assert "eri_long_range_exchange" in padded.params


@pytest.mark.parametrize("density_fit", [False, True])
def test_padding_functions_are_decoupled(density_fit):
    """F of the padded model at the padded density: the real block is F of the model to
    rounding; the padding rows hold PADDING_ENERGY on the diagonal and exact zeros
    elsewhere (no XC potential, no J or K), so the padding AOs never mix in."""
    model, ints, guess = _model(NH2, "sto-3g", "b3lyp", density_fit)
    nao = ints.overlap.shape[-1]
    size = padded_size(nao) + 4  # beyond the rung: any size pads
    padded = model.pad(model, size)
    density = np.zeros((2, size, size))
    density[:, :nao, :nao] = guess
    fock, energy = model(jnp.asarray(guess))
    padded_fock, padded_energy = padded(jnp.asarray(density))
    assert abs(float(padded_energy) - float(energy)) < PAD_TOL
    np.testing.assert_allclose(np.asarray(padded_fock)[:, :nao, :nao], np.asarray(fock),
                               rtol=0, atol=1e-11)
    extra = np.asarray(padded_fock)[:, nao:, :]
    expected = np.zeros_like(extra)
    expected[:, np.arange(size - nao), nao + np.arange(size - nao)] = PADDING_ENERGY
    assert np.array_equal(extra, expected)


@pytest.mark.parametrize("density_fit", [False, True])
def test_second_molecule_on_a_rung_compiles_nothing(density_fit):
    """Ammonia and the hydronium ion H3O+ in STO-3G (nao 8, the rung 8) have grids of
    different sizes (2922 and 2946 points, 25 and 26 blocks at level 0), padded onto the
    same shapes, (density fitting) auxiliary bases padded onto the same size, and equal
    occupied counts (5): after the first, the second Kohn-Sham SCF (orthogonaliser, guess,
    cycles, result) compiles nothing."""
    for molecule in (AMMONIA, HYDRONIUM):
        model, ints, guess = _model(molecule, "sto-3g", "b3lyp", density_fit)
        with CompileClock() as clock:
            result = _solve(molecule, model, ints, guess, max_cycle=30)
        assert result.converged
    assert result.mo_coeff.shape == (8, 8)
    assert clock.compilations == 0


def test_a_calculation_pads_its_model_once(monkeypatch):
    """dftjax.scf builds the padded model once (a PaddedModel) and hands it to the SCF and
    the stability check (on by default for this open shell); the final XC energy, from the
    SCF's last step, equals the XC energy of the final density on the padded model."""
    import jax

    calls = []
    pad = kohn_sham._pad_ks_model

    def counted(model, size):  # the real model's padding (not the stand-in's, for
        # preparing the SCF's programs: shapes alone, nothing copied)
        if not isinstance(model.params["eri_pairs"], jax.ShapeDtypeStruct):
            calls.append(size)
        return pad(model, size)

    monkeypatch.setattr(kohn_sham, "_pad_ks_model", counted)
    calculation = dftjax.scf(NH2, basis="sto-3g", xc="b3lyp", grid_level=0)
    assert calculation.converged and calculation.stability.checked
    assert calls == [padded_size(calculation.nao)]
    e_xc = float(kohn_sham.ks_xc_energy(calculation.model, calculation.density_matrix))
    assert abs(calculation.xc_energy - e_xc) < PAD_TOL


def test_density_fitted_models_pad_beyond_the_exact_limit(monkeypatch):
    """Beyond PAD_LIMIT, exact models run on their own size, density-fitted ones on the
    density-fitted ladder: with the limit lowered to 16, ammonia/def2-SVP (29 AOs) runs
    density-fitted on 30, and gives the energy of its run on the ordinary rung (32) to
    rounding."""
    from dftjax.scf import density_fit, energy, stability

    pad = density_fit._pad_df_model

    def run():
        sizes = []
        monkeypatch.setattr(density_fit, "_pad_df_model",
                            lambda model, size: sizes.append(size) or pad(model, size))
        calculation = dftjax.scf(AMMONIA, basis="def2-svp", xc="b3lyp", grid_level=0,
                                 density_fit=True, conv_tol=1e-11)
        assert calculation.converged and calculation.nao == 29
        return calculation, sizes

    ordinary, sizes = run()
    assert sizes == [32]
    for module in (energy, kohn_sham, stability):
        monkeypatch.setattr(module, "PAD_LIMIT", 16)
    beyond, sizes = run()
    assert sizes == [30]
    assert abs(beyond.energy - ordinary.energy) < PAD_TOL


@pytest.mark.parametrize("xc, density_fit", [("b3lyp", False), ("b3lyp", True), ("hf", False)])
def test_xc_energy_comes_from_the_last_step(xc, density_fit):
    """A closed-shell Kohn-Sham SCF with exact ERIs reports E_xc of its final density from
    its last step (no program of its own: E_xc(D) as ks_xc_energy gives it); density
    fitting (no E_xc from its orbital route) computes it apart; Hartree-Fock has none."""
    calculation = dftjax.scf(WATER, basis="sto-3g", xc=xc, grid_level=0, density_fit=density_fit)
    if xc == "hf":
        assert calculation.result.xc_energy is None and calculation.xc_energy == 0.0
        return
    spin_density = 0.5 * np.stack([np.asarray(calculation.density_matrix)] * 2)
    e_xc = float(kohn_sham.ks_xc_energy(calculation.model, spin_density))
    assert abs(calculation.xc_energy - e_xc) < PAD_TOL  # two programs: rounding only
    assert (calculation.result.xc_energy is None) == density_fit
    assert -8.0 < calculation.xc_energy < -7.0  # B3LYP/STO-3G, grid level 0: -7.64 Ha


@pytest.mark.parametrize("density_fit", [False, True])
def test_the_start_state_has_the_types_a_cycle_leaves(density_fit):
    """The SCF compiles its two cycle programs (orbital update, energy model) once for the
    start state's array types; a start with other types (a weakly typed scalar from a
    jitted start, as density fitting's was) compiles both again at the second cycle
    (water/def2-SVP DF-B3LYP: 2 x 2.7 s). The start, the host state the orbital update is
    prepared from, and a cycle's state must agree in shape, dtype and weak type."""
    import jax
    from dftjax.scf import driver
    from dftjax.scf.orthogonalize import orthogonalizer

    model, ints, guess = _model(WATER, "sto-3g", "b3lyp", density_fit)
    overlap, density = jnp.asarray(ints.overlap), jnp.asarray(guess)
    X = orthogonalizer(ints.overlap).X
    nmo, diis_space = X.shape[1], 8
    start = driver._host_start(model, density, nmo, diis_space, True)
    prepared = driver.empty_state(density, nmo, diis_space, xp=np)
    cycled = driver._host_step(model, start, overlap, X, driver.make_settings(5, 5),
                               restricted=True, occupations=driver.aufbau_occupations)
    types = lambda state: jax.tree_util.tree_map(  # noqa: E731
        lambda x: (jnp.shape(x), jnp.result_type(x), jax.typeof(x).weak_type), state)
    assert types(start) == types(prepared) == types(cycled)


def test_a_hybrid_model_that_cannot_pad_keeps_the_full_tensor():
    """Only a model that on_the_ladder will pad goes without the full ERI tensor (its J and
    K come from the pair matrix): a hybrid whose AO values are not kept (ao_memory=0: its
    grid cannot pad) runs as it is, and takes K from the tensor, not from an exchange
    matrix gathered in every Fock build."""
    functional, _ = api._check_request(WATER, "b3lyp", None, "sad")
    basis_set = dftjax.build_basis(WATER, "sto-3g")
    grid = build_grid(WATER, level=0)
    ints = api.compute_integrals(WATER, basis_set)
    kept = api.energy_model(WATER, basis_set, ints, functional, grid, True)
    unkept = api.energy_model(WATER, basis_set, ints, functional, grid, True, ao_memory=0)
    assert kept.pad is not None and kept.params["eri"] is None
    assert unkept.pad is None and unkept.params["eri"] is not None


@pytest.mark.parametrize("molecule, xc", [(WATER, "hf"), (WATER, "b3lyp"), (NH2, "pbe"),
                                          (AMMONIA, "tpss")])
def test_the_scf_programs_are_prepared_from_stand_ins(monkeypatch, molecule, xc):
    """dftjax.scf starts compiling the energy model's step (and, off a CPU, the orbital
    update) before its integrals exist, from a stand-in model (the pair matrix's shape
    alone): the programs it prepares must be the very ones the SCF then runs, or the
    preparation is wasted work on a first run. RHF, RKS hybrid, UKS, meta-GGA. On a CPU
    the orbital update runs in NumPy: nothing of it is prepared or compiled."""
    from dftjax.scf import driver

    prepared, run = {}, {}
    for name in ("_stored_evaluated_state", "_stored_aufbau_update"):
        kernel = getattr(driver, name)

        def prepare(*args, kernel=kernel, name=name, original=kernel.prepare):
            prepared.setdefault(name, set()).add(kernel._stored_key(args)[2])
            return original(*args)

        def stored_program(args, directory, dynamic, key, name=name,
                           original=kernel._stored_program):
            run.setdefault(name, set()).add(key)
            return original(args, directory, dynamic, key)

        monkeypatch.setattr(kernel, "prepare", prepare)
        monkeypatch.setattr(kernel, "_stored_program", stored_program)
    result = dftjax.scf(molecule, basis="sto-3g", xc=xc, grid_level=0, stability=False)
    assert result.converged
    assert driver.orbital_update_on_host()  # the tests' CPU
    # one step program, prepared and then run in every cycle; no orbital-update program
    assert len(prepared["_stored_evaluated_state"]) == 1
    assert prepared == run == {"_stored_evaluated_state": run["_stored_evaluated_state"]}


def test_the_exchange_gather_is_prepared_for_the_real_pair_matrix(monkeypatch):
    """Beyond HOST_GATHER_NAO AOs the exchange matrix is gathered by a program of its own,
    which padding the real model runs before the SCF starts: prepare_scf prepares it from
    the stand-in's pair-matrix shape, under the key of the real matrix's gather."""
    import jax

    from dftjax.scf import energy, ladder

    size = energy.HOST_GATHER_NAO + 8
    npair = size * (size + 1) // 2
    gather = energy._stored_exchange_gather
    prepared = []
    monkeypatch.setattr(gather, "prepare", lambda *args: prepared.append(
        gather._stored_key(args)[2]))
    for kernel in (ladder._stored_evaluated_state, ladder._stored_aufbau_update):
        monkeypatch.setattr(kernel, "prepare", lambda *args: None)
    stand_in = {"h_core": np.zeros((size, size)), "eri": None,
                **energy.padded_pair_params(jax.ShapeDtypeStruct((npair, npair), jnp.float64),
                                            size)}
    model = energy.EnergyModel(energy._hf_energy_jk, energy._hf_fock_jk, stand_in)
    ladder.prepare_scf(energy.PaddedModel(model, size - 3), 2, 2, True)
    real = (energy.as_device(np.zeros((npair, npair))), size)
    assert prepared == [gather._stored_key(real)[2]]


def test_a_failed_preparation_does_not_fail_the_run(monkeypatch):
    """Preparing the SCF's programs only saves time: if building the stand-in or preparing
    from it raises, the run goes on and compiles what it needs (the same energy)."""
    expected = dftjax.scf(WATER, basis="sto-3g", xc="pbe", grid_level=0).energy

    def broken(*args, **kwargs):
        raise RuntimeError("a stand-in this version did not foresee")

    monkeypatch.setattr(api, "prepare_scf", broken)
    calculation = dftjax.scf(WATER, basis="sto-3g", xc="pbe", grid_level=0)
    assert calculation.converged and calculation.energy == expected
