"""dftjax.cache_files and ``dftjax cache``: the cache's content by kind, and clearing the
stale part or all of it, on a cache directory laid out as dftjax and JAX write it."""

import pytest

from dftjax.cache_files import clear, survey
from dftjax.cli import main
from dftjax.stored_programs import STORE, generation

CURRENT = "0123456789abcdef"
OLD = "fedcba9876543210"
HASH = "ab" * 32


@pytest.fixture
def cache(tmp_path):
    """Two stored programs of this generation, one of another and one of the flat
    layout of older versions; JAX entries named with either generation or with none; a
    basis set; and a file that is none of these."""
    def write(path, size):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)

    write(tmp_path / STORE / CURRENT / "a", 10)
    write(tmp_path / STORE / CURRENT / "b", 20)
    write(tmp_path / STORE / OLD / "c", 40)
    write(tmp_path / STORE / ("d" * 64), 80)                    # flat, older layout
    write(tmp_path / f"jit_chunk_values_{CURRENT[:12]}-{HASH}-cache", 100)
    write(tmp_path / f"jit_chunk_values_{OLD[:12]}-{HASH}-cache", 200)
    write(tmp_path / f"jit_chunk_values_{OLD[:12]}-{HASH}-atime", 1)
    write(tmp_path / f"jit__accumulate-{HASH}-cache", 400)
    write(tmp_path / "dftjax-basis" / "e.json", 800)
    write(tmp_path / "notes.txt", 5)
    return tmp_path


def test_survey_sorts_by_generation(cache):
    parts = survey(cache, CURRENT)
    assert (parts["current"].files, parts["current"].bytes) == (3, 130)
    assert (parts["stale"].files, parts["stale"].bytes) == (4, 321)
    assert (parts["other"].files, parts["other"].bytes) == (1, 400)
    assert (parts["basis"].files, parts["basis"].bytes) == (1, 800)
    assert survey(cache / "absent", CURRENT)["current"].files == 0


def test_clear_stale_keeps_what_can_still_be_loaded(cache):
    removed = clear(cache, CURRENT)
    assert (removed.files, removed.bytes) == (4, 321)
    parts = survey(cache, CURRENT)
    assert parts["stale"].files == 0 and parts["current"].files == 3
    assert parts["other"].files == 1 and parts["basis"].files == 1


def test_clear_removes_only_what_dftjax_and_jax_wrote(cache):
    removed = clear(cache, CURRENT, stale_only=False)
    assert removed.files == 9
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == ["notes.txt"]


def test_command(cache, capsys):
    assert main(["cache", "--dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert f"generation {generation()}" in out
    assert "programs of other generations (stale: --clear-stale):" in out
    assert main(["cache", "--dir", str(cache), "--clear-stale"]) == 0
    assert "removed" in capsys.readouterr().out
    assert main(["cache", "--dir", str(cache / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["cache", "--clear", "--clear-stale"]) == 2  # one or the other
