"""The tutorial notebooks double as tests: each ``notebooks/*.ipynb`` must run top to bottom.

Every notebook is executed with nbclient in a fresh ``python3`` kernel, with the notebooks
folder as its working directory and 300 s allowed per cell; an exception in any cell
(including a failed ``assert`` comparing with a reference value) fails the test.

The kernel must be this interpreter: jupyter_client starts the ``python3`` kernelspec
(provided by ipykernel in ``sys.prefix``) with ``sys.executable``, and a guard cell put in
front of each notebook checks that it did. The kernel inherits JAX on the CPU and the
persistent compilation cache of this test session (see conftest.py).
"""

import os
import sys
from pathlib import Path

import jax
import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def kernel_environment():
    """This process's environment, plus JAX on the CPU and the session's compilation cache."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    cache_dir = jax.config.jax_compilation_cache_dir
    if cache_dir:
        env.update(JAX_COMPILATION_CACHE_DIR=str(cache_dir),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1")
    return env


def interpreter_guard():
    """A cell that fails unless the kernel runs in this Python environment."""
    return new_code_cell(
        "import sys\n"
        f"assert sys.prefix == {sys.prefix!r}, f'kernel runs in {{sys.prefix}}, not {sys.prefix}'")


def test_notebooks_found():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs(path):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, interpreter_guard())
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute(env=kernel_environment())
