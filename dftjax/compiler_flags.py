"""XLA:CPU compiler flags dftjax sets for its process: compilation in about half the time.

XLA:CPU emits its loop fusions through MLIR "fusion emitters" by default. On dftjax's
programs they compile about twice as slowly as through the older elemental emitters and
run no faster (measured on 2 cores, jaxlib 0.10.2: the B3LYP SCF step of water/def2-SVP
compiles in 1.4 s instead of 2.5 s and runs in 43 ms instead of 66 ms; water/def2-SVP
B3LYP in a fresh process with an empty cache, 20.0 -> 11.4 s CPU). The results differ in
the last bits only (float64 rounding of the same operations in another order).

XLA reads ``XLA_FLAGS`` once, when JAX creates its CPU backend, and aborts the process
on a flag it does not know. So :func:`set_compiler_flags` (called when dftjax is
imported) adds :data:`FLAGS` to ``XLA_FLAGS`` only while no backend exists yet, only on a
jaxlib known to have them (:data:`TESTED_JAXLIB`), and never over a value the user set
for the same flag. A program that runs JAX computations before importing dftjax keeps
XLA's defaults (slower first runs, the same results to rounding).
"""

import os

import jaxlib

FLAGS = ("--xla_cpu_use_fusion_emitters=false",)

#: jaxlib release series (major, minor) known to accept :data:`FLAGS` (XLA is retiring
#: the older emitters; an unknown flag in XLA_FLAGS is a fatal error)
TESTED_JAXLIB = ((0, 10),)


def _series(version: str):
    try:
        return tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None


def _backend_started() -> bool:
    """Whether JAX has created a backend in this process (XLA_FLAGS is read then)."""
    try:
        from jax._src import xla_bridge
    except ImportError:
        return True
    return bool(getattr(xla_bridge, "_backends", True))


def set_compiler_flags() -> bool:
    """Add :data:`FLAGS` to ``XLA_FLAGS`` when they can take effect safely (see the module
    docstring); returns whether they were added."""
    if _series(jaxlib.__version__) not in TESTED_JAXLIB or _backend_started():
        return False
    current = os.environ.get("XLA_FLAGS", "")
    new = [flag for flag in FLAGS if flag.split("=")[0] not in current]
    if not new:
        return False
    os.environ["XLA_FLAGS"] = " ".join([current, *new]).strip()
    return True
