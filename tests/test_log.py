"""dftjax.log: progress through logging, shown on stderr by a verbose call when nothing
else handles it, and by nobody when the call is not verbose."""

import logging

import dftjax
from dftjax.log import logger, verbose_logging


def test_verbose_call_shows_progress_on_stderr_when_logging_is_unconfigured(monkeypatch, capsys):
    monkeypatch.setattr(logging.root, "handlers", [])  # a plain script: nothing configured
    with verbose_logging(True):
        logger("scf").info("cycle 1")
    with verbose_logging(False):
        logger("scf").info("cycle 2")
    logger("scf").info("cycle 3")
    assert capsys.readouterr().err == "cycle 1\n"
    assert logger().level == logging.NOTSET and not logger().handlers  # left as found


def test_scf_progress_is_logged_when_verbose(caplog):
    molecule = dftjax.Molecule(["H", "H"], [[0.0, 0.0, 0.0], [0.0, 0.0, 1.4]])
    dftjax.scf(molecule, "sto-3g", verbose=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "dftjax.scf"]
    assert lines[0].startswith("SCF init") and lines[-1].startswith("final")
    assert any(line.startswith("cycle=") for line in lines)
    caplog.clear()
    dftjax.scf(molecule, "sto-3g")
    assert not [r for r in caplog.records if r.name.startswith("dftjax")]
