"""SCF driver: HF energies, orbitals and dipoles against frozen PySCF numbers.

Integrals and references come from tests/data/make_scf_reference.py (PySCF 2.x,
conv_tol 1e-12). Energies agree to 1e-8 Ha: exact integrals, no grid, and the
converged energy is quadratic in the remaining density error. Orbital energies
and dipoles are first order in it, so those runs converge tighter.
"""

import dataclasses
import functools
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dftjax.scf import (
    autodiff_fock_and_energy, hf_energy, hf_fock_and_energy, run_scf, sad_density)
from dftjax.compile_clock import CompileClock
from dftjax.scf import driver, ladder
from dftjax.scf.occupations import aufbau_occupations, fractional_occupations
from dftjax.scf.orthogonalize import orthogonalizer
from dftjax.scf.stability import follow_instabilities

DATA = np.load(Path(__file__).parent / "data" / "scf_reference.npz")
MOLECULES = ["h2o_631g", "oh_631g", "o2_sto3g"]


@functools.lru_cache(maxsize=None)
def case(name):
    """Integrals, energy model, electron counts and SAD guess of a frozen molecule."""
    ref = {key[len(name) + 1:]: DATA[key] for key in DATA.files if key.startswith(name + "_")}
    ref["h_core"] = ref["T"] + ref["V"]
    ref["model"] = hf_fock_and_energy(ref["h_core"], ref["eri"])
    ref["nalpha"], ref["nbeta"] = int(ref["nalpha"]), int(ref["nbeta"])
    ref["restricted"] = ref["nalpha"] == ref["nbeta"]
    atom_ints = lambda symbol: {k: ref[f"atom_{symbol}_{k}"] for k in ("S", "T", "V", "eri")}
    ref["D0"] = sad_density(ref["ao_ranges"], [str(s) for s in ref["symbols"]], atom_ints)
    return ref


def solve(name, **options):
    ref = case(name)
    options.setdefault("D0", ref["D0"])
    return run_scf(ref["model"], ref["S"], ref["h_core"], ref["e_nuc"], ref["nalpha"],
                   ref["nbeta"], ref["restricted"], **options)


@pytest.mark.parametrize("name", MOLECULES)
def test_energy_matches_pyscf(name):
    ref = case(name)
    result = solve(name)
    assert result.converged and result.converged_settings == (0.0, 0.0)
    assert abs(float(result.energy) - float(ref["e_tot"])) < 1e-8
    assert abs(float(result.s2) - float(ref["s2"])) < 1e-6
    assert abs(float(result.multiplicity) - float(ref["mult"])) < 1e-6


@pytest.mark.parametrize("name", ["h2o_631g", "oh_631g"])  # restricted, unrestricted
def test_reported_orbital_gradient_is_pyscfs(name):
    """|g| as PySCF defines it, from the returned orbitals and the Fock matrix of their
    density (restricted: 2 |C_vir^T F C_occ|; unrestricted: both spins' blocks), since
    convergence is judged on it."""
    ref = case(name)
    result = solve(name)
    coeff, occ = np.asarray(result.mo_coeff), np.asarray(result.mo_occ)
    if ref["restricted"]:
        coeff, occ = np.stack([coeff, coeff]), np.stack([occ, occ]) / 2.0
    density = np.einsum("sim,sm,sjm->sij", coeff, occ, coeff)
    fock = np.asarray(ref["model"](jnp.asarray(density))[0])
    blocks = [coeff[s][:, occ[s] == 0].T @ fock[s] @ coeff[s][:, occ[s] > 0] for s in range(2)]
    expected = (2.0 * np.linalg.norm(blocks[0]) if ref["restricted"]
                else np.sqrt(sum(np.sum(b * b) for b in blocks)))
    assert expected < np.sqrt(1e-9)  # converged: below the default conv_tol_grad
    # the same sums in another order: agreement to rounding
    assert abs(float(result.gradient_norm) - expected) < 1e-10


@pytest.mark.parametrize("name", MOLECULES)
def test_orbital_energies_and_dipole_match_pyscf(name):
    ref = case(name)
    result = solve(name, conv_tol=1e-12, conv_tol_grad=1e-8)
    nao = ref["S"].shape[0]
    expected_shape = (nao,) if ref["restricted"] else (2, nao)
    assert result.mo_energy.shape == expected_shape
    assert result.density_matrix.shape == expected_shape + (nao,)
    np.testing.assert_allclose(result.mo_energy, ref["mo_energy"], atol=1e-6, rtol=0)
    dipole = result.dipole_moment(ref["dip_ints"], ref["charges"], ref["coords"])
    np.testing.assert_allclose(dipole, ref["dipole"], atol=1e-6, rtol=0)
    electrons = ref["nalpha"] + ref["nbeta"]
    assert abs(float(result.mo_occ.sum()) - electrons) < 1e-12


def test_o2_reaches_stable_uhf_state():
    # UHF O2/sto-3g converges, like PySCF's default run, to a saddle point 1.5 mHa above
    # the stable state; the stability check follows the negative direction down.
    ref = case("o2_sto3g")
    result, report = follow_instabilities(ref["model"], solve("o2_sto3g"),
                                          lambda guess: solve("o2_sto3g", D0=guess))
    assert result.converged and report.stable and report.rounds == 1
    assert abs(float(result.energy) - float(ref["e_tot_stable"])) < 1e-8


def test_descent_when_diis_goes_back_to_the_saddle_point():
    # The failure mode of the ethoxy radical in def2-SVP (tests/test_scf_stability.py):
    # the SCF from the rotated orbitals converges back to the saddle point. Here the first
    # re-run returns the saddle point itself; the Newton descent from the rotated orbitals
    # (only downhill steps) must then reach the stable state, and the SCF from there
    # confirm it.
    ref = case("o2_sto3g")
    saddle = solve("o2_sto3g")
    calls = []

    def rerun(guess):
        calls.append(guess)
        return saddle if len(calls) == 1 else solve("o2_sto3g", D0=guess)

    result, report = follow_instabilities(ref["model"], saddle, rerun)
    assert len(calls) == 2 and result.converged and report.stable and report.rounds == 1
    assert abs(float(result.energy) - float(ref["e_tot_stable"])) < 1e-8
    assert result.iterations > 2 * saddle.iterations  # the descent and the last SCF counted too


def test_diis_reduces_iterations():
    with_diis = solve("h2o_631g")
    without = solve("h2o_631g", diis_space=0, retry=False)
    assert with_diis.converged and without.converged
    assert with_diis.iterations < without.iterations
    assert abs(float(with_diis.energy) - float(without.energy)) < 1e-8


def test_unconverged_scf_says_so_once(capsys):
    # max_cycle bounds each attempt: the first, the three first-order rungs of the ladder
    # and its second-order rung, 2 each.
    with pytest.warns(driver.SCFNotConvergedWarning) as warned:
        result = solve("h2o_631g", max_cycle=2)
    assert not result.converged and result.converged_settings is None
    assert result.iterations == 2 * (2 + len(driver.RETRY_LADDER)) and result.attempts == 5
    assert len(warned) == 1  # one message, not one per stage
    assert "SCF NOT CONVERGED after 10 iterations in 5 attempts of at most 2" in str(warned[0].message)
    assert capsys.readouterr().err == ""


def test_retry_ladder_recovers():
    # Damping 0.95 crawls; the ladder's first rung (damping 0.5 with DIIS) converges.
    result = solve("oh_631g", damping=0.95, max_cycle=25)
    assert result.converged and result.iterations > 25
    assert result.converged_settings == driver.RETRY_LADDER[0]
    assert abs(float(result.energy) - float(case("oh_631g")["e_tot"])) < 1e-8


def _noisy(model, size, amplitude=1e-3):
    """``model`` with a symmetric Fock perturbation of ``amplitude`` whose sign flips at
    every evaluation (a host counter, read through ``io_callback``): no density is self-
    consistent, so |g| stays ~amplitude and DIIS circles. (A sign taken from the density's
    last digits, as before, has self-consistent points that DIIS found on some CPUs.)"""
    from jax.experimental import io_callback

    noise = np.random.default_rng(0).normal(size=(size, size))
    noise = jnp.asarray(amplitude * (noise + noise.T) / 2)
    calls = [0]

    def sign():
        calls[0] += 1
        return np.float64(1.0 if calls[0] % 2 else -1.0)

    def noisy(density):
        fock, energy = model(density)
        flip = io_callback(sign, jax.ShapeDtypeStruct((), jnp.float64), ordered=True)
        return fock + flip * noise, energy
    return noisy


def test_a_stalled_attempt_gives_way_to_the_next_rung():
    """Each first-order attempt that has stalled (|g| not halved in STALL_WINDOW cycles,
    the energy within STALL_ENERGY) ends early; an attempt with no next rung runs its
    max_cycle, as the option says."""
    ref = case("h2o_631g")
    model = _noisy(ref["model"], ref["S"].shape[0])
    args = (model, ref["S"], ref["h_core"], ref["e_nuc"], ref["nalpha"], ref["nbeta"], True, ref["D0"])
    flat, moving = [-1.0] * 35, [-1.0 - 1e-3 * k for k in range(35)]
    assert driver.stalled([1.0] * 10 + [0.6] * 25, flat)
    assert not driver.stalled([1.0] * 10 + [0.4] * 25, flat)  # |g| halved
    assert not driver.stalled([1.0] * 10 + [0.6] * 25, moving)  # exploring, as HCO does
    assert not driver.stalled([1.0] * 25, flat[:25])  # nothing to compare with yet
    with pytest.warns(driver.SCFNotConvergedWarning):
        laddered = run_scf(*args, max_cycle=150, second_order=False)
    assert laddered.attempts == 1 + len(driver.RETRY_LADDER)
    assert laddered.iterations <= 4 * 100  # 600 if each ran to 150 (244 measured)
    with pytest.warns(driver.SCFNotConvergedWarning):
        alone = run_scf(*args, max_cycle=60, retry=False)
    assert alone.attempts == 1 and alone.iterations == 60


def test_a_last_attempt_leaves_early_only_for_a_rung_sure_to_run(caplog):
    """The second-order rung runs only from integer occupations: with aufbau occupations
    every first-order attempt may leave once stalled; with other occupation rules (which
    may be fractional) the last one runs its max_cycle."""
    ref = case("h2o_631g")
    args = (_noisy(ref["model"], ref["S"].shape[0]), ref["S"], ref["h_core"], ref["e_nuc"],
            ref["nalpha"], ref["nbeta"], True, ref["D0"])
    stalls = {}
    for name, occupations in (("aufbau", aufbau_occupations),
                              ("fractional", fractional_occupations)):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="dftjax.scf"), \
                pytest.warns(driver.SCFNotConvergedWarning):
            run_scf(*args, max_cycle=60, occupations=occupations, verbose=True)
        stalls[name] = sum("SCF stalled" in message for message in caplog.messages)
    # the same attempts up to the last (both rules occupy this closed shell alike), whose
    # stall ends it with aufbau occupations only
    assert stalls["fractional"] >= 1 and stalls["aufbau"] == stalls["fractional"] + 1


def test_core_guess_when_no_density_given():
    result = solve("h2o_631g", D0=None)
    assert result.converged
    assert abs(float(result.energy) - float(case("h2o_631g")["e_tot"])) < 1e-8


@pytest.mark.parametrize("wrap", ["autodiff", "closure"])
def test_other_energy_models_plug_in(wrap):
    # The Kohn-Sham path: a model giving only its energy, Fock by autodiff; and a
    # plain function, which the driver wraps (its arrays become compile-time constants).
    ref = case("oh_631g")
    if wrap == "autodiff":
        model = autodiff_fock_and_energy(hf_energy, {"h_core": ref["h_core"], "eri": ref["eri"]})
    else:
        model = lambda density: ref["model"](density)
    result = run_scf(model, ref["S"], ref["h_core"], ref["e_nuc"], 5, 4, False, ref["D0"])
    assert result.converged
    assert abs(float(result.energy) - float(ref["e_tot"])) < 1e-8


def test_restricted_needs_equal_spin_counts():
    ref = case("oh_631g")
    with pytest.raises(ValueError, match="nalpha == nbeta"):
        run_scf(ref["model"], ref["S"], ref["h_core"], ref["e_nuc"], 5, 4, True, ref["D0"])


def test_finite_field_reuses_compiled_step_and_obeys_hellmann_feynman():
    # A field f along z adds f z to h (electrons: charge -1 times potential -f z), so
    # dE/df = tr(D z). Same shapes: the jitted step must not compile again.
    ref = case("h2o_631g")
    solve("h2o_631g")
    field, energies = 1e-4, []
    with CompileClock() as clock:
        for sign in (1.0, -1.0):
            h_core = ref["h_core"] + sign * field * ref["dip_ints"][2]
            result = run_scf(hf_fock_and_energy(h_core, ref["eri"]), ref["S"], h_core,
                             ref["e_nuc"], 5, 5, True, ref["D0"], conv_tol=1e-12,
                             conv_tol_grad=1e-8)
            energies.append(float(result.energy))
    assert clock.compilations == 0
    zero_field = solve("h2o_631g", conv_tol=1e-12, conv_tol_grad=1e-8)
    expected = float(jnp.vdot(ref["dip_ints"][2], zero_field.density_matrix))
    assert abs((energies[0] - energies[1]) / (2 * field) - expected) < 1e-6 * abs(expected)


def test_scf_solve_inside_jit_matches_host_loop():
    ref = case("oh_631g")
    X = orthogonalizer(jnp.asarray(ref["S"])).X
    solve_jit = jax.jit(functools.partial(
        driver.scf_solve, restricted=False, occupations=aufbau_occupations, conv_tol=1e-9,
        conv_tol_grad=3e-5, max_cycle=50, diis_space=8))
    state, converged = solve_jit(ref["model"], jnp.asarray(ref["S"]), X, ref["D0"],
                                 driver.make_settings(5, 4))
    host = solve("oh_631g")
    assert bool(converged)
    assert int(state.iteration) == host.iterations
    assert abs(float(state.energy) + float(ref["e_nuc"]) - float(ref["e_tot"])) < 1e-8


def pair_matrix(eri):
    """The ERI pair matrix M[P(i, j), P(k, l)] = (ij|kl) over canonical pairs i >= j."""
    i, j = np.tril_indices(eri.shape[0])
    return eri[i, j][:, i, j]


def test_padded_size_ladder():
    assert [ladder.padded_size(n) for n in (1, 5, 7, 9, 13, 16, 17, 24, 25, 128)] == \
        [1, 6, 8, 12, 16, 16, 24, 24, 32, 128]
    assert ladder.padded_size(129) == 129  # large: no padding
    # density-fitted: an eighth of the power of two below nao beyond 128 (J and K cost
    # nao^2 naux, so at most 12.5 % padding pays for fewer programs)
    assert [ladder.padded_size(n, density_fitted=True) for n in (24, 129, 135, 144, 145, 222, 257)] == \
        [24, 144, 144, 144, 160, 224, 288]


@pytest.mark.parametrize("name", MOLECULES)
def test_padding_the_basis_changes_nothing(name):
    """nao 13, 11, 10 padded to 16, 12, 12: the same SCF to rounding (1e-10 Ha: the
    padding is decoupled exactly; only the summation order of products changes).
    Orbital energies and densities to 1e-8, first order in the converged density's error."""
    ref = case(name)
    model = hf_fock_and_energy(ref["h_core"], ref["eri"], eri_pairs=pair_matrix(ref["eri"]))
    assert model.pad is not None
    runs = [run_scf(m, ref["S"], ref["h_core"], ref["e_nuc"], ref["nalpha"], ref["nbeta"],
                    ref["restricted"], D0=ref["D0"], retry=False)
            for m in (model, driver.dataclasses.replace(model, pad=None))]
    padded, plain = runs
    assert padded.converged and plain.converged
    assert abs(float(padded.energy) - float(plain.energy)) < 1e-10
    assert abs(float(padded.energy) - float(ref["e_tot"])) < 1e-8
    for field in ("mo_energy", "mo_coeff", "mo_occ", "density_matrix"):
        assert np.shape(getattr(padded, field)) == np.shape(getattr(plain, field))
    np.testing.assert_allclose(padded.mo_energy, plain.mo_energy, atol=1e-8)
    if ref["restricted"]:  # OH's pi hole may land on either of the degenerate pair
        np.testing.assert_allclose(padded.density_matrix, plain.density_matrix, atol=1e-8)


def test_second_molecule_on_a_rung_compiles_nothing():
    """OH/6-31G (nao 11) and O2/STO-3G (nao 10) are both padded to 12: after the first,
    the second SCF (orthogonaliser, guess evaluation, cycles, result) compiles nothing."""
    from dftjax.compile_clock import CompileClock

    def run(name):
        ref = case(name)
        model = hf_fock_and_energy(ref["h_core"], ref["eri"], eri_pairs=pair_matrix(ref["eri"]))
        return run_scf(model, ref["S"], ref["h_core"], ref["e_nuc"], ref["nalpha"],
                       ref["nbeta"], ref["restricted"], D0=ref["D0"], max_cycle=30)

    run("oh_631g")
    with CompileClock() as clock:
        result = run("o2_sto3g")
    assert result.mo_coeff.shape == (2, 10, 10)
    assert clock.compilations == 0


@pytest.mark.parametrize("restricted", [True, False])
@pytest.mark.parametrize("iteration, damping, level_shift", [
    (0, 0.0, 0.0),    # the first cycle: DIIS not yet active
    (5, 0.0, 0.0),    # DIIS active, history partly filled
    (11, 0.3, 0.5),   # DIIS ring buffer wrapped, with damping and a level shift
])
def test_the_host_orbital_update_is_the_compiled_one(restricted, iteration, damping,
                                                     level_shift):
    """On a CPU the host loop's aufbau orbital update runs in NumPy (nothing to compile):
    for the same state (random symmetric Fock and density matrices, a DIIS history) it
    gives the compiled update's Fock matrix, DIIS history, orbital energies, occupations
    and density to rounding. The orbitals themselves are compared through the density:
    each eigenvector's sign is LAPACK's choice."""
    rng = np.random.default_rng(iteration)
    nao, space = 7, 4
    symmetric = lambda *shape: (lambda a: a + np.swapaxes(a, -1, -2))(rng.normal(size=shape))
    overlap = np.eye(nao) + 0.1 * symmetric(nao, nao)
    X = np.asarray(orthogonalizer(overlap).X)
    density = 0.1 * symmetric(2, nao, nao)
    if restricted:
        density[1] = density[0]
    history = driver.diis_init(space, nao, nao, xp=np)
    filled = min(iteration, space)
    focks = np.zeros((space, 2, nao, nao))
    focks[:filled] = symmetric(filled, 2, nao, nao)
    errors = np.zeros((space, 2, nao, nao))
    errors[:filled] = 0.01 * rng.normal(size=(filled, 2, nao, nao))
    history = history._replace(focks=focks, errors=errors,
                               overlaps=np.einsum("kspq,lspq->kl", errors, errors),
                               count=np.asarray(iteration, np.int32))
    state = driver.empty_state(density, nao, space, xp=np)
    fock = symmetric(2, nao, nao)
    state = dataclasses.replace(state, fock=fock, fock_used=fock + 0.01 * symmetric(2, nao, nao),
                                diis=history, iteration=np.asarray(iteration, np.int32))
    settings = driver.make_settings(3, 3 if restricted else 2, damping, level_shift)
    host = driver.host_orbital_update(state, overlap, X, settings, restricted)
    compiled = driver._orbital_update_jit(state, jnp.asarray(overlap), X, settings,
                                          restricted=restricted,
                                          occupations=aufbau_occupations)
    for name, a, b in zip(("fock", "diis", "mo_energy", "mo_coeff", "mo_occ", "density"),
                          host, compiled):
        if name == "mo_coeff":
            continue
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=1e-12,
                                       err_msg=name)
    assert int(host[1].count) == (iteration + 1 if iteration >= 1 else iteration)
    assert np.asarray(host[1].count).dtype == np.int32  # the step program's key
