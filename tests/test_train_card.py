"""dftjax.train.card: the evaluation sections of a model card, added, replaced by a rerun
of the same benchmark, and kept beside another benchmark's. The card a training run
writes is checked end to end in tests/test_train_cli.py."""

from dftjax.train.card import EVALUATION, add_evaluation, evaluation_section


def summary(mae):
    return {"molecules": 3, "in_mae": 2, "MAE": mae, "MSE": -mae, "max_abs": 2 * mae,
            "subsets": {"G2-2": {"count": 2, "MAE": mae, "MSE": -mae, "max_abs": 2 * mae}},
            "largest_errors": [{"name": "CH4", "error": -2 * mae}],
            "failed_species": {"O": "not converged"}, "species": 5, "time_s": 12.0}


def test_section_states_the_figures_and_the_failures():
    text = evaluation_section("G2 G2-2: x, def2-tzvp", summary(1.5))
    assert text.startswith("### G2 G2-2: x, def2-tzvp\n")
    assert "Molecules in the MAE: 2 of 3; MAE 1.50, MSE -1.50, largest |error| 3.00" in text
    assert "- G2-2: 2 molecules, MAE 1.50" in text and "CH4 -3.00" in text
    assert "Failed species (not in the MAE): O" in text


def test_rerun_replaces_its_section_and_keeps_the_others(tmp_path):
    card = tmp_path / "MODEL_CARD.md"
    card.write_text(f"# Model card: f\n\n## Cost\n\n- 1 s\n\n{EVALUATION}\n\nNot evaluated yet.\n")
    add_evaluation(card, "G2 G2-2: f, def2-tzvp", summary(3.0))
    add_evaluation(card, "G2 G2-1: f, def2-tzvp", summary(2.0))
    add_evaluation(card, "G2 G2-2: f, def2-tzvp", summary(1.0))  # a rerun
    text = card.read_text()
    assert text.startswith("# Model card: f\n\n## Cost\n\n- 1 s\n\n## Evaluation\n\n")
    assert "Not evaluated" not in text and "MAE 3.00" not in text
    assert text.count("### G2 G2-2: f, def2-tzvp") == 1 and text.count("### G2 G2-1") == 1
    assert text.index("### G2 G2-1") < text.index("### G2 G2-2")  # the rerun comes last
    assert "MAE 1.00" in text and "MAE 2.00" in text


def test_a_card_that_does_not_exist_yet(tmp_path):
    card = tmp_path / "card.md"
    add_evaluation(card, "G2 G2-1: f, sto-3g", summary(4.0))
    assert card.read_text().startswith("# Model card\n\n## Evaluation\n\n### G2 G2-1: f, sto-3g")


def test_the_load_path_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    from dftjax.train.card import _shown
    monkeypatch.chdir(tmp_path)
    assert str(_shown(tmp_path / "run" / "params.npz")) == "run/params.npz"
    assert str(_shown("run/params.npz")) == "run/params.npz"
    elsewhere = tmp_path.parent / "other" / "params.npz"
    assert _shown(elsewhere) == elsewhere  # outside it: as given
