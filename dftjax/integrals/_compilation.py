"""How the integral kernels compile: side by side, and quickly where run time is small.

XLA compiling one program per angular-momentum class (see :mod:`.plan`) is most of a
first run. Three remedies live here.

Not compiling at all (:data:`~.two_electron.HOST_MAX_CHUNKS`): on a CPU, an ERI class
that is cheaper to run than to compile runs in NumPy, the same formulas on host arrays.
It is decided from the basis alone, never from the geometry or from what this process or
the disk holds, so a molecule's integrals are the same bits in every process, and a new
geometry compiles nothing. Measured (ethanol/def2-SVP, 21 ERI classes, all below the
bound, one thread): NumPy 1.8 s; the compiled kernels 1.0 s warm, 9.1 s cold.

Quick compilation (:data:`QUICK_COMPILE`): without XLA's backend optimisations a kernel
compiles in about half the time and runs about twice slower. ERI classes with few
chunks take it where they compile (on an accelerator), and the pair data (one-electron
integrals and Hermite data) where they compile at all (concrete coordinates run them in
NumPy on a CPU: :mod:`.one_electron`); the ERI classes that do the work of a large
molecule do not (measured: water/def2-SVP HF cold 20.5 -> 13.6 s CPU; benzene/def2-SVP's
ERIs, all quick, would run 3.0 -> 5.4 s).

Threads (:func:`map_classes`): XLA releases Python's lock while it compiles, and NumPy
while it loops over an array, so classes handed to a pool of threads run side by side;
tracing stays serial under the lock. XLA's own compilation already uses more than one
thread, so on 2 cores the gain is modest (water/def2-SVP integrals, cold: 13.9 -> 12.7 s
wall); it grows with the cores. Only concrete inputs go to threads: a tracer belongs to
the trace of the thread that made it, so work under ``jax.grad``/``jax.jit`` (forces,
implicit derivatives) runs in the calling thread.

The kernels are :class:`~dftjax.stored_programs.StoredKernel` programs: a later process
loads them from disk without tracing or lowering.
"""

import os
from concurrent.futures import ThreadPoolExecutor

from ..threads import with_callers_settings
from ..tracing import traced

#: compiler options of a kernel whose run time is small next to its compile time
QUICK_COMPILE = {"xla_backend_optimization_level": 0}


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
        return list(pool.map(with_callers_settings(function), items))
