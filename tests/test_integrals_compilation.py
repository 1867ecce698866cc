"""Stored integral programs (dftjax.integrals._compilation.StoredKernel): a second
process (here: a second kernel object, with an empty in-process table) loads the compiled
program from disk without tracing, gets the same numbers, and counts the load as a cache
hit; traced arguments, other shapes or static values, and unreadable files fall back to
compiling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dftjax.compile_clock import CompileClock
from dftjax.integrals import _compilation
from dftjax.integrals._compilation import StoredKernel


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
    monkeypatch.setattr(_compilation, "_store_directory", lambda: directory)
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
