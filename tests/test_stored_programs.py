"""Stored programs (dftjax.stored_programs.StoredKernel): a second
process (here: a second kernel object, with an empty in-process table) loads the compiled
program from disk without tracing, gets the same numbers, and counts the load as a cache
hit; traced arguments, other shapes or static values, and unreadable files fall back to
compiling."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO_ROOT
from dftjax.compile_clock import CompileClock
from dftjax import stored_programs
from dftjax.scf.driver import empty_state
from dftjax.stored_programs import StoredKernel


def _kernel(traces, salt=0.0):
    """A StoredKernel that notes each trace; ``salt``, a constant in the program, makes its
    program new to JAX's persistent cache (which the test session keeps)."""
    def scaled_sine(power, x, y):
        traces.append(power)  # runs only while tracing
        return jnp.sin(x) ** power + y + salt

    return StoredKernel(scaled_sine, static_argnums=(0,))


@pytest.fixture
def salt():
    # ~1e-18: below every tolerance here
    return float(np.random.default_rng().integers(1, 2**40)) * 2.0**-100


@pytest.fixture
def store(tmp_path, monkeypatch):
    directory = tmp_path / "executables"
    monkeypatch.setattr(stored_programs, "_store_directory", lambda: directory)
    return directory


def test_a_new_process_loads_the_program_without_tracing(store, salt):
    x, y = np.linspace(0.0, 1.0, 5), np.ones(5)
    expected = np.sin(x) ** 2 + y
    traces = []
    np.testing.assert_allclose(_kernel(traces, salt)(2, x, y), expected, rtol=0, atol=1e-15)
    assert traces == [2] and len(list(store.iterdir())) == 1
    with CompileClock() as clock:
        later = _kernel(traces, salt)  # a new table, as in a new process
        np.testing.assert_allclose(later(2, x, y), expected, rtol=0, atol=1e-15)
        np.testing.assert_allclose(later(2, 2 * x, y), np.sin(2 * x) ** 2 + y, atol=1e-15)
    assert traces == [2]  # loaded, not traced again; the second call reused the load
    assert clock.compilations == clock.cache_hits == 1
    # another static value and another shape are other programs
    later(3, x, y)
    later(2, x[:4], y[:4])
    assert traces == [2, 3, 2] and len(list(store.iterdir())) == 3


def test_without_a_store_one_program_serves_host_and_device_arguments(monkeypatch, salt):
    """With the persistent cache off there is nothing to store, but the program is still
    kept under its key: arguments on the host and the same arrays committed to a device
    (an SCF's first step and its later ones) run one program. The plain jit compiles one
    for each placement."""
    monkeypatch.setattr(stored_programs, "_store_directory", lambda: None)
    x, y = np.linspace(0.0, 1.0, 5), np.ones(5)
    device = jax.devices()[0]
    placements = ((x, y), (jax.device_put(x, device), jax.device_put(y, device)),
                  (jnp.asarray(x), y))
    jax.block_until_ready(placements)
    traces = []
    kernel = _kernel(traces, salt)
    with CompileClock() as clock:
        for args in placements:
            np.testing.assert_allclose(kernel(2, *args), np.sin(x) ** 2 + y, atol=1e-15)
    assert traces == [2] and clock.compilations == 1
    jitted = _kernel([], 2 * salt).jitted
    with CompileClock() as clock:
        for args in placements[:2]:
            jax.block_until_ready(jitted(2, *args))
    assert clock.compilations == 2  # what the kept program saves


def test_traced_arguments_take_the_plain_jit(store):
    traces = []
    kernel = _kernel(traces)
    gradient = jax.grad(lambda x: kernel(2, x, jnp.zeros(())))(0.3)
    assert abs(float(gradient) - 2 * np.sin(0.3) * np.cos(0.3)) < 1e-14
    assert not store.exists()  # nothing stored for a traced call


def test_an_unreadable_file_is_compiled_again(store, salt):
    x, y = np.arange(3.0), np.zeros(3)
    _kernel([], salt)(2, x, y)
    (path,) = store.iterdir()
    path.write_bytes(b"not a program")
    traces = []
    np.testing.assert_allclose(_kernel(traces, 2 * salt)(2, x, y), np.sin(x) ** 2, atol=1e-15)
    assert traces == [2]


def test_a_program_loaded_from_jaxs_cache_is_not_stored(store, salt):
    """JAX's executable loaded from its persistent cache serialises without its machine
    code, so it is not stored; the program still runs."""
    x, y = np.arange(3.0), np.zeros(3)
    _kernel([], salt)(2, x, y)  # compiled here: stored (and in JAX's cache)
    (path,) = store.iterdir()
    path.unlink()
    with CompileClock() as clock:
        values = _kernel([], salt)(2, x, y)  # JAX loads it from its cache
    assert clock.cache_hits == 1
    np.testing.assert_allclose(values, np.sin(x) ** 2, atol=1e-15)
    assert not any(store.iterdir())


def test_pytree_arguments_are_keyed_by_their_structure(store, salt):
    """A pytree of arrays (an SCF state) is stored and loaded like arrays; a static value or
    a structure that prints a memory address (a function) has no key across processes:
    the plain jit runs it, and nothing is stored."""
    def energy_plus(state, power):
        return state.energy + jnp.sum(state.density) ** power + salt

    state = empty_state(np.ones((2, 3, 3)), 3, 0, xp=np)
    stored = StoredKernel(energy_plus, static_argnums=(1,))
    assert float(stored(state, 2)) == 18.0 ** 2
    assert len(list(store.iterdir())) == 1
    with CompileClock() as clock:
        assert float(StoredKernel(energy_plus, static_argnums=(1,))(state, 2)) == 18.0 ** 2
    assert clock.compilations == clock.cache_hits == 1
    with_function = StoredKernel(lambda state, f: state.energy + f(salt), static_argnums=(1,))
    assert float(with_function(state, jnp.cos)) == 1.0
    assert len(list(store.iterdir())) == 1


def test_a_prepared_program_is_the_one_a_call_runs(store, salt):
    """prepare compiles beside the caller from arrays of the right shapes (their values
    unread); the call then traces and compiles nothing. Preparing again, or for a program
    already there, does nothing; arguments of another shape are another program."""
    traces = []
    kernel = _kernel(traces, salt)
    x, y = np.linspace(0.0, 1.0, 4), np.ones(4)
    with CompileClock() as clock:
        kernel.prepare(2, np.full(4, np.nan), np.full(4, np.nan))
        kernel.prepare(2, np.zeros(4), np.zeros(4))
        stored_programs._preparer().submit(lambda: None).result()  # its one thread is done
        assert len(list(store.iterdir())) == 1  # compiled and stored before any call
        np.testing.assert_allclose(kernel(2, x, y), np.sin(x) ** 2 + y, rtol=0, atol=1e-15)
    # one program, compiled once: the call neither compiled again nor loaded it
    assert traces == [2] and clock.compilations == 1 and clock.cache_hits == 0
    kernel.prepare(2, x, y)
    kernel(2, x[:3], y[:3])
    assert traces == [2, 2]


def test_a_failed_preparation_leaves_the_call_to_compile_and_raise(store):
    def needs_a_square(x):
        return jnp.linalg.inv(x)

    kernel = StoredKernel(needs_a_square, static_argnums=())
    kernel.prepare(np.zeros((2, 3)))
    with pytest.raises(ValueError):
        kernel(np.ones((2, 3)))
    np.testing.assert_allclose(kernel(2.0 * np.eye(2)), 0.5 * np.eye(2), atol=1e-15)


def test_the_scf_prepares_the_orbital_update_its_steps_run(store):
    """iterate prepares the aufbau orbital update from the empty state (a first run
    compiles it beside the energy model's first evaluation): the steps must run that very
    program, not compile one of their own."""
    from dftjax.scf import driver
    from dftjax.scf.energy import hf_fock_and_energy

    S = np.eye(2)
    h_core = np.array([[-1.0, -0.2], [-0.2, -0.5]])
    model = hf_fock_and_energy(h_core, np.zeros((2, 2, 2, 2)))
    update = driver._stored_aufbau_update
    events = []  # "prepare", then the key of every program asked for
    key, prepare = update._key, update.prepare
    update._programs.clear()
    with pytest.MonkeyPatch.context() as patch:
        # the compiled update, as off a CPU (on one it runs in NumPy, and is not prepared)
        patch.setattr(driver, "orbital_update_on_host", lambda: False)
        patch.setattr(update, "_key", lambda *args: events.append(key(*args)) or events[-1])
        patch.setattr(update, "prepare", lambda *args: events.append("prepare") or prepare(*args))
        density = np.zeros((2, 2, 2))
        density[:, 0, 0] = 1.0
        X = np.eye(2)
        state, converged = driver.iterate(
            model, S, X, density, driver.make_settings(1, 1), restricted=True,
            occupations=driver.aufbau_occupations, conv_tol=1e-10, conv_tol_grad=1e-8,
            max_cycle=20, diis_space=4)
    assert converged and events[0] == "prepare" and len(events) > 3
    assert len(set(events[1:])) == 1  # prepared and every step: one program


def test_a_stored_program_that_diagonalises_loads_in_a_fresh_process(tmp_path):
    """A loaded program calls LAPACK without JAX having lowered anything that fills in
    LAPACK's routines (a crash before _prepare_lapack): two fresh processes, the second
    loading what the first stored."""
    code = ("import sys, numpy as np, jax.numpy as jnp\n"
            "from dftjax.stored_programs import StoredKernel\n"
            "eigh = StoredKernel(lambda a, n: jnp.linalg.eigh(a)[0] * n, static_argnums=(1,))\n"
            "print(float(eigh(np.diag([3.0, 1.0, 2.0]), 2)[0]))\n")
    env = {**os.environ, "DFTJAX_CACHE_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    for _ in range(2):
        completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                   text=True, check=False)
        assert completed.returncode == 0, completed.stderr[-2000:]
        assert completed.stdout.split() == ["2.0"]
    assert len(list((tmp_path / "dftjax-executables").iterdir())) == 1


def test_descriptions_name_only_what_is_the_same_in_every_process():
    """describe: dftjax's module-level functions and built-in functionals by name,
    dataclasses and containers through their parts; a user's function, a lambda, a
    functional made or modified by the user, or an array has none (no key: plain jit)."""
    import dataclasses

    from dftjax.scf.energy import _hf_fock_and_energy
    from dftjax.scf.kohn_sham import _KohnShamPart
    from dftjax.stored_programs import describe
    from dftjax.xc import get_functional

    b3lyp = get_functional("b3lyp")
    assert describe(_hf_fock_and_energy) == "dftjax.scf.energy._hf_fock_and_energy"
    assert describe((1, 2.5, "a", None)) == "tuple(1, 2.5, 'a', None)"
    assert describe(_KohnShamPart(b3lyp, "both", True)) == (
        "dftjax.scf.kohn_sham._KohnShamPart(dftjax functional b3lyp, 'both', True)")
    assert describe(get_functional("b88,lyp")) is None  # a sum built on demand
    assert describe(dataclasses.replace(b3lyp, hf_full=0.3)) is None
    assert describe(_KohnShamPart(dataclasses.replace(b3lyp), "both", True)) is None
    assert describe(lambda x: x) is None
    assert describe(np.zeros(2)) is None
