"""The G2 benchmark machinery on LiH and H2O (HF/STO-3G) and their atoms H, Li, O.

Energies against PySCF (tests/data/make_g2_bench_reference.py, same geometries, basis
from basis-set-exchange, stability followed for open shells): 1e-8 Ha, exact integrals
and no grid. The whole set runs as a benchmark (``dftjax bench g2``), not here.
"""

import json
import sys

import pytest

from dftjax import cli
from dftjax.benchmarks import g2
from conftest import DATA_DIR

REFERENCE = json.loads((DATA_DIR / "g2_bench_reference.json").read_text())
OPTIONS = dict(xc="hf", basis="sto-3g", progress=None)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """LiH and its atoms, written to a JSONL file."""
    path = tmp_path_factory.mktemp("g2") / "lih.jsonl"
    chosen, records = g2.run_g2(molecules=["LiH"], output=path, **OPTIONS)
    return path, chosen, records


def counting_scf(monkeypatch, fail=()):
    """Replace the benchmark's SCF by one that records which species ran (and raises
    for the species named in ``fail``)."""
    ran = []
    real = g2.scf

    def scf(molecule, **options):
        name = "".join(molecule.symbols) if molecule.natom == 1 else str(molecule.natom)
        ran.append(name)
        if name in fail:
            raise RuntimeError("boom")
        return real(molecule, **options)

    monkeypatch.setattr(g2, "scf", scf)
    return ran


def test_data_set_is_complete_with_provenance():
    data = g2.load_g2()
    subsets = [m["subset"] for m in data["molecules"]]
    assert len(subsets) == 148 and subsets.count("G2-1") == 55 and subsets.count("G2-2") == 93
    atoms = {a["name"] for a in data["atoms"]}
    assert len(atoms) == 14
    assert all(set(m["symbols"]) <= atoms for m in data["molecules"])
    assert data["source"] and data["atomization_energy_definition"]
    chosen, needed = g2.select(subset="g2-1", molecules=["H2O"])
    assert [m["name"] for m in chosen] == ["H2O"] and {a["name"] for a in needed} == {"H", "O"}


@pytest.mark.parametrize("options, message", [
    ({"subset": "g2-3"}, "unknown G2 subset"), ({"molecules": ["XeF6"]}, "XeF6")])
def test_bad_selection_is_named(options, message):
    with pytest.raises(ValueError, match=message):
        g2.select(**options)


def test_energies_and_atomization_energy_match_pyscf(first_run):
    path, chosen, records = first_run
    assert [json.loads(line)["species"] for line in path.read_text().splitlines()] == ["H", "Li", "LiH"]
    for name, record in records.items():
        assert record["converged"] and record["error"] is None
        assert abs(record["energy"] - REFERENCE[name]) < 1e-8, name
    assert records["Li"]["stability_checked"] and not records["LiH"]["stability_checked"]
    assert abs(records["Li"]["s2"] - 0.75) < 1e-6
    # STO-3G: H 1, Li 5, LiH 6 functions; this size takes the exact integrals
    assert [records[n]["nao"] for n in ("H", "Li", "LiH")] == [1, 5, 6]
    assert {(r["eri_method"], r["auxbasis"]) for r in records.values()} == {("exact", None)}
    (row,) = g2.atomization_energies(chosen, records)
    expected = (REFERENCE["H"] + REFERENCE["Li"] - REFERENCE["LiH"]) * 627.509474
    assert abs(row["De"] - expected) < 1e-8 * 627.509474
    assert row["error"] == pytest.approx(row["De"] - 58.0032, abs=1e-12)


def test_resume_runs_only_missing_species(first_run, monkeypatch, tmp_path):
    path = tmp_path / "resume.jsonl"
    path.write_text(first_run[0].read_text())
    ran = counting_scf(monkeypatch)
    chosen, records = g2.run_g2(molecules=["LiH", "H2O"], output=path, resume=True, **OPTIONS)
    assert ran == ["O", "3"]  # H, Li and LiH were in the file
    assert abs(records["H2O"]["energy"] - REFERENCE["H2O"]) < 1e-8
    assert len(path.read_text().splitlines()) == 5
    summary = g2.summarize(g2.atomization_energies(chosen, records), records)
    assert summary["in_mae"] == 2 and not summary["failures"]
    with pytest.raises(ValueError, match="cannot resume"):
        g2.run_g2(molecules=["LiH"], output=path, resume=True, xc="hf", basis="6-31g")


def test_failed_species_is_reported_not_dropped(first_run, monkeypatch, tmp_path):
    path = tmp_path / "failed.jsonl"
    path.write_text(first_run[0].read_text())
    counting_scf(monkeypatch, fail=("O",))
    chosen, records = g2.run_g2(molecules=["LiH", "H2O"], output=path, resume=True, **OPTIONS)
    assert "RuntimeError: boom" in records["O"]["error"]
    rows = g2.atomization_energies(chosen, records)
    summary = g2.summarize(rows, records)
    assert summary["molecules"] == 2 and summary["in_mae"] == 1
    assert summary["failures"] == [{"name": "H2O", "failed_species": ["O"]}]
    assert set(summary["failed_species"]) == {"O"}
    assert "not in the MAE: H2O (failed: O)" in g2.table(rows, summary)


def test_cli_end_to_end(first_run, tmp_path, capsys):
    path = tmp_path / "cli.jsonl"
    path.write_text(first_run[0].read_text())
    code = cli.main(["bench", "g2", "--xc", "hf", "--basis", "sto-3g", "--molecules", "LiH",
                     "--output", str(path), "--resume", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["summary"]["in_mae"] == 1 and out["molecules"][0]["name"] == "LiH"
    assert out["summary"]["MAE"] == pytest.approx(abs(out["molecules"][0]["error"]))
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# Model card: x\n\n## Evaluation\n\nNot evaluated yet.\n")
    code = cli.main(["bench", "g2", "--xc", "hf", "--basis", "sto-3g", "--molecules", "LiH",
                     "--output", str(path), "--resume", "--model-card", str(card)])
    assert code == 0 and "MAE" in capsys.readouterr().out
    text = card.read_text()
    mae = out["summary"]["MAE"]
    assert "### G2 G2-1 and G2-2, molecules LiH: hf, sto-3g, grid level 3" in text
    assert f"Molecules in the MAE: 1 of 1; MAE {mae:.2f}" in text and "Not evaluated" not in text


@pytest.mark.parametrize("argv, message", [
    (["--molecules", "XeF6"], "not in the G2 set: XeF6"),
    (["--plot", "errors.png"], "--plot needs matplotlib"),
    (["--resume"], "--resume needs --output"),
    (["--xc", "nosuchfunctional"], "nosuchfunctional")])
def test_cli_bad_input_is_one_line(argv, message, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    base = ["bench", "g2", "--basis", "sto-3g"] + ([] if "--xc" in argv else ["--xc", "hf"])
    assert cli.main(base + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dftjax: error:") and message in err[0]
