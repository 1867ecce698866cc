"""The Kohn-Sham energy model: HF-style Coulomb and exact exchange plus a grid XC energy.

    E[D] = sum_s tr(h D_s) + 1/2 tr(J[D] D) - 1/2 sum_s tr((a K[D_s] + b K_lr[D_s]) D_s)
           + sum_g w_g e_xc(features[D](g))

with a = ``functional.hf_full``, b = ``functional.hf_long_range`` and K_lr the exchange
with erf(omega r12)/r12. The Fock matrices are F_s = dE/dD_s: h + J - a K_s - b K_lr,s
written out, plus the XC part by autodiff of E_xc (symmetrised). The functional's
parameters live in the model's pytree, so they are traced and differentiable.
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from ..xc.features import xc_energy
from .energy import EnergyModel, coulomb_and_exchange


def _ks_fock_and_energy(density, params, functional):
    coulomb_total, exchange_spin = coulomb_and_exchange(params["eri"], density)
    fock = params["h_core"] + coulomb_total
    if functional.hf_full != 0.0:
        fock = fock - functional.hf_full * exchange_spin
    if "eri_long_range" in params:
        _, exchange_long_range = coulomb_and_exchange(params["eri_long_range"], density)
        fock = fock - functional.hf_long_range * exchange_long_range
    energy = 0.5 * jnp.sum((params["h_core"] + fock) * density)
    e_xc, v_xc = jax.value_and_grad(xc_energy, argnums=4)(
        functional, params["xc"], params["ao"], params["weights"], density)
    fock = fock + 0.5 * (v_xc + jnp.swapaxes(v_xc, -1, -2))
    return fock, energy + e_xc


@dataclass(frozen=True)
class _KohnShamPart:
    """``(density, params) -> F, E or (F, E)`` for one functional: hashable, so a new SCF
    with the same functional object reuses the compiled SCF step."""

    functional: object
    part: str  # "fock", "energy" or "both"

    def __call__(self, density, params):
        fock, energy = _ks_fock_and_energy(density, params, self.functional)
        return {"fock": fock, "energy": energy, "both": (fock, energy)}[self.part]


def ks_fock_and_energy(functional, h_core, eri, ao, weights, eri_long_range=None, xc_params=None):
    """Kohn-Sham energy model for ``functional`` (see :mod:`dftjax.xc`).

    h_core (nao, nao); eri (nao,)*4; ao (4, npts, nao) AO values and gradients on the grid
    (only values are read for LDAs); weights (npts,); eri_long_range the erf-attenuated
    ERIs when the functional has long-range exact exchange. ``xc_params`` defaults to
    the functional's own parameters.
    """
    params = {"h_core": jnp.asarray(h_core, jnp.float64), "eri": jnp.asarray(eri, jnp.float64),
              "ao": jnp.asarray(ao), "weights": jnp.asarray(weights),
              "xc": functional.params if xc_params is None else xc_params}
    if functional.hf_long_range != 0.0:
        if eri_long_range is None:
            raise ValueError(f"functional {functional.name} needs long-range ERIs (omega={functional.omega})")
        params["eri_long_range"] = jnp.asarray(eri_long_range, jnp.float64)

    return EnergyModel(_KohnShamPart(functional, "energy"), _KohnShamPart(functional, "fock"),
                       params, _KohnShamPart(functional, "both"))
