"""``dftjax run --method``: options, JSON record and exit codes (dftjax/correlated/command.py).

Option handling and output are tested with a fake correlated run (milliseconds); one
end-to-end MP2 run on water checks the real path against the frozen PySCF number.
"""

import json
import types

import numpy as np
import pytest

from dftjax import cli
from dftjax.correlated import command

from conftest import DATA_DIR

REFERENCE = json.loads((DATA_DIR / "correlated_reference.json").read_text())


def fake_result(converged=True, dipole=None):
    scf = types.SimpleNamespace(nao=7, restricted=True)
    return types.SimpleNamespace(
        energy=-75.0125, method="ccsd(t)", scf_energy=-74.963, correlation_energy=-0.0495,
        components={"ccsd": -0.0494, "(t)": -0.0001}, converged=converged, iterations=11,
        ncore=1, scf=scf, dipole=dipole, timings={"total": 1.0})


@pytest.fixture
def fake_run(monkeypatch):
    calls = []

    def run(mol, **options):
        calls.append(options)
        return fake_result(dipole=np.array([0.0, 0.0, -0.63]) if options["relaxed_density"]
                           else None)

    monkeypatch.setattr(command, "run", run)
    return calls


def run_cli(capsys, *argv):
    code = cli.main(["run", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_record_has_the_issue_fields(fake_run, water_xyz, capsys):
    code, out, _ = run_cli(capsys, water_xyz, "--basis", "sto-3g", "--method", "CCSD(T)",
                           "--frozen-core", "--relaxed-density", "--json")
    assert code == 0
    record = json.loads(out)
    assert {"energy", "method", "scf_energy", "correlation_energy", "converged",
            "relaxed_dipole"} <= set(record)
    assert record["method"] == "ccsd(t)" and record["relaxed_dipole"] == [0.0, 0.0, -0.63]
    assert fake_run == [{"basis": "sto-3g", "method": "ccsd(t)", "frozen_core": True,
                         "relaxed_density": True, "unrestricted": None, "verbose": False}]


def test_no_dipole_without_relaxed_density(fake_run, water_xyz, capsys):
    code, out, _ = run_cli(capsys, water_xyz, "--basis", "sto-3g", "--method", "mp2", "--json")
    assert code == 0 and "relaxed_dipole" not in json.loads(out)


def test_not_converged_exits_1(monkeypatch, water_xyz, capsys):
    monkeypatch.setattr(command, "run", lambda mol, **options: fake_result(converged=False))
    code, out, err = run_cli(capsys, water_xyz, "--basis", "sto-3g", "--method", "ccsd")
    assert code == 1 and "total energy" in out and "did not converge" in err


@pytest.mark.parametrize("extra,message", [
    (["--xc", "b3lyp"], "cannot be combined with --xc b3lyp"),
    (["--gradient"], "--gradient is not available"),
    (["--density-fit"], "exact integrals"),
])
def test_incompatible_options_exit_2(fake_run, water_xyz, capsys, extra, message):
    code, out, err = run_cli(capsys, water_xyz, "--basis", "sto-3g", "--method", "ccsd", *extra)
    assert code == 2 and out == "" and err.startswith("dftjax: error:") and message in err
    assert fake_run == []


def test_correlated_flags_need_a_method(fake_run, water_xyz, capsys):
    code, _, err = run_cli(capsys, water_xyz, "--basis", "sto-3g", "--frozen-core")
    assert code == 2 and "need --method" in err


def test_unknown_method_is_an_argument_error(water_xyz, capsys):
    code, _, err = run_cli(capsys, water_xyz, "--basis", "sto-3g", "--method", "cisd")
    assert code == 2 and "invalid choice" in err


def test_water_mp2_end_to_end(water_xyz, capsys):
    code, out, _ = run_cli(capsys, water_xyz, "--basis", "sto-3g", "--method", "mp2", "--json")
    record = json.loads(out)
    assert code == 0 and record["converged"]
    # tests/data/water.xyz is the geometry of h2o_sto3g; 1e-8 Ha as test_correlated_driver.
    assert abs(record["energy"] - REFERENCE["h2o_sto3g"]["e_mp2"]) < 1e-8
