"""dftjax._cache: the persistent compilation cache's directory and the guard that frees
compiled code before a process reaches the kernel's cap on memory mappings."""

import json
import os
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import pytest

from dftjax import _cache, release_compiled_code

PROBE = ("import json, jax, dftjax; "
         "print(json.dumps(jax.config.jax_compilation_cache_dir))")


def cache_dir_in_fresh_process(tmp_path, **env_overrides):
    env = {key: value for key, value in os.environ.items()
           if key not in ("JAX_COMPILATION_CACHE_DIR", "DFTJAX_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(env_overrides)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cache_is_on_by_default_in_the_user_cache_directory(tmp_path):
    directory = cache_dir_in_fresh_process(tmp_path, XDG_CACHE_HOME=str(tmp_path))
    assert directory == str(tmp_path / "dftjax" / "jax")
    assert (tmp_path / "dftjax" / "jax").is_dir()


def test_cache_directory_overrides(tmp_path):
    chosen = tmp_path / "elsewhere"
    assert cache_dir_in_fresh_process(tmp_path, DFTJAX_CACHE_DIR=str(chosen)) == str(chosen)
    assert cache_dir_in_fresh_process(tmp_path, DFTJAX_CACHE_DIR="off") is None


def test_a_directory_set_through_jax_is_left_alone(tmp_path):
    directory = cache_dir_in_fresh_process(tmp_path, JAX_COMPILATION_CACHE_DIR=str(tmp_path))
    assert directory == str(tmp_path)


def test_memory_map_usage_reads_this_process():
    usage = _cache.memory_map_usage()
    if usage is None:
        pytest.skip("no /proc on this system")
    count, limit = usage
    assert 0 < count < limit


def compiled_square():
    square = jax.jit(lambda x: x * x)
    square(jnp.ones(3)).block_until_ready()
    assert square._cache_size() == 1
    return square


def test_release_is_a_no_op_below_the_cap(monkeypatch):
    monkeypatch.setattr(_cache, "memory_map_usage", lambda: (100, 65530))
    square = compiled_square()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert release_compiled_code() is False
    assert square._cache_size() == 1


def test_release_near_the_cap_warns_and_frees_compiled_code(monkeypatch):
    monkeypatch.setattr(_cache, "memory_map_usage", lambda: (50000, 65530))
    square = compiled_square()
    with pytest.warns(RuntimeWarning, match="vm.max_map_count"):
        assert release_compiled_code() is True
    assert square._cache_size() == 0
    assert float(square(jnp.full(3, 2.0))[0]) == 4.0  # recompiles on demand


def test_release_can_be_forced(monkeypatch):
    monkeypatch.setattr(_cache, "memory_map_usage", lambda: None)
    square = compiled_square()
    assert release_compiled_code() is False      # nothing known: nothing released
    assert release_compiled_code(force=True) is True
    assert square._cache_size() == 0
