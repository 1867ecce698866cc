"""The Kohn-Sham energy model: HF-style Coulomb and exact exchange plus a grid XC energy.

    E[D] = sum_s tr(h D_s) + 1/2 tr(J[D] D) - 1/2 sum_s tr((a K[D_s] + b K_lr[D_s]) D_s)
           + sum_g w_g e_xc(features[D](g))

with a = ``functional.hf_full``, b = ``functional.hf_long_range`` and K_lr the exchange
with erf(omega r12)/r12. The Fock matrices are F_s = dE/dD_s: h + J - a K_s - b K_lr,s
written out, plus the XC potential dE_xc/dD_s, also written out (from the functional's
derivatives by autodiff, on screened blocks of the grid: :mod:`dftjax.xc.blocked`), for
speed (:mod:`dftjax.scf.energy` says why); tests/test_scf_kohn_sham.py proves F equal to
jax.grad of the energy. The
energy alone (``part="energy"``) is plain autodiff-able JAX to every order. The
functional's parameters live in the model's pytree, so they are traced and differentiable.

The model pads (``EnergyModel.pad``, :mod:`dftjax.scf.ladder`) when its grid keeps the AO
values: J and K from padded pair matrices, the grid by
:func:`~dftjax.xc.blocked.padded_xc_grid`, so Kohn-Sham SCFs of molecules on the same
basis and grid rungs share their compiled programs.
"""

import dataclasses
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp

from ..tracing import traced
from ..xc.blocked import (XCGrid, can_pad, dense_xc_grid, padded_xc_grid,
                          xc_energy_and_potential, xc_energy_blocked)
from .energy import (PAD_LIMIT, PADDING_ENERGY, EnergyModel, PaddedModel, _need_eri, as_device,
                     coulomb_and_exchange, pad_matrix,
                     padded_pair_params, padded_size, pair_matrix)


def _coulomb_and_exchange(params, name, density, exchange=True):
    """J and K (None without ``exchange``) from the ERIs ``name``: the full tensor, or (a
    padded model) the pair matrix ``name_pairs`` and ``name_exchange``
    (:func:`~dftjax.scf.energy.padded_pair_params`)."""
    return coulomb_and_exchange(params[name], density, params.get(f"{name}_pairs"),
                                params.get(f"{name}_exchange"), exchange=exchange)


@partial(jax.jit, static_argnums=(2, 3, 4))
def _ks_fock_and_energy(density, params, functional, part="both", restricted=False):
    """(F or None, E, E_xc) of spin densities (2, nao, nao), as :class:`_KohnShamPart` asks.

    Jitted (inlined where it is called inside a program) so that a transformation traces
    it once per shape: the derivatives of :class:`~dftjax.differentiable.SCFFunction`
    call it ~17 times, 0.6 s of tracing each for B3LYP (water/STO-3G polarisability by
    jax.jacrev, tracing 15 -> 9 s).
    """
    exact_exchange = functional.hf_full != 0.0
    coulomb_total, exchange_spin = _coulomb_and_exchange(params, "eri", density,
                                                         exchange=exact_exchange)
    fock = params["h_core"] + coulomb_total
    if exact_exchange:
        fock = fock - functional.hf_full * exchange_spin
    if "eri_long_range" in params:
        _, exchange_long_range = _coulomb_and_exchange(params, "eri_long_range", density)
        fock = fock - functional.hf_long_range * exchange_long_range
    energy = 0.5 * jnp.sum((params["h_core"] + fock) * density)
    if part == "energy":
        e_xc = xc_energy_blocked(functional, params["xc"], params["xc_grid"], density)
        return None, energy + e_xc, e_xc
    e_xc, v_xc = xc_energy_and_potential(functional, params["xc"], params["xc_grid"], density,
                                         restricted)
    return fock + v_xc, energy + e_xc, e_xc


@dataclass(frozen=True)
class _KohnShamPart:
    """``(density, params) -> F, E, (F, E) or (F, E, E_xc)`` for one functional: hashable,
    so a new SCF with the same functional object reuses the compiled SCF step.
    ``restricted``: the densities are D_a = D_b (the XC potential is then computed for one
    spin)."""

    functional: object
    part: str  # "fock", "energy", "both" or "with_xc"
    restricted: bool = False

    def __call__(self, density, params):
        fock, energy, e_xc = _ks_fock_and_energy(density, params, self.functional, self.part,
                                                 self.restricted)
        return {"fock": fock, "energy": energy, "both": (fock, energy),
                "with_xc": (fock, energy, e_xc)}[self.part]


def ks_xc_energy(model, density):
    """E_xc (Hartree) of spin densities (2, nao, nao) with a model from :func:`ks_fock_and_energy`
    (or :func:`~dftjax.scf.density_fit.df_fock_and_energy`), or that model on the ladder
    (a :class:`~dftjax.scf.energy.PaddedModel`, the SCF's own): then on the padded grid
    and basis the SCF ran on, the same energy, and molecules on the same rungs share its
    compiled program. A model that is not padded yet is padded here (its grid only) up to
    :data:`~dftjax.scf.energy.PAD_LIMIT` AOs."""
    if isinstance(model, PaddedModel):
        model, density = model.model, pad_matrix(density, model.size)
        grid = model.params["xc_grid"]
    else:
        grid = model.params["xc_grid"]
        if can_pad(grid) and grid.nao <= PAD_LIMIT and not traced(density):
            size = padded_size(grid.nao)
            grid, density = padded_xc_grid(grid, size), pad_matrix(density, size)
    return _xc_energy_jit(model.energy_fn.functional, model.params["xc"], grid, density)


_xc_energy_jit = jax.jit(xc_energy_blocked, static_argnums=0)


def ks_fock_and_energy(functional, h_core, eri, ao, weights=None, eri_long_range=None,
                       xc_params=None, restricted=False, eri_pairs=None):
    """Kohn-Sham energy model for ``functional`` (see :mod:`dftjax.xc`).

    h_core (nao, nao); eri (nao,)*4; ``ao`` an :class:`~dftjax.xc.blocked.XCGrid` (from
    :func:`dftjax.xc.blocked.xc_grid`: screened blocks, ``weights`` unused), or dense AO
    values and gradients (4, npts, nao) on the grid (only values are read for LDAs) with
    ``weights`` (npts,); eri_long_range the erf-attenuated ERIs when the functional has
    long-range exact exchange. ``xc_params`` defaults to the functional's own parameters.
    ``restricted=True`` promises densities with D_a = D_b (restricted SCF): the Fock
    matrix then costs one spin's XC potential. ``eri_pairs``: optionally the same ERIs as
    the pair matrix (npair, npair), which then gives J, and the padded model's J and K
    without a gather from the full tensor; ``eri`` may then be None (a model that is
    padded before it runs, :func:`~dftjax.scf.energy.on_the_ladder`, never reads it).
    """
    grid = ao if isinstance(ao, XCGrid) else dense_xc_grid(ao, weights)
    _need_eri(eri, eri_pairs)
    params = {"h_core": jnp.asarray(h_core, jnp.float64),
              "eri": None if eri is None else jnp.asarray(eri, jnp.float64),
              "xc_grid": grid, "xc": functional.params if xc_params is None else xc_params}
    if functional.hf_long_range != 0.0:
        if eri_long_range is None:
            raise ValueError(f"functional {functional.name} needs long-range ERIs "
                             f"(omega={functional.omega})")
        params["eri_long_range"] = jnp.asarray(eri_long_range, jnp.float64)
    if eri_pairs is not None:
        params["eri_pairs"] = as_device(eri_pairs)

    return EnergyModel(_KohnShamPart(functional, "energy"),
                       _KohnShamPart(functional, "fock", restricted), params,
                       _KohnShamPart(functional, "both", restricted),
                       pad=_pad_ks_model if can_pad(grid) else None,
                       fock_energy_and_xc_fn=_KohnShamPart(functional, "with_xc", restricted))


def _pad_ks_model(model, size):
    """The Kohn-Sham model on ``size`` basis functions (see ``EnergyModel.pad``): h_core
    and the ERIs as :func:`~dftjax.scf.energy._pad_hf_model` pads them (J and K from
    the padded pair matrices: the model's own, or gathered from the full tensors on the
    host; no exchange matrix for a functional without exact exchange), the XC grid by
    :func:`~dftjax.xc.blocked.padded_xc_grid` (the extra AOs vanish on it)."""
    params = model.params
    padded = {"h_core": jax.device_put(pad_matrix(params["h_core"], size, PADDING_ENERGY)),
              "xc_grid": padded_xc_grid(params["xc_grid"], size), "xc": params["xc"]}
    functional = model.fock_fn.functional
    for name in ("eri", "eri_long_range"):
        if name in params:
            pairs = params.get(f"{name}_pairs")
            pairs = pair_matrix(params[name]) if pairs is None else pairs
            # K of the full-range ERIs only for a functional with exact exchange
            padded.update(padded_pair_params(pairs, size, name, exchange=(
                name == "eri_long_range" or functional.hf_full != 0.0)))
    return dataclasses.replace(model, params=padded)
