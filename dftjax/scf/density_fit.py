"""Density-fitted Hartree-Fock and Kohn-Sham energy models (RI-J and RI-K).

With the fitted tensor B (nao, nao, naux), (ij|kl) ~ sum_P B_ijP B_klP
(:mod:`dftjax.integrals.density_fitting`):

    J[D]_ij  = sum_P B_ijP gamma_P,          gamma_P = sum_kl B_klP D_kl
    K[D]_il  = sum_P (B_P D B_P)_il
             = sum_P sum_o (B_P c_o)_i (B_P c_o)_l   for D = sum_o c_o c_o^T

The energy is the HF/KS energy of :mod:`dftjax.scf.energy` and :mod:`dftjax.scf.kohn_sham`
with J and K replaced, E = 1/2 sum_s tr[(h + F_s) D_s] + E_xc, F_s = h + J[D] - a K[D_s]
- b K_lr[D_s] + dE_xc/dD_s (the long-range K from the erf-attenuated fitted tensor, as
PySCF's ``range_coulomb`` does).

Two ways to K, the same numbers for the same density:

* from the density matrix (``energy_fn``, ``fock_and_energy_fn``): two GEMMs of
  O(naux nao^3) flops per spin; a pure function of D, so ``jax.grad`` of the energy with
  respect to the density and the parameters works as for the exact-ERI models;
* from the occupied orbitals (``fock_and_energy_from_orbitals``, which the SCF driver
  calls when it has the orbitals that made D): O(naux nao^2 nocc) flops, nao/nocc times
  fewer, as PySCF does after its first cycle; and from any factor D = V V^T
  (``fock_and_energy_from_factor``: the driver factorises the guess density, whose rank
  is that of the occupied atomic orbitals, so even the first Fock matrix avoids the
  O(naux nao^3) route). Both are blocked so that no intermediate
  is larger than a slice of B.

The Fock matrix is written out for speed, as in :mod:`dftjax.scf.energy`;
tests/test_density_fit.py and tests/test_scf_kohn_sham.py prove it equal to jax.grad of
``energy_fn`` (HF and Kohn-Sham, restricted and unrestricted).

On the basis-size ladder (``EnergyModel.pad``) B pads with zero rows for the padding AOs
and zero auxiliary functions up to ``bucket(naux, 4)``, exactly: a zero column adds
nothing to J or K.

Memory: B (naux nao^2 doubles) plus slices; never an nao^4 tensor. The model is a pytree
(:class:`~dftjax.scf.energy.EnergyModel`): its arrays are traced, so a new geometry
reuses the compiled SCF step.
"""

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..grid.screening import bucket
from ..xc.blocked import (XCGrid, can_pad, dense_xc_grid, padded_xc_grid,
                          xc_energy_and_potential, xc_energy_blocked)
from .energy import PADDING_ENERGY, EnergyModel, pad_matrix

#: Bytes of one block of the exchange's half-transformed tensor (k x nao x naux doubles):
#: large blocks read B fewer times, small ones bound the memory.
EXCHANGE_BLOCK_BYTES = 256 * 1024**2
EXCHANGE_BLOCK_MAX = 64


def df_coulomb(factor, density_total):
    """J[D] (nao, nao) from B (nao, nao, naux) and a total density (nao, nao)."""
    nao, naux = factor.shape[0], factor.shape[2]
    matrix = factor.reshape(nao * nao, naux)
    gamma = density_total.reshape(nao * nao) @ matrix
    return (matrix @ gamma).reshape(nao, nao)


def _block_size(ncol, nao, naux):
    fit = max(1, EXCHANGE_BLOCK_BYTES // (8 * nao * naux))
    return int(max(1, min(ncol, EXCHANGE_BLOCK_MAX, fit)))


def _sum_of_products(x, y):
    """sum_o x[o] @ y[o]^T for x, y (k, n, m): one NT GEMM per o, accumulated (faster on
    CPU than one contraction over (o, m), which needs a transposed copy)."""
    n = x.shape[1]
    return jax.lax.fori_loop(0, x.shape[0], lambda o, acc: acc + x[o] @ y[o].T,
                             jnp.zeros((n, n), x.dtype))


def _blocked_sum(ncol, block, fn, shape):
    """sum over column blocks [k, k + block) of fn(start, size) -> ``shape``, as a loop."""
    nfull, rest = divmod(ncol, block)
    total = jnp.zeros(shape)
    if nfull == 1:
        total = fn(0, block)
    elif nfull:
        total = jax.lax.fori_loop(0, nfull, lambda k, acc: acc + fn(k * block, block), total)
    if rest:
        total = total + fn(nfull * block, rest)
    return total


def df_exchange_from_vectors(factor, vectors):
    """sum_P (B_P V)(B_P V)^T (nao, nao) for V (nao, k): K[V V^T].

    Per block of columns of V: u[o] = V_o^T B (one GEMM with B viewed as (nao, nao naux)),
    then sum_o u[o] u[o]^T.
    """
    nao, naux = factor.shape[0], factor.shape[2]
    matrix = factor.reshape(nao, nao * naux)

    def part(start, size):
        cols = jax.lax.dynamic_slice_in_dim(vectors, start, size, axis=1)
        # the transposed copy made real: XLA:CPU runs V^T B at half speed when it folds
        # the transpose into the product (measured, nao 490: 47 vs 91 GFlop/s)
        u = (jax.lax.optimization_barrier(cols.T) @ matrix).reshape(size, nao, naux)  # u[o, j, P]
        return _sum_of_products(u, u)

    ncol = vectors.shape[1]
    return _blocked_sum(ncol, _block_size(ncol, nao, naux), part, (nao, nao))


def df_exchange(factor, density):
    """K[D] (nao, nao) = sum_P B_P D B_P for a symmetric density (nao, nao).

    Z[j, l, P] = sum_i D_ji B_ilP (one GEMM per block of j), K = sum_j Z_j B_j^T.
    """
    nao, naux = factor.shape[0], factor.shape[2]
    matrix = factor.reshape(nao, nao * naux)

    def part(start, size):
        rows = jax.lax.dynamic_slice_in_dim(density, start, size, axis=0)
        z = (rows @ matrix).reshape(size, nao, naux)
        b = jax.lax.dynamic_slice_in_dim(factor, start, size, axis=0)
        return _sum_of_products(z, b)

    return _blocked_sum(nao, _block_size(nao, nao, naux), part, (nao, nao))


def _both_spins_exchange(factor, density):
    return jnp.stack([df_exchange(factor, density[0]), df_exchange(factor, density[1])])


@jax.custom_jvp
def _spin_exchange(factor, density):
    """K[D_s] for both spins (2, nao, nao); one evaluation when D_alpha = D_beta.

    The shortcut holds for the value only: a derivative may move the spins apart (the
    spin-flip direction of a restricted state, or jax.grad with respect to D_alpha alone),
    so derivatives are those of both spins' K (:func:`_spin_exchange_jvp`).
    """
    same = jnp.array_equal(density[0], density[1])
    return jax.lax.cond(
        same,
        lambda d: jnp.stack([df_exchange(factor, d[0])] * 2),
        lambda d: _both_spins_exchange(factor, d),
        density)


@_spin_exchange.defjvp
def _spin_exchange_jvp(primals, tangents):
    return _spin_exchange(*primals), jax.jvp(_both_spins_exchange, primals, tangents)[1]


def _spin_exchange_vectors(factor, vectors, restricted):
    """K[V_s V_s^T] (2, nao, nao) for vectors (2, nao, k)."""
    if restricted:
        return jnp.stack([df_exchange_from_vectors(factor, vectors[0])] * 2)
    return jnp.stack([df_exchange_from_vectors(factor, vectors[s]) for s in range(2)])


@dataclass(frozen=True)
class _DFSettings:
    """Static structure of a density-fitted model: hashable, so that a new SCF with the
    same functional object and electron counts reuses the compiled SCF step."""

    functional: Any          # a Functional, or None for Hartree-Fock
    n_occupied: int          # columns of the orbitals used for K (max(nalpha, nbeta))
    restricted: bool = False  # densities have D_a = D_b (one spin's XC potential)

    @property
    def exchange(self) -> float:
        return 1.0 if self.functional is None else self.functional.hf_full

    @property
    def long_range(self) -> float:
        return 0.0 if self.functional is None else self.functional.hf_long_range


def _fock_energy(density, params, settings, exchange, exchange_long_range, restricted=False,
                 energy_only=False):
    """F (2, nao, nao) and E from J, the given K's and the XC part (F None if energy_only)."""
    fock = params["h_core"] + df_coulomb(params["df"], density.sum(axis=0))
    if exchange is not None:
        fock = fock - settings.exchange * exchange
    if exchange_long_range is not None:
        fock = fock - settings.long_range * exchange_long_range
    energy = 0.5 * jnp.sum((params["h_core"] + fock) * density)
    if settings.functional is not None:
        if energy_only:
            return None, energy + xc_energy_blocked(settings.functional, params["xc"],
                                                    params["xc_grid"], density)
        e_xc, v_xc = xc_energy_and_potential(settings.functional, params["xc"],
                                             params["xc_grid"], density, restricted)
        fock = fock + v_xc
        energy = energy + e_xc
    return fock, energy


def _from_density(density, params, settings, energy_only=False):
    k = _spin_exchange(params["df"], density) if settings.exchange != 0.0 else None
    k_lr = _spin_exchange(params["df_lr"], density) if settings.long_range != 0.0 else None
    return _fock_energy(density, params, settings, k, k_lr, settings.restricted and not energy_only,
                        energy_only)


def _from_factor(density, vectors, params, settings, restricted):
    k = k_lr = None
    if settings.exchange != 0.0:
        k = _spin_exchange_vectors(params["df"], vectors, restricted)
    if settings.long_range != 0.0:
        k_lr = _spin_exchange_vectors(params["df_lr"], vectors, restricted)
    return _fock_energy(density, params, settings, k, k_lr, restricted)


def _from_orbitals(density, mo_coeff, mo_occ, params, settings, restricted):
    ncol = min(settings.n_occupied, mo_coeff.shape[-1])
    # the first ncol orbitals of each spin, weighted by sqrt(occupation): D_s = V_s V_s^T
    vectors = mo_coeff[:, :, :ncol] * jnp.sqrt(jnp.maximum(mo_occ[:, None, :ncol], 0.0))

    def fast(_):
        return _from_factor(density, vectors, params, settings, restricted)

    if settings.exchange == 0.0 and settings.long_range == 0.0:
        return fast(None)
    # Orbitals beyond ncol occupied (fractional occupations): the density path.
    spill = jnp.sum(jnp.abs(mo_occ[:, ncol:]))
    return jax.lax.cond(spill > 0.0, lambda _: _from_density(density, params, settings), fast, None)


@dataclass(frozen=True)
class _DFPart:
    """``(density, params) -> F, E or (F, E)``; hashable static structure."""

    settings: _DFSettings
    part: str  # "fock", "energy", "both"

    @property
    def functional(self):
        return self.settings.functional

    def __call__(self, density, params):
        fock, energy = _from_density(density, params, self.settings, self.part == "energy")
        return {"fock": fock, "energy": energy, "both": (fock, energy)}[self.part]


@dataclass(frozen=True)
class _DFOrbitalPart:
    settings: _DFSettings

    def __call__(self, density, mo_coeff, mo_occ, params, restricted):
        return _from_orbitals(density, mo_coeff, mo_occ, params, self.settings, restricted)

    def from_factor(self, density, vectors, params, restricted):
        return _from_factor(density, vectors, params, self.settings, restricted)


@dataclasses.dataclass(frozen=True)
class DensityFittedModel(EnergyModel):
    """An :class:`EnergyModel` with density-fitted J and K, plus the orbital route to K.

    ``fock_and_energy_from_orbitals(density, mo_coeff (2, nao, nmo), mo_occ (2, nmo),
    restricted)`` gives the same (F, E) as ``model(density)`` when the density is
    sum_o n_o c_o c_o^T, at the cost of the orbital route.
    """

    orbital_fn: Optional[Callable] = None

    def fock_and_energy_from_orbitals(self, density, mo_coeff, mo_occ, restricted=False):
        return self.orbital_fn(density, mo_coeff, mo_occ, self.params, restricted)

    def fock_and_energy_from_factor(self, density, vectors, restricted=False):
        """(F, E) for density[s] = vectors[s] vectors[s]^T, vectors (2, nao, k): K by the
        orbital route whatever made the density (the SCF's guess, factorised)."""
        return self.orbital_fn.from_factor(density, vectors, self.params, restricted)


jax.tree_util.register_dataclass(
    DensityFittedModel, data_fields=["params"],
    meta_fields=["energy_fn", "fock_fn", "fock_and_energy_fn", "pad", "fock_energy_and_xc_fn",
                 "orbital_fn"])


def df_fock_and_energy(h_core, factor, n_occupied, functional=None, ao=None, weights=None,
                       factor_long_range=None, xc_params=None, restricted=False) -> DensityFittedModel:
    """Density-fitted HF (``functional`` None) or Kohn-Sham energy model.

    h_core (nao, nao); factor B (nao, nao, naux); n_occupied the number of orbital columns
    the orbital route to K uses (max(nalpha, nbeta)); for Kohn-Sham, ``ao`` an
    :class:`~dftjax.xc.blocked.XCGrid`, or dense AO values (1 or 4, npts, nao) with
    ``weights`` (npts,), as :func:`dftjax.scf.kohn_sham.ks_fock_and_energy`, and
    ``factor_long_range`` the erf-attenuated B when the functional has long-range exchange.
    ``restricted=True`` promises D_a = D_b (restricted SCF): one spin's XC potential.
    """
    params = {"h_core": jnp.asarray(h_core, jnp.float64), "df": jnp.asarray(factor, jnp.float64)}
    if functional is not None and functional.name == "hf":
        functional = None
    if functional is not None:
        grid = ao if isinstance(ao, XCGrid) else dense_xc_grid(ao, weights)
        params.update(xc_grid=grid, xc=functional.params if xc_params is None else xc_params)
        if functional.hf_long_range != 0.0:
            if factor_long_range is None:
                raise ValueError(f"functional {functional.name} needs the long-range fitted "
                                 f"tensor (omega={functional.omega})")
            params["df_lr"] = jnp.asarray(factor_long_range, jnp.float64)
    settings = _DFSettings(functional, int(n_occupied), bool(restricted))
    can_pad_grid = functional is None or can_pad(params["xc_grid"])
    return _df_model(settings, params, _pad_df_model if can_pad_grid else None)


def _df_model(settings, params, pad):
    return DensityFittedModel(_DFPart(settings, "energy"), _DFPart(settings, "fock"), params,
                              _DFPart(settings, "both"), pad=pad,
                              orbital_fn=_DFOrbitalPart(settings))


def _pad_df_model(model, size):
    """The density-fitted model on ``size`` basis functions (see ``EnergyModel.pad``):
    the fitted tensors pad with zero rows and columns for the extra AOs and zero
    auxiliary functions up to ``bucket(naux, 4)`` (a zero column of B adds nothing to J or
    K), h_core as the exact-ERI models pad it, the XC grid by
    :func:`~dftjax.xc.blocked.padded_xc_grid`, and the orbital route's column count on
    ``bucket(., 4)`` (the extra columns are empty orbitals, of weight 0). So molecules
    with different auxiliary bases and electron counts share compiled programs."""
    params = model.params
    nao, _, naux = params["df"].shape
    padded = {"h_core": jax.device_put(pad_matrix(params["h_core"], size, PADDING_ENERGY))}
    for name in ("df", "df_lr"):
        if name in params:
            factor = np.zeros((size, size, bucket(naux, 4)))
            factor[:nao, :nao, :naux] = np.asarray(params[name])
            padded[name] = jax.device_put(factor)
    settings = model.energy_fn.settings
    if settings.functional is not None:
        padded.update(xc_grid=padded_xc_grid(params["xc_grid"], size), xc=params["xc"])
    settings = dataclasses.replace(settings, n_occupied=min(bucket(settings.n_occupied, 4), size))
    return _df_model(settings, padded, model.pad)
