"""dftjax.warmup and ``dftjax warmup``: compiled code that a later process loads."""

import json
import os
import pathlib
import subprocess
import sys

import dftjax
from dftjax.warmup import builtin_molecules, warmup


def _dftjax(*argv, cache):
    """The real command in a fresh process, with its own persistent cache directory."""
    env = {key: value for key, value in os.environ.items() if key != "JAX_COMPILATION_CACHE_DIR"}
    env["DFTJAX_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(pathlib.Path(dftjax.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "dftjax.cli", *map(str, argv)],
                          capture_output=True, text=True, check=False, timeout=900, env=env)


def test_builtin_molecules_are_neutral_closed_shells_smallest_first():
    molecules = builtin_molecules()
    assert list(molecules)[0] == "water"
    sizes = [molecule.natom for molecule in molecules.values()]
    assert sizes == sorted(sizes)
    assert all(molecule.nelectron % 2 == 0 for molecule in molecules.values())


def test_warmup_runs_the_builtin_molecules_up_to_max_nao():
    rows = warmup("sto-3g", max_nao=7)  # water has 7 functions in STO-3G, ammonia 8
    assert [(row["name"], row["nao"]) for row in rows] == [("water", 7)]
    assert rows[0]["cache_hits"] <= rows[0]["compilations"]


def test_after_warmup_a_new_geometry_loads_everything_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    # H2 keeps this quick (s functions only: one class of integrals)
    h2 = tmp_path / "h2.xyz"
    h2.write_text("2\n\nH 0 0 0\nH 0 0 0.74\n")
    warmed = _dftjax("warmup", h2, "--basis", "sto-3g", cache=cache)
    assert warmed.returncode == 0, warmed.stderr
    lines = [line for line in warmed.stderr.splitlines() if line.startswith("warmup:")]
    assert lines[0].startswith(f"warmup: {h2} (2 functions)") and len(lines) == 2
    assert str(cache) in lines[-1]

    # another geometry in a new process: every program comes from the cache
    h2.write_text("2\n\nH 0 0 0\nH 0.1 0 0.9\n")
    run = _dftjax("run", h2, "--basis", "sto-3g", "--json", cache=cache)
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["converged"] and record["compilations"] > 0
    assert record["cache_hits"] == record["compilations"]
    assert "compiling for this size" not in run.stderr
