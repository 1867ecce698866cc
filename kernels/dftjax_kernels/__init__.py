"""Hand-written accelerator kernels (JAX Pallas) for dftjax's hot loops.

Installed with dftjax as the package ``dftjax_kernels`` (from the repository's
``kernels/`` folder). Each kernel has a plain-JAX twin in ``dftjax`` and a test that the
two agree (``tests/test_kernels.py``, in Pallas's interpret mode, so it runs on a CPU);
dftjax takes a kernel only on a backend where it should be faster (see
:func:`dftjax.xc.features.use_kernels`).

* :func:`block_density`, :func:`block_potential` - density features and the XC
  potential matrix on a block of grid points (twins:
  :func:`dftjax.xc.features.block_density_jax`, :func:`dftjax.xc.features.block_potential_jax`).
"""

from .xc_blocks import block_density, block_potential

__all__ = ["block_density", "block_potential"]
