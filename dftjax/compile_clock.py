"""How much of a call went into XLA compilation: the cold/warm split of ``timings``.

JAX reports, through :mod:`jax.monitoring`, the duration of every lowering to MLIR and
every XLA compilation (a load from the persistent compilation cache reports as a
compilation too, with a cache-hit event beside it). A process-wide listener adds them
up; :class:`CompileClock` reads the totals before and after a block. Tracing to jaxprs is
not counted: its events nest (a function traced inside another's trace reports inside
the outer duration), so its sum would overcount.
"""

import contextlib
import sys
import threading
import time

import jax

_LOWER_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"

# "fresh_seconds": XLA compilation proper, cache loads excluded (JAX reports a cache hit
# just before the compile duration of the same load).
_totals = {"seconds": 0.0, "compilations": 0, "cache_hits": 0, "fresh_seconds": 0.0}
_state = {"registered": False, "pending_hit": False, "notice": None, "notified": False}
_thread = threading.local()

#: seconds of fresh compilation after which :func:`compile_notice` says so
NOTICE_SECONDS = 2.0
NOTICE = ("dftjax: compiling for this size (a first run of a new size takes longer; "
          "the compiled code is cached for next time) ...")


def _on_duration(event, duration, **kwargs):
    if event == _LOWER_EVENT:
        _totals["seconds"] += duration
    elif event == _COMPILE_EVENT:
        _totals["seconds"] += duration
        _totals["compilations"] += 1
        if not _state["pending_hit"]:
            _totals["fresh_seconds"] += duration
            _maybe_notify()
        _state["pending_hit"] = False


def count_cache_load(seconds: float) -> None:
    """Count a compiled program loaded from disk by dftjax itself
    (:class:`dftjax.stored_programs.StoredKernel`), ``seconds`` long, as JAX
    counts a load from its persistent cache: a compilation that is a cache hit."""
    _totals["seconds"] += seconds
    _totals["compilations"] += 1
    _totals["cache_hits"] += 1


def _on_event(event, **kwargs):
    if event == _CACHE_HIT_EVENT:
        _totals["cache_hits"] += 1
        _state["pending_hit"] = True
        _thread.cache_hits = getattr(_thread, "cache_hits", 0) + 1


def thread_cache_hits() -> int:
    """Loads from JAX's persistent cache so far in the calling thread (JAX reports them
    in the thread that compiles): whether a compilation there was a load."""
    _register()
    return getattr(_thread, "cache_hits", 0)


def _maybe_notify():
    notice = _state["notice"]
    if notice is not None and _totals["fresh_seconds"] - notice["start"] > notice["seconds"]:
        print(NOTICE, file=sys.stderr, flush=True)
        _state["notice"] = None
        _state["notified"] = True


@contextlib.contextmanager
def compile_notice(seconds: float = NOTICE_SECONDS):
    """Within the block, one line on stderr (:data:`NOTICE`) once more than ``seconds`` of
    fresh XLA compilation (not cache loads) have passed; at most once per process, so a
    user sees it on a first run and not on every stage of it."""
    _register()
    if not _state.get("notified"):
        _state["notice"] = {"start": _totals["fresh_seconds"], "seconds": seconds}
    try:
        yield
    finally:
        _state["notice"] = None


def _register():
    if not _state["registered"]:
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        jax.monitoring.register_event_listener(_on_event)
        _state["registered"] = True


class CompileClock:
    """Context manager (or ``start()`` ... ``stop()``): wall time of a block and the share spent compiling.

    After the block: ``seconds`` (wall), ``compile_seconds`` (lowering + XLA compilation
    or persistent-cache loads), ``compilations`` (XLA compilations, cache loads included)
    and ``cache_hits`` (of those, loads from the persistent cache).
    """

    def start(self):
        _register()
        self._start = dict(_totals)
        self._tick = time.perf_counter()
        return self

    def stop(self):
        self.seconds = time.perf_counter() - self._tick
        self.compile_seconds = _totals["seconds"] - self._start["seconds"]
        self.compilations = _totals["compilations"] - self._start["compilations"]
        self.cache_hits = _totals["cache_hits"] - self._start["cache_hits"]
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
