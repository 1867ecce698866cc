"""How much of a call went into XLA compilation: the cold/warm split of ``timings``.

JAX reports, through :mod:`jax.monitoring`, the duration of every lowering to MLIR and
every XLA compilation (a load from the persistent compilation cache reports as a
compilation too, with a cache-hit event beside it). A process-wide listener adds them
up; :class:`CompileClock` reads the totals before and after a block. Tracing to jaxprs is
not counted: its events nest (a function traced inside another's trace reports inside
the outer duration), so its sum would overcount.
"""

import time

import jax

_LOWER_EVENT = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT_EVENT = "/jax/compilation_cache/cache_hits"

_totals = {"seconds": 0.0, "compilations": 0, "cache_hits": 0}
_registered = False


def _on_duration(event, duration, **kwargs):
    if event == _LOWER_EVENT:
        _totals["seconds"] += duration
    elif event == _COMPILE_EVENT:
        _totals["seconds"] += duration
        _totals["compilations"] += 1


def _on_event(event, **kwargs):
    if event == _CACHE_HIT_EVENT:
        _totals["cache_hits"] += 1


def _register():
    global _registered
    if not _registered:
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        jax.monitoring.register_event_listener(_on_event)
        _registered = True


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
