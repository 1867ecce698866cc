"""Compiled programs that dftjax stores on disk under its own key, so that a later process
loads them without tracing or lowering (:class:`StoredKernel`).

JAX's persistent cache is keyed by the lowered program, so a process that finds every
program on disk still traces and lowers each one first (water/def2-SVP: about 5 s CPU for
its 26 integral kernels, most of a warm run). Programs whose arguments are static values
and pytrees of arrays whose static data :func:`describe` names the same in every process
(the integral kernels; the SCF's orbital update and its energy-model step for dftjax's
own models and built-in functionals; the AO values on the XC grid) are keyed by dftjax
itself, before tracing: by the function, its static arguments, the structure, shapes and
dtypes of its arrays, the compiler options, the versions of dftjax's source (a hash of
every module), JAX and jaxlib, the device and the flags that change compilation. A later
process loads the executable from that key directly. Only programs XLA compiled in the
process are stored (an executable JAX loaded from its own cache serialises without its
machine code); the fingerprint is also in the programs' names, part of JAX's cache key,
so that new dftjax source compiles (and stores) them anew.
"""

import dataclasses
import hashlib
import os
import pickle
import threading
import time
import types
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property, lru_cache, wraps
from pathlib import Path

import jax
import jaxlib
import numpy as np
from jax.experimental import serialize_executable

from ._cache import on_release, store_directory, write_atomically
from .compile_clock import count_cache_load, thread_cache_hits
from .threads import with_callers_settings
from .tracing import traced


@lru_cache(maxsize=1)
def _fingerprint() -> str:
    """What every stored program depends on beyond its own arguments: dftjax's source
    (all modules), JAX and jaxlib versions, the device, float64 and XLA's flags."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    device = jax.devices()[0]
    digest.update(repr((jax.__version__, jaxlib.__version__, device.platform, device.device_kind,
                        jax.config.jax_enable_x64, os.environ.get("XLA_FLAGS"))).encode())
    return digest.hexdigest()


@lru_cache(maxsize=1)
def _prepare_lapack() -> None:
    """Fill in the pointers to LAPACK's routines that programs which diagonalise or solve
    call. JAX fills them when it lowers such a program; a program loaded without lowering
    needs them filled first, or it crashes."""
    try:
        from jaxlib import lapack
        lapack.prepare_lapack_call("syevd_ffi", np.dtype(np.float64))
    except Exception:  # another jaxlib: JAX then prepares them as it used to
        pass


def describe(value):
    """A text that names ``value`` (a static argument, or the static data of a pytree
    node) the same way in every process, or None when there is none. dftjax's own
    module-level functions go by name (their code is in the fingerprint), objects with a
    ``stable_key()`` method by what it returns (:class:`~dftjax.xc.Functional`: dftjax's
    built-in ones), dataclasses by their fields, containers by their items, numbers and
    strings by their repr; anything else (a user's function, a lambda, an array) has none."""
    if value is None or isinstance(value, (bool, int, float, complex, str)):
        return repr(value)
    if isinstance(value, (tuple, list)):
        parts = [describe(item) for item in value]
        return None if None in parts else f"{type(value).__name__}({', '.join(parts)})"
    if isinstance(value, types.FunctionType):
        own = value.__module__.startswith("dftjax.") and "<locals>" not in value.__qualname__
        return f"{value.__module__}.{value.__qualname__}" if own else None
    if hasattr(value, "stable_key"):
        return value.stable_key()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = [describe(getattr(value, f.name)) for f in dataclasses.fields(value)]
        kind = type(value)
        return None if None in parts else f"{kind.__module__}.{kind.__qualname__}({', '.join(parts)})"
    return None


def _describe_structure(structure):
    """:func:`describe` of a pytree's structure (its nodes' types and static data), or
    None when a node's static data has no description."""
    node = structure.node_data()
    if node is None:
        return "*"
    kind, static = node
    static = describe(tuple(static) if isinstance(static, list) else static)
    children = [_describe_structure(child) for child in structure.children()]
    if static is None or None in children:
        return None
    return f"{kind.__module__}.{kind.__qualname__}[{static}]({', '.join(children)})"


@lru_cache(maxsize=1)
def _preparer() -> ThreadPoolExecutor:
    """The thread that :meth:`StoredKernel.prepare` compiles in (one: preparing is for
    overlapping a compilation with the caller's own work, not for many at once)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="dftjax-prepare")


STORE = "dftjax-executables"
"""The stored programs' directory in the cache; one subdirectory per :func:`generation`."""


def generation() -> str:
    """The stored programs' subdirectory of this dftjax, JAX and device: the first 16 hex
    digits of :func:`_fingerprint` (programs of other generations can never be loaded
    again; ``dftjax cache --clear-stale`` removes them)."""
    return _fingerprint()[:16]


def _store_directory():
    """Where this process's stored programs live (:func:`dftjax._cache.store_directory`);
    None when the persistent cache is off."""
    directory = store_directory(STORE)
    return None if directory is None else directory / generation()


class StoredKernel:
    """``jax.jit(function, static_argnums, compiler_options)`` whose compiled programs for
    concrete arrays are also stored on disk under dftjax's own key (see the module
    docstring), so that a later process skips tracing and lowering. Traced arguments
    (inside jit or grad) and arguments without a key take the plain jitted function.
    With no cache directory (the persistent cache off) the programs are kept in the
    process only: one program per key, however the arguments are placed (the plain jit
    compiles anew for arguments committed to a device and for host ones alike: an SCF
    step's program three times, ~1.6 s each for C4H4O/def2-SVP).

    Arguments are static values (those at ``static_argnums``) and pytrees of arrays and
    Python numbers. Their key is made of :func:`describe` of the static values and of the
    pytrees' structures (which holds their static data, e.g. an energy model's functions),
    and the leaves' shapes and dtypes; arguments with no description have no key. Loads
    count as cache hits (:func:`~dftjax.compile_clock.count_cache_load`).
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

    def _stored_key(self, args):
        """(directory or None, dynamic arguments, key) of the stored program for ``args``,
        or None where the plain jitted function runs them (traced, or no key). The
        directory is None when the persistent cache is off: the program is kept in the
        process alone."""
        if traced(args):
            return None
        directory = _store_directory()
        dynamic = [a for i, a in enumerate(args) if i not in self.static_argnums]
        key = self._key(args, dynamic)
        return None if key is None else (directory, dynamic, key)

    def __call__(self, *args):
        stored = self._stored_key(args)
        if stored is None:
            return self.jitted(*args)
        directory, dynamic, key = stored
        return self._stored_program(args, directory, dynamic, key)(*dynamic)

    def _stored_program(self, args, directory, dynamic, key):
        """The program under ``key``: kept, being prepared (waited for), loaded from
        ``directory`` or compiled there (or, with no directory, compiled and kept)."""
        with self._lock:
            program = self._programs.get(key)
        if isinstance(program, Future):  # being prepared (:meth:`prepare`): wait for it
            program = program.result()
        if program is None:
            path = None if directory is None else directory / key
            program = self._load(path, dynamic) or self._compile(path, args)
            with self._lock:
                self._programs[key] = program
        return program

    def ready(self, *args):
        """Load or compile, in the calling thread, the program that a call with arguments
        like ``args`` runs, without running it (where a call would take the plain jitted
        function, run it): for compiling a set of programs side by side in threads
        before they are used."""
        stored = self._stored_key(args)
        if stored is None:
            jax.block_until_ready(self.jitted(*args))
        else:
            self._stored_program(args, *stored)

    def prepare(self, *args):
        """Load or compile, in a thread beside the caller's, the program that a call with
        arguments like ``args`` will run; returns at once. ``args`` as for a call, with
        arrays of the same shapes and dtypes (their values are never read), so that the
        call finds the program ready, or waits for it. A no-op where a call would take the
        plain jitted function (see the class docstring), or when the program is there
        already. A program prepared for arguments the call does not match is only wasted
        work: the call compiles its own."""
        stored = self._stored_key(args)
        if stored is None:
            return
        directory, dynamic, key = stored
        path = None if directory is None else directory / key
        with self._lock:
            if key in self._programs:
                return
            self._programs[key] = _preparer().submit(with_callers_settings(self._prepared),
                                                     key, path, args, dynamic)

    def _prepared(self, key, path, args, dynamic):
        """:meth:`prepare`'s work: the program, also kept under ``key``; on failure the
        key is dropped, so that the call compiles (and raises) in its own thread."""
        try:
            program = self._load(path, dynamic) or self._compile(path, args)
        except Exception:
            with self._lock:
                self._programs.pop(key, None)
            return None
        with self._lock:
            self._programs[key] = program
        return program

    def _key(self, args, dynamic):
        """The program's key (a hex digest), or None when the arguments have none."""
        static = describe(tuple(args[i] for i in self.static_argnums))
        leaves, structure = jax.tree_util.tree_flatten(dynamic)
        structure = _describe_structure(structure)
        if static is None or structure is None:
            return None
        arrays = [(np.shape(a), str(a.dtype), getattr(a, "weak_type", False))
                  if hasattr(a, "dtype") else type(a).__name__ for a in leaves]
        text = repr((self.label, static, structure, arrays,
                     sorted((self.compiler_options or {}).items()), _fingerprint()))
        return hashlib.sha256(text.encode()).hexdigest()

    def _load(self, path, dynamic):
        """The stored program at ``path`` for the arguments ``dynamic`` (their structure is
        its input tree: it holds the static data, e.g. functions, which are not stored),
        or None (absent or unreadable, or ``path`` None: no store)."""
        if path is None:
            return None
        tick = time.perf_counter()
        _prepare_lapack()
        try:
            payload, out_tree = pickle.loads(path.read_bytes())
            in_tree = jax.tree_util.tree_structure((tuple(dynamic), {}))
            program = serialize_executable.deserialize_and_load(payload, in_tree, out_tree)
        except Exception:  # absent, partly written by a crash, or from another jaxlib
            return None
        count_cache_load(time.perf_counter() - tick)
        return program

    def _compile(self, path, args):
        """Compile (through JAX's own persistent cache) and store what XLA compiled here
        at ``path`` (None: nowhere); storing is best effort. A program JAX loaded from
        its cache is not stored: such an executable serialises without its machine code
        (a later process would fail to run it: "Function ... not found")."""
        hits = thread_cache_hits()
        program = self.jitted.lower(*args).compile()
        if path is None or thread_cache_hits() > hits:
            return program
        try:
            payload, _, out_tree = serialize_executable.serialize(program)
            payload = pickle.dumps((payload, out_tree))
        except Exception:  # a program that cannot serialise: run it, store nothing
            return program
        write_atomically(path, payload)
        return program
