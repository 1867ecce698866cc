"""JAX's persistent compilation cache, on by default for dftjax users.

Compilation is a user-facing cost (each angular-momentum class of integrals compiles
once); with the cache, later processes load compiled kernels from disk instead. The
directory is ``$DFTJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/dftjax/jax`` (default
``~/.cache/dftjax/jax``). ``DFTJAX_CACHE_DIR=off`` disables it. A cache directory set
by the user through JAX's own configuration is left alone.
"""

import os
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
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
