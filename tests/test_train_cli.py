"""``dftjax train CONFIG.toml`` (dftjax.train.cli and dftjax.train.config): a small run
end to end, resuming, parameters from a file, and configuration errors as one line with
exit code 2. H2 and the H atom in STO-3G on grid level 1 keep it quick."""

import json
import os
import signal
import subprocess
import sys
import threading

import jax.numpy as jnp
import numpy as np
import pytest

import dftjax
from dftjax.cli import main
from dftjax.params_io import load_pytree, save_pytree
from dftjax.xc import Functional, get_functional

CONFIG = """
[functional]
{functional}

[defaults]
basis = "sto-3g"
grid_level = 1

[[samples]]
name = "h2"
geometry = "H 0 0 0; H 0 0 0.7414"

[[samples]]
name = "h"
geometry = "H 0 0 0"
multiplicity = 2

[[loss.total_energy]]
sample = "h2"
target = -1.17

[[loss.atomization_energy]]
molecule = "h2"
atoms = {{ h = 2 }}
target = 0.1745

[[loss.density]]
sample = "h2"
reference = "h2_density.npz"

[loss.weights]
atomization_energy = 10.0

[optimizer]
name = "adam"
learning_rate = 0.02
clip_norm = 1.0

[train]
steps = 2
output = "run"
checkpoint_every = 1
"""


def scaled_slater(scale=1.0):
    """An entry point: the library's Slater exchange with its parameter set to ``scale``."""
    lda = get_functional("lda")
    return Functional("scaled-slater", lda.energy_density, lda.needs, {"alpha": jnp.asarray(scale)})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """H2's HF/6-31G density matrix with its basis in the metadata: a reference density."""
    directory = tmp_path_factory.mktemp("train")
    h2 = dftjax.Molecule.from_xyz("H 0 0 0; H 0 0 0.7414")
    hf = dftjax.scf(h2, basis="6-31g")
    save_pytree(directory / "h2_density.npz", {"density_matrix": np.asarray(hf.density_matrix)},
                {"basis": "6-31g"})
    return directory


def write_config(directory, functional='name = "lda"'):
    path = directory / "train.toml"
    path.write_text(CONFIG.format(functional=functional))
    return path


def test_train_runs_checkpoints_and_resumes(reference, capsys):
    config = write_config(reference)
    assert main(["train", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "step     0" in err and "step     1" in err and "density=" in err
    assert "sample 1/2 h2: 2 basis functions" in err and "sample 2/2 h:" in err
    assert "trained lda_x: step 2" in out
    run = reference / "run"
    record = json.loads((run / "record.json").read_text())
    assert [s["step"] for s in record["steps"]] == [0, 1]
    assert all(s["applied"] and not s["failed"] for s in record["steps"])
    assert record["steps"][1]["loss"] < record["steps"][0]["loss"]  # it learns
    params, metadata = load_pytree(run / "params.npz")
    assert metadata["functional"] == "lda" and metadata["step"] == 2
    assert float(params["alpha"]) != 1.0
    card = (run / "MODEL_CARD.md").read_text()
    assert "| h2 | H2 | 0 | 1 | sto-3g | 2 |" in card and "| h | H | 0 | 2 | sto-3g | 1 |" in card
    assert "| atomization_energy | 1 | 10 |" in card and "- Steps: 2 of 2 (2 recorded)" in card
    assert f"at step 1 (" in card and "Started from the functional's published parameters" in card
    # run again: the run has its 2 steps, so nothing more is done
    assert main(["train", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "resuming from step 2 of 2" in err and "step     2" not in err
    assert "trained lda_x: step 2" in out
    # a total of 3: resumes at step 2 for the one step left
    assert main(["train", str(config), "--steps", "3"]) == 0
    out, err = capsys.readouterr()
    assert "resuming from step 2 of 3" in err and "step     2" in err and "step     3" not in err
    record = json.loads((run / "record.json").read_text())
    assert [s["step"] for s in record["steps"]] == [0, 1, 2]
    assert "- Steps: 3 of 3 (3 recorded)" in (run / "MODEL_CARD.md").read_text()


@pytest.mark.parametrize("stop, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_stop_checkpoints_the_last_step_and_a_rerun_continues(reference, capsys, stop, status):
    """The real command in a process of its own, sent SIGINT (Ctrl-C) or SIGTERM (a batch
    system's stop) once it has reported a second step: exit status 128 + the signal, the
    state after the last completed step checkpointed (although checkpoint_every is far
    away) with its record, and the same command, run again, continues from there."""
    config = reference / f"long-{stop.name}.toml"  # the module's directory is shared
    config.write_text(CONFIG.format(functional='name = "lda"')
                      .replace("steps = 2", "steps = 1000")
                      .replace('output = "run"', f'output = "long-{stop.name}"')
                      .replace("checkpoint_every = 1", "checkpoint_every = 1000"))
    process = subprocess.Popen([sys.executable, "-m", "dftjax.cli", "train", str(config)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines, second_step = [], threading.Event()

    def read():
        for line in process.stderr:
            lines.append(line)
            if line.startswith("step     1 "):
                second_step.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert second_step.wait(timeout=600), "".join(lines)
        process.send_signal(stop)
        assert process.wait(timeout=120) == status, "".join(lines)
    finally:
        process.kill()
    reader.join(timeout=10)
    stopped = [line for line in lines if line.startswith("interrupted: the state after step")]
    assert len(stopped) == 1, "".join(lines)
    done = int(stopped[0].split()[5])
    assert done >= 2
    record = json.loads((reference / f"long-{stop.name}" / "record.json").read_text())
    assert [s["step"] for s in record["steps"]] == list(range(done))
    _, metadata = load_pytree(reference / f"long-{stop.name}" / "checkpoint.npz")
    assert metadata["step"] == done
    assert main(["train", str(config), "--steps", str(done + 1)]) == 0
    out, err = capsys.readouterr()
    assert f"resuming from step {done} of {done + 1}" in err and f"step {done:5d}" in err
    assert f"step {done + 1}," in out


def test_entry_point_and_initial_parameters(reference, capsys):
    save_pytree(reference / "init.npz", {"alpha": np.asarray(0.9)})
    config = write_config(reference, 'entry_point = "test_train_cli:scaled_slater"\n'
                                     'params = "init.npz"\noptions = { scale = 2.0 }')
    assert main(["train", str(config), "--steps", "1", "--output", str(reference / "ep"),
                 "--restart"]) == 0
    out, _ = capsys.readouterr()
    assert "trained scaled-slater: step 1" in out
    params, _ = load_pytree(reference / "ep" / "params.npz")
    assert abs(float(params["alpha"]) - 0.9) < 0.05  # started from the file's 0.9, not 2.0


@pytest.mark.parametrize("functional, message", [
    ('name = "no-such-functional"', "no-such-functional"),
    ('name = "hf"', "no parameters to train"),
    ('entry_point = "no_such_module:f"', "no_such_module"),
    ('name = "lda"\nbogus = 1', "unknown keys in [functional]"),
])
def test_bad_configuration_is_one_line_exit_2(reference, capsys, functional, message):
    config = write_config(reference, functional)
    assert main(["train", str(config), "--output", str(reference / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dftjax: error:") and message in err and err.count("\n") == 1


def test_loss_entry_errors_name_the_key(reference, capsys):
    config = reference / "broken.toml"
    config.write_text(CONFIG.format(functional='name = "lda"').replace("target = -1.17\n", ""))
    assert main(["train", str(config), "--output", str(reference / "bad")]) == 2
    assert "[[loss.total_energy]] needs ['target']" in capsys.readouterr().err


def test_missing_configuration_file(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
