"""Run a fixed-shape kernel over a long batch in chunks.

Kernels are compiled for one chunk size and reused for every molecule: the number of
chunks changes with the molecule, the compiled code does not. Outside a JAX trace the
chunks are dispatched from Python (jitted kernel, cached compilation); inside a trace
(``jax.jit``/``jax.grad`` of a larger function) the same kernel runs under
``jax.lax.map`` so the traced graph stays small.
"""

import jax
import jax.numpy as jnp
import numpy as np


def _is_traced(arrays) -> bool:
    return any(isinstance(a, jax.core.Tracer) for a in jax.tree_util.tree_leaves(arrays))


def _pad(array, total: int):
    """Pad the leading axis to ``total`` by repeating the first row (valid, finite data)."""
    n = array.shape[0]
    if n == total:
        return array
    fill = jnp.broadcast_to(array[:1], (total - n,) + array.shape[1:])
    return jnp.concatenate([jnp.asarray(array), fill])


def map_chunks(kernel, inputs: tuple, chunk: int, shared: tuple = ()):
    """Apply ``kernel`` to consecutive chunks of ``inputs`` and concatenate the outputs.

    Parameters
    ----------
    kernel : jitted callable ``kernel(*shared, *chunk_inputs)`` taking arrays with leading
        axis ``chunk`` and returning a pytree of arrays with leading axis ``chunk``.
    inputs : tuple of arrays, all with the same leading length n (may be numpy).
    chunk : int, the static chunk size.
    shared : tuple of arrays passed whole to every call (not chunked).
    Returns
    -------
    The kernel's outputs for all n rows (padding removed).
    """
    n = int(inputs[0].shape[0])
    nchunk = max(1, -(-n // chunk))
    padded = [_pad(jnp.asarray(a), nchunk * chunk) for a in inputs]
    if _is_traced((inputs, shared)):
        stacked = [a.reshape((nchunk, chunk) + a.shape[1:]) for a in padded]
        out = jax.lax.map(lambda xs: kernel(*shared, *xs), stacked)
        return jax.tree_util.tree_map(lambda o: o.reshape((-1,) + o.shape[2:])[:n], out)
    pieces = [
        kernel(*shared, *[a[i * chunk : (i + 1) * chunk] for a in padded]) for i in range(nchunk)
    ]
    return jax.tree_util.tree_map(lambda *o: jnp.concatenate(o)[:n], *pieces)


def chunk_size_for(work_per_row: int, budget: int = 1 << 22, smallest: int = 64, largest: int = 1 << 16) -> int:
    """A power-of-two chunk size so that one chunk does about ``budget`` units of work."""
    size = max(smallest, min(largest, budget // max(1, work_per_row)))
    return 1 << int(np.floor(np.log2(size)))
