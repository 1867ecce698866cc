"""A fusion barrier for XLA:CPU: :func:`materialize`.

XLA fuses elementwise producers into every consumer that reads them, recomputing them
there. In the integral kernels one intermediate (the Boys argument, a level of the
Hermite recursion) feeds tens of consumers, and the recomputation costs several times the
useful work (pyrrole/def2-SVP, 2 cores: (pp|ps) ERI items 100 -> 40 ns each with it).
``jax.lax.optimization_barrier`` does not prevent this on CPU: XLA removes barriers
before fusion. The operands and results of a conditional are real buffers, though.
"""

import jax


def _plus_zero(values):
    # A branch XLA cannot prove equal to the identity (x + 0 turns -0 into +0), so it keeps
    # the conditional. It runs only when the probe is NaN, and returns the same values.
    return jax.tree_util.tree_map(lambda v: v + 0.0, values)


def materialize(values):
    """``values`` (an array, or a list/tuple of arrays) unchanged, computed once into memory.

    An identity for values and for derivatives (both branches of the conditional return
    ``values``); under ``vmap`` the conditional becomes a select, still an identity.
    """
    first = values[0] if isinstance(values, (list, tuple)) else values
    probe = first.reshape(-1)[0]
    return jax.lax.cond(probe == probe, lambda v: v, _plus_zero, values)
