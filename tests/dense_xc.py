"""A dense XC energy for the tests: every point, every AO, no screening or blocks.

dftjax evaluates E_xc only on screened blocks (dftjax.xc.blocked), for the SCF and the
nuclear gradients alike; this plain form, from dftjax.xc.features.density_features, is the
independent twin the blocked path is checked against (tests/test_xc_blocked.py,
tests/test_xc_nra.py).
"""

import jax.numpy as jnp

from dftjax.xc.features import density_features
from dftjax.xc.functional import Features
from dftjax.xc.nra import nra_descriptor


def dense_xc_energy(functional, params, ao, weights, density, points=None, neighbours=None):
    """E_xc = sum_g w_g e_xc(g) (Hartree) for spin densities (2, nao, nao) and AO values
    ``ao`` (1 or 4, npts, nao); functionals that need ``nra`` also take the grid ``points``
    (npts, 3) and their ``neighbours``."""
    features = density_features(ao, density, functional.needs)
    if "nra" in functional.needs:
        descriptor = nra_descriptor(neighbours, points, weights, features.rho.sum(axis=0))
        features = Features(features.rho, features.sigma, features.tau, descriptor)
    return jnp.sum(weights * functional.energy_density(params, features))
