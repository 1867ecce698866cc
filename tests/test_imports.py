"""The package's import structure: every module imports on its own, and no two modules
import each other, directly or through others (imports inside functions included)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "dftjax"
# Third-party packages of the optional extras (pyproject.toml): a module that needs one
# may fail to import without it, saying so.
OPTIONAL = ("ase",)


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set:
    """dftjax modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # "from pkg import sub" imports the submodule pkg.sub when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def _find_cycle(graph: dict):
    """One import cycle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def _bytecode_environment(prefix: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONPYCACHEPREFIX": str(prefix)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def test_no_import_cycle():
    # Importing a submodule runs its parent packages' __init__ first; those edges are
    # Python's, not the module's, so only the imports written in each file count.
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert len(graph) > 40 and "dftjax.xc.spin" in graph["dftjax.xc.mgga"]
    assert _find_cycle(graph) is None, " -> ".join(_find_cycle(graph))


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_every_module_imports_on_its_own(tmp_path):
    """Each module imported first thing in a clean module table (one interpreter, the
    dftjax modules removed from sys.modules before each: a fresh interpreter per module
    would spend a second importing JAX each time). Bytecode is written, to a temporary
    prefix, even where PYTHONDONTWRITEBYTECODE is set: else each of the ~100 imports
    compiles the package's sources again (0.1 s each)."""
    script = (
        "import importlib, sys\n"
        "failed = []\n"
        f"for name in {sorted(MODULES)!r}:\n"
        "    for loaded in [m for m in sys.modules if m == 'dftjax' or m.startswith('dftjax.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError as exc:\n"
        f"        if exc.name not in {OPTIONAL!r}:\n"
        "            failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
        "print('failures', len(failed))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300,
                          env=_bytecode_environment(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "failures 0", done.stdout
