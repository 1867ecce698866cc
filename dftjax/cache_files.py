"""What the persistent compilation cache holds, and clearing it (``dftjax cache``).

The cache directory (:mod:`dftjax._cache`) collects, run after run:

* dftjax's **stored programs** (:mod:`dftjax.stored_programs`), one subdirectory of
  ``dftjax-executables`` per generation (dftjax source, JAX, device): those of other
  generations, and files left directly in ``dftjax-executables`` by older versions, can
  never be loaded again;
* **JAX's own cache** entries (``*-cache``, ``*-atime``): those of programs named with a
  dftjax fingerprint (``chunk_values_f95350b7bddd-...``) belong to one generation too;
  the others' keys are JAX's, so whether a later run can hit them is not known here;
* **basis sets** read from basis-set-exchange (``dftjax-basis``), small and valid for good.

Every new dftjax source makes a new generation, so a developer's or a long-lived user's
cache grows by the programs of each: :func:`survey` says how much is stale,
:func:`clear` removes the stale part or everything dftjax and JAX put there (never other
files).
"""

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .stored_programs import STORE

BASIS = "dftjax-basis"
_JAX_ENTRY = re.compile(r"-[0-9a-f]{64}-(cache|atime)$")
_GENERATION_IN_NAME = re.compile(r"_([0-9a-f]{12})-[0-9a-f]{64}-(cache|atime)$")


@dataclass
class Part:
    """Files and bytes of one kind of cache content, and the paths that hold them."""

    files: int = 0
    bytes: int = 0
    paths: list = field(default_factory=list)

    def add(self, path: Path) -> None:
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        self.files += len(files)
        self.bytes += sum(f.stat().st_size for f in files)
        self.paths.append(path)


def survey(directory, generation: str) -> dict:
    """The cache ``directory``'s content by kind: "current" (this generation's stored
    programs and named JAX entries), "stale" (other generations'), "other" (JAX entries
    without a generation in their name), "basis" (basis sets). ``generation`` is
    :func:`dftjax.stored_programs.generation` (16 hex digits)."""
    parts = {kind: Part() for kind in ("current", "stale", "other", "basis")}
    directory = Path(directory)
    if not directory.is_dir():
        return parts
    for path in sorted(directory.iterdir()):
        if path.name == STORE and path.is_dir():
            for entry in sorted(path.iterdir()):
                parts["current" if entry.is_dir() and entry.name == generation else "stale"].add(entry)
        elif path.name == BASIS and path.is_dir():
            parts["basis"].add(path)
        elif path.is_file() and _JAX_ENTRY.search(path.name):
            named = _GENERATION_IN_NAME.search(path.name)
            if named is None:
                parts["other"].add(path)
            else:
                parts["current" if generation.startswith(named.group(1)) else "stale"].add(path)
    return parts


def clear(directory, generation: str, stale_only: bool = True) -> Part:
    """Remove the stale part of the cache (``stale_only``) or all that dftjax and JAX
    keep there; returns what was removed."""
    parts = survey(directory, generation)
    kinds = ("stale",) if stale_only else ("current", "stale", "other", "basis")
    removed = Part()
    for kind in kinds:
        for path in parts[kind].paths:
            removed.add(path)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
    return removed
