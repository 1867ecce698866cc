"""dftjax.compile_clock: the compile/run split reported in ``timings``."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.compile_clock import CompileClock


def test_clock_counts_a_new_compilation_and_not_a_cached_call():
    cube = jax.jit(lambda x: x ** 3 + 0.125)
    x, y = jnp.arange(5.0), jnp.ones(5)  # made outside the clocks (eager ops compile too)
    with CompileClock() as cold:
        cube(x).block_until_ready()
    assert cold.compilations >= 1
    assert 0.0 < cold.compile_seconds <= cold.seconds
    with CompileClock() as warm:
        cube(y).block_until_ready()
    assert warm.compilations == 0 and warm.compile_seconds == 0.0


def test_scf_reports_compile_and_run_time_and_no_compilation_for_a_new_geometry(water_xyz):
    mol = dftjax.Molecule.from_xyz(water_xyz)
    first = dftjax.scf(mol, basis="sto-3g")
    timings = first.timings
    assert {"compile", "run", "total"} <= set(timings)
    assert timings["compile"] + timings["run"] == pytest.approx(timings["total"], abs=1e-9)
    moved = dftjax.Molecule(mol.symbols, np.asarray(mol.coordinates) + [[0.01, 0, 0], [0, 0, 0],
                                                                        [0, 0, 0]], unit="bohr")
    second = dftjax.scf(moved, basis="sto-3g")
    assert second.converged
    assert second.compilations == 0 and second.timings["compile"] == 0.0


def test_compile_notice_says_so_once(monkeypatch, capsys):
    from dftjax import compile_clock
    monkeypatch.setitem(compile_clock._state, "notified", False)
    x = jnp.arange(3.0)
    offsets = np.random.default_rng().random(2)  # new constants: new programs, no cache hit
    with compile_clock.compile_notice(seconds=0.0):
        for offset in offsets:
            jax.jit(lambda v: jnp.sin(v) + offset)(x).block_until_ready()
    with compile_clock.compile_notice(seconds=0.0):  # once per process
        jax.jit(lambda v: jnp.cos(v) + offsets[0])(x).block_until_ready()
    assert capsys.readouterr().err == compile_clock.NOTICE + "\n"


def test_covered_seconds_is_the_union_of_the_intervals_within_the_block():
    from dftjax.compile_clock import covered_seconds
    assert covered_seconds([], 0.0, 10.0) == 0.0
    # overlapping (1-4, 2-5), nested (6-7 in 6-8), and clipped to the block (9-12 -> 9-10)
    spans = [(2.0, 5.0), (1.0, 4.0), (6.0, 8.0), (6.5, 7.0), (9.0, 12.0), (-3.0, -1.0)]
    assert covered_seconds(spans, 0.0, 10.0) == pytest.approx(4.0 + 2.0 + 1.0)


def test_compilations_side_by_side_count_once_in_wall_time():
    """Two threads compiling at once: the durations summed exceed the wall time they
    covered, which is what ``compile_seconds`` (and ``timings['compile']``) reports."""
    from concurrent.futures import ThreadPoolExecutor
    x = jnp.arange(4.0)
    offsets = np.random.default_rng().random(4)  # new constants: new programs, no cache hit

    def compile_one(offset):
        def body(v):
            for k in range(60):  # a program that takes XLA a moment to compile
                v = jnp.sin(v * (1.0 + k * offset)) + jnp.cos(v + offset)
            return v
        jax.jit(body).lower(x).compile()

    with CompileClock() as clock:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(compile_one, offsets))
    assert clock.compilations >= 4
    assert 0.0 < clock.compile_seconds <= clock.seconds
    assert clock.compile_seconds <= clock.compile_thread_seconds + 1e-9
    with CompileClock() as nested_outer:
        with CompileClock() as nested_inner:
            compile_one(offsets[0] + 1.0)
    assert 0.0 < nested_inner.compile_seconds <= nested_outer.compile_seconds + 1e-9
