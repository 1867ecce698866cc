"""Session set-up shared by all tests.

- JAX runs on the CPU unless ``JAX_PLATFORMS`` says otherwise, so results and timings do
  not depend on whether the machine happens to have an accelerator.
- JAX's persistent compilation cache is on, in ``JAX_COMPILATION_CACHE_DIR`` or else
  ``.jax_cache/`` at the repository root: compile time dominates a cold test run, and the
  cache makes the second run (and every CI run after the first) much faster.

Markers (``live``, ``slow``) are declared in pyproject.toml, not here.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  (after JAX_PLATFORMS is set, before any test imports dftjax)

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(__file__).resolve().parent / "data"

jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("JAX_COMPILATION_CACHE_DIR", str(REPO_ROOT / ".jax_cache")),
)
# Cache every compiled function, however quick to compile or small: the test suite
# compiles many small kernels whose sum is what costs.
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)

from dftjax import release_compiled_code  # noqa: E402  (after the cache settings)
from dftjax.integrals._compilation import worker_count  # noqa: E402  (the cores we may use)
from dftjax.memory import available_memory  # noqa: E402

#: Memory one test worker may take: a whole default run in one process peaks at about
#: 6 GB resident (compiled programs accumulate; 2-core machine, jaxlib 0.10.2).
WORKER_MEMORY = 6 * 1024**3


def pytest_xdist_auto_num_workers(config):
    """Worker processes for ``-n auto`` (pyproject.toml's default): one per core this
    process may use, and no more than available memory allows at WORKER_MEMORY each;
    0 (the tests run in pytest's own process) when that leaves fewer than two. Two
    workers on 2 cores run the default suite in 15 min instead of 25: a single process
    keeps one core busy and the other only while XLA compiles or a product runs."""
    workers = min(worker_count(), available_memory() // WORKER_MEMORY)
    return workers if workers >= 2 else 0


@pytest.fixture(autouse=True)
def _bounded_compiled_code():
    """After each test, free JAX's compiled code if the session nears the kernel's cap on
    memory mappings (each XLA:CPU executable holds its own; past the cap XLA segfaults).
    dftjax.scf does this check itself; tests that call integral kernels directly do not
    pass through it. A few milliseconds per test."""
    yield
    release_compiled_code()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory of frozen reference data and input files, ``tests/data``."""
    return DATA_DIR


@pytest.fixture(scope="session")
def water_xyz(data_dir) -> Path:
    """Water at a fixed geometry (Angstrom): O 0 0 0.1173; H 0 ±0.7572 -0.4692."""
    return data_dir / "water.xyz"
