"""Run the per-class integral kernels of a basis side by side, so that they compile in parallel.

A cold start is mostly XLA compiling one program per angular-momentum class (see
:mod:`.plan`). XLA releases Python's lock while it compiles, so classes handed to a pool
of threads compile on every core at once (water/def2-SVP on 2 cores: the integrals' cold
time falls from ~13 s to ~7 s); tracing stays serial under the lock. Only concrete inputs
go to threads: a tracer belongs to the trace of the thread that made it, so work under
``jax.grad``/``jax.jit`` (forces, implicit derivatives) runs in the calling thread.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import jax


def traced(tree) -> bool:
    """Whether any array in the pytree ``tree`` is a tracer (inside jit/grad)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))


def worker_count() -> int:
    """Threads for class kernels: the cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_classes(function, items, inputs=()):
    """``[function(item) for item in items]``, in a thread pool when there is more than one
    item, more than one core, and nothing in ``inputs`` (the pytree of arrays the calls
    share) is traced. Results keep the order of ``items``; the first exception raised by
    any call is raised here."""
    items = list(items)
    workers = min(len(items), worker_count())
    if workers <= 1 or traced(inputs):
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dftjax-class") as pool:
        return list(pool.map(function, items))
