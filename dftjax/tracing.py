"""Whether arrays are traced: the one test behind every host/device fork in dftjax.

Host set-up (integral assembly, padding, screening, the dipole) runs in NumPy on concrete
arrays, so that nothing compiles for each new molecule; inside ``jax.jit`` or a
transformation (``jax.grad``, ``jax.jvp``) the same code must stay in JAX. The test is
whether any leaf is a :class:`jax.core.Tracer`.
"""

import jax


def traced(tree) -> bool:
    """Whether any array in the pytree ``tree`` (an array, a tuple of arrays, a model,
    None) is a tracer (inside jit or a transformation)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(tree))
