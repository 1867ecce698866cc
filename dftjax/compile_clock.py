"""How much of a call went into XLA compilation: the cold/warm split of ``timings``.

JAX reports, through :mod:`jax.monitoring`, the duration of every lowering to MLIR and
every XLA compilation (a load from the persistent compilation cache reports as a
compilation too, with a cache-hit event beside it). A process-wide listener adds them
up; :class:`CompileClock` reads the totals before and after a block. Tracing to jaxprs is
not counted: its events nest (a function traced inside another's trace reports inside
the outer duration), so its sum would overcount.

dftjax compiles in threads side by side (integral classes, the XC grid's AO values, the
SCF step prepared beside the integrals), so the durations add up past the wall time they
took (benzene/6-31G* B3LYP, cold: 12.6 s of compilation in a 20.8 s run). While a clock
runs, each duration is also kept as an interval of wall time (it ends when its event is
reported); the clock's ``compile_seconds`` is the length of their union, the wall time
during which something was compiling, and ``compile_thread_seconds`` their sum.
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
# (start, end) perf_counter seconds of the durations reported while a clock runs
_intervals = []
_clocks = {"running": 0}
_lock = threading.Lock()

#: seconds of fresh compilation after which :func:`compile_notice` says so
NOTICE_SECONDS = 2.0
NOTICE = ("dftjax: compiling for this size (a first run of a new size takes longer; "
          "the compiled code is cached for next time) ...")


def _add_interval(duration):
    """Keep ``duration`` seconds ending now as an interval, while some clock runs."""
    end = time.perf_counter()
    with _lock:
        if _clocks["running"]:
            _intervals.append((end - duration, end))


def _on_duration(event, duration, **kwargs):
    if event == _LOWER_EVENT:
        _totals["seconds"] += duration
        _add_interval(duration)
    elif event == _COMPILE_EVENT:
        _totals["seconds"] += duration
        _add_interval(duration)
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
    _add_interval(seconds)


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


def covered_seconds(intervals, start, end) -> float:
    """Length (seconds) of the union of ``intervals`` [(a, b), ...] within [start, end]."""
    total, reach = 0.0, start
    for a, b in sorted(intervals):
        a, b = max(a, reach), min(b, end)
        if b > a:
            total += b - a
            reach = b
    return total


class CompileClock:
    """Context manager (or ``start()`` ... ``stop()``): wall time of a block and the share spent compiling.

    After the block: ``seconds`` (wall), ``compile_seconds`` (wall seconds during which
    lowering, XLA compilation or a load of a compiled program was under way in some
    thread; at most ``seconds``), ``compile_thread_seconds`` (their durations summed
    over threads), ``compilations`` (XLA compilations, cache loads included) and
    ``cache_hits`` (of those, loads from the persistent cache).
    """

    def start(self):
        _register()
        with _lock:
            _clocks["running"] += 1
            self._first = len(_intervals)
        self._running = True
        self._start = dict(_totals)
        self._tick = time.perf_counter()
        return self

    def stop(self):
        """Stop the clock and set its figures (a second call changes nothing)."""
        if not getattr(self, "_running", False):
            return self
        self._running = False
        end = time.perf_counter()
        self.seconds = end - self._tick
        with _lock:
            spans = _intervals[self._first:]
            _clocks["running"] -= 1
            if not _clocks["running"]:
                _intervals.clear()
        self.compile_seconds = covered_seconds(spans, self._tick, end)
        self.compile_thread_seconds = _totals["seconds"] - self._start["seconds"]
        self.compilations = _totals["compilations"] - self._start["compilations"]
        self.cache_hits = _totals["cache_hits"] - self._start["cache_hits"]
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
