"""JAX's persistent compilation cache, on by default for dftjax users.

Compilation is a user-facing cost (each angular-momentum class of integrals compiles
once); with the cache, later processes load compiled kernels from disk instead. The
directory is ``$DFTJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/dftjax/jax`` (default
``~/.cache/dftjax/jax``). ``DFTJAX_CACHE_DIR=off`` disables it. A cache directory set
by the user through JAX's own configuration is left alone.

Also here: :func:`release_compiled_code`, which keeps a long-lived process below the
kernel's cap on memory mappings (see the comment above it).
"""

import gc
import os
import threading
import warnings
from pathlib import Path

import jax


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dftjax" / "jax"


def enable_persistent_cache() -> None:
    """Point JAX's compilation cache at dftjax's directory unless told otherwise."""
    setting = os.environ.get("DFTJAX_CACHE_DIR", "")
    if setting.lower() in ("off", "0", "none", "false"):
        return
    if jax.config.jax_compilation_cache_dir or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    directory = Path(setting) if setting else default_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a read-only home: run without the cache rather than fail
    jax.config.update("jax_compilation_cache_dir", str(directory))
    # Every program, however small: a process that finds all it needs on disk compiles
    # nothing (dftjax runs few small programs; see benchmarks/bench_cold.py).
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def store_directory(name: str):
    """``name``, a directory beside JAX's compiled programs for what else dftjax keeps
    between processes (its own compiled integral kernels, basis sets read from
    basis-set-exchange), or None when the persistent cache is off."""
    directory = jax.config.jax_compilation_cache_dir
    return None if not directory else Path(directory) / name


def replace_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see all of it or nothing, and an
    interrupted write (a crash, Ctrl-C) leaves the previous file whole: a temporary file
    beside it, then a rename. OSError (a read-only or full disk) propagates; the
    temporary file is removed in any case."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes) -> None:
    """:func:`replace_atomically`, creating ``path``'s directory, as best effort: a
    read-only or full disk leaves ``path`` absent (for caches, which can do without)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(path, data)
    except OSError:
        pass


# --- compiled code held in memory -------------------------------------------------------
#
# Every XLA:CPU executable keeps its machine code in memory mappings of its own (tens per
# large integral kernel), and Linux caps the mappings of one process (vm.max_map_count,
# usually 65530). A long-lived process that compiles for many different molecules (a
# functional fit over a data set, a benchmark series, a test session) reaches the cap
# after some tens of molecules, and XLA then crashes with a segmentation fault instead of
# raising. dftjax's host entry points therefore check the count first and, past
# MAP_FRACTION of the cap, drop JAX's compiled code (jax.clear_caches) with a warning:
# later calls recompile (or reload from the persistent cache) what they need.

#: fraction of vm.max_map_count past which compiled code is released
MAP_FRACTION = 0.6


def memory_map_usage():
    """(mappings of this process, the kernel's cap), or None where /proc does not say."""
    try:
        with open("/proc/sys/vm/max_map_count") as handle:
            limit = int(handle.read())
        with open("/proc/self/maps", "rb") as handle:
            count = sum(1 for _ in handle)
    except (OSError, ValueError):
        return None
    return count, limit


def release_compiled_code(force: bool = False) -> bool:
    """Free JAX's compiled code when the process nears the memory-mapping cap.

    Called by :func:`dftjax.scf` and :func:`dftjax.gradient` before they compile; call it
    yourself between molecules in a loop over :class:`dftjax.SCFFunction` of many shapes.
    With ``force`` the code is released whatever the count. Returns whether it was.
    """
    if not force:
        usage = memory_map_usage()
        if usage is None or usage[0] < MAP_FRACTION * usage[1]:
            return False
        warnings.warn(
            f"this process holds {usage[0]} memory mappings, near the kernel's cap of "
            f"{usage[1]} (vm.max_map_count), mostly compiled XLA code for earlier "
            "molecules; releasing JAX's compiled code (jax.clear_caches()) so that "
            "compilation does not crash: later calls recompile what they need",
            RuntimeWarning, stacklevel=3)
    jax.clear_caches()
    for hook in _RELEASE_HOOKS:
        hook()
    gc.collect()
    return True


#: callables that drop compiled code held outside JAX's caches (:func:`on_release`)
_RELEASE_HOOKS = []


def on_release(hook) -> None:
    """Have :func:`release_compiled_code` call ``hook()`` too: for compiled programs
    that dftjax keeps itself (:class:`dftjax.stored_programs.StoredKernel`)."""
    _RELEASE_HOOKS.append(hook)
