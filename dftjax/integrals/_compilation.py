"""How the integral kernels compile: side by side, and quickly where run time is small.

XLA compiling one program per angular-momentum class (see :mod:`.plan`) is most of a
first run. Two remedies live here.

Quick compilation (:data:`QUICK_COMPILE`): without XLA's backend optimisations a kernel
compiles in about half the time and runs about twice slower. Kernels that run once per
molecule over its primitive pairs (the one-electron and Hermite pair data), and ERI
classes with few chunks, take it; the ERI classes that do the work of a large molecule
do not (measured: water/def2-SVP HF cold 20.5 -> 13.6 s CPU; benzene/def2-SVP's ERIs,
all quick, would run 3.0 -> 5.4 s).

Threads (:func:`map_classes`): XLA releases Python's lock while it compiles, so classes
handed to a pool of threads compile side by side; tracing stays serial under the lock.
XLA's own compilation already uses more than one thread, so on 2 cores the gain is
modest (water/def2-SVP integrals, cold: 13.9 -> 12.7 s wall); it grows with the cores. Only concrete inputs
go to threads: a tracer belongs to the trace of the thread that made it, so work under
``jax.grad``/``jax.jit`` (forces, implicit derivatives) runs in the calling thread.

Stored programs (:class:`StoredKernel`): JAX's persistent cache is keyed by the lowered
program, so a process that finds every kernel on disk still traces and lowers each one
first (water/def2-SVP: about 5 s CPU for its 26 integral kernels, most of a warm run).
The integral kernels are pure functions of static integers and arrays, so dftjax keys
their compiled programs itself, before tracing: by the kernel, its static arguments, the
shapes and dtypes of its arrays, the compiler options, the versions of dftjax's source
(a hash of every module), JAX and jaxlib, the device and the flags that change
compilation. A later process loads the executable from that key directly. Only programs
XLA compiled in the process are stored (an executable JAX loaded from its own cache
serialises without its machine code); the fingerprint is also in the programs' names,
part of JAX's cache key, so that new dftjax source compiles (and stores) them anew.
"""

import hashlib
import os
import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property, lru_cache, wraps
from pathlib import Path

import jax
import jaxlib
import numpy as np
from jax.experimental import serialize_executable

from .._cache import on_release, store_directory, write_atomically
from ..compile_clock import count_cache_load, thread_cache_hits
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
        return list(pool.map(function, items))


@lru_cache(maxsize=1)
def _fingerprint() -> str:
    """What every stored program depends on beyond its own arguments: dftjax's source
    (all modules), JAX and jaxlib versions, the device, float64 and XLA's flags."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    device = jax.devices()[0]
    digest.update(repr((jax.__version__, jaxlib.__version__, device.platform, device.device_kind,
                        jax.config.jax_enable_x64, os.environ.get("XLA_FLAGS"))).encode())
    return digest.hexdigest()


def _store_directory():
    """Where stored programs live (:func:`dftjax._cache.store_directory`); None when the
    persistent cache is off."""
    return store_directory("dftjax-executables")


class StoredKernel:
    """``jax.jit(function, static_argnums, compiler_options)`` whose compiled programs for
    concrete arrays are also stored on disk under dftjax's own key (see the module
    docstring), so that a later process skips tracing and lowering. Traced arguments
    (inside jit or grad), or no cache directory, take the plain jitted function.

    Arguments must be static values (ints, floats, bools: those at ``static_argnums``) and
    arrays. Loads count as cache hits (:func:`~dftjax.compile_clock.count_cache_load`).
    """

    def __init__(self, function, static_argnums, compiler_options=None):
        self.function = function
        self.static_argnums = tuple(static_argnums)
        self.label = f"{function.__module__}.{function.__qualname__}"
        self.compiler_options = compiler_options
        self._programs = {}
        self._lock = threading.Lock()
        on_release(self._programs.clear)

    @cached_property
    def jitted(self):
        """The jitted function, its programs named ``<name>_<fingerprint>``: the name is
        part of the key of JAX's persistent cache, so a new dftjax source misses there,
        compiles, and the program is stored (a JAX cache load is not: see
        :meth:`_compile`)."""
        @wraps(self.function)
        def named(*args):
            return self.function(*args)

        named.__name__ = named.__qualname__ = f"{self.function.__name__}_{_fingerprint()[:12]}"
        return jax.jit(named, static_argnums=self.static_argnums,
                       compiler_options=self.compiler_options)

    def __call__(self, *args):
        directory = _store_directory()
        if directory is None or traced(args):
            return self.jitted(*args)
        dynamic = [a for i, a in enumerate(args) if i not in self.static_argnums]
        key = self._key(args, dynamic)
        with self._lock:
            program = self._programs.get(key)
        if program is None:
            program = self._load(directory / key) or self._compile(directory / key, args)
            with self._lock:
                self._programs[key] = program
        return program(*dynamic)

    def _key(self, args, dynamic) -> str:
        static = [args[i] for i in self.static_argnums]
        arrays = [(np.shape(a), str(a.dtype), getattr(a, "weak_type", False)) for a in dynamic]
        text = repr((self.label, static, arrays, sorted((self.compiler_options or {}).items()),
                     _fingerprint()))
        return hashlib.sha256(text.encode()).hexdigest()

    def _load(self, path):
        """The stored program at ``path``, or None (absent or unreadable)."""
        tick = time.perf_counter()
        try:
            payload, in_tree, out_tree = pickle.loads(path.read_bytes())
            program = serialize_executable.deserialize_and_load(payload, in_tree, out_tree)
        except Exception:  # absent, partly written by a crash, or from another jaxlib
            return None
        count_cache_load(time.perf_counter() - tick)
        return program

    def _compile(self, path, args):
        """Compile (through JAX's own persistent cache) and store what XLA compiled here;
        storing is best effort. A program JAX loaded from its cache is not stored: such
        an executable serialises without its machine code (a later process would fail
        to run it: "Function ... not found")."""
        hits = thread_cache_hits()
        program = self.jitted.lower(*args).compile()
        if thread_cache_hits() > hits:
            return program
        try:
            payload = pickle.dumps(serialize_executable.serialize(program))
        except Exception:  # a program that cannot serialise: run it, store nothing
            return program
        write_atomically(path, payload)
        return program
