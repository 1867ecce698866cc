"""dftjax: differentiable Gaussian-basis Hartree-Fock and Kohn-Sham DFT in JAX.

Atomic units inside (Bohr, Hartree); float64 throughout.
"""

import jax

jax.config.update("jax_enable_x64", True)
