"""Energy models: the electronic energy as a function of the spin density matrices.

Every SCF quantity derives from one function E(D), with D the spin density
matrices of shape (2, nao, nao), [alpha, beta], in the AO basis (restricted:
D_alpha = D_beta = D_total / 2). The Fock matrices are its derivatives,
F_sigma = dE/dD_sigma (2, nao, nao), in Hartree.

The SCF driver sees only a callable ``fock_and_energy(D) -> (F, E_electronic)``.
``EnergyModel`` is such a callable and a pytree: its arrays (``params``) are traced
by jit, so a new geometry of the same shapes reuses the compiled SCF step, while
its functions are static. Hartree-Fock supplies the Fock matrix written out by hand,
h + J[D_total] - K[D_sigma] (tested against autodiff); a Kohn-Sham model gives
only its energy, h + J + E_xc - a K, and lets autodiff make the Fock matrix.

Integrals are in atomic units: h_core (nao, nao) = T + V, eri (nao, nao, nao, nao)
chemists' notation (ij|kl) with 8-fold symmetry. Reference: Szabo & Ostlund,
Modern Quantum Chemistry, §3.4 (RHF) and §3.8 (UHF).
"""

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp


def coulomb(eri, density):
    """J[D]_ij = sum_kl (ij|kl) D_kl; density (..., nao, nao) -> (..., nao, nao)."""
    return jnp.einsum("ijkl,...kl->...ij", eri, density)


def exchange(eri, density):
    """K[D]_ij = sum_kl (ik|jl) D_kl; density (..., nao, nao) -> (..., nao, nao)."""
    return jnp.einsum("ikjl,...kl->...ij", eri, density)


def one_electron_energy(density, h_core):
    """sum_sigma tr(h D_sigma)."""
    return jnp.einsum("ij,sij->", h_core, density)


def coulomb_energy(density, eri):
    """(1/2) tr(J[D_total] D_total), the classical electron-electron repulsion."""
    total = density.sum(axis=0)
    return 0.5 * jnp.vdot(coulomb(eri, total), total)


def exchange_energy(density, eri):
    """-(1/2) sum_sigma tr(K[D_sigma] D_sigma), the exact (Hartree-Fock) exchange."""
    return -0.5 * jnp.vdot(exchange(eri, density), density)


def hf_energy(density, ints):
    """Hartree-Fock electronic energy (Ha) of spin densities (2, nao, nao).

    ints: mapping with 'h_core' (nao, nao) and 'eri' (nao, nao, nao, nao).
    """
    return (one_electron_energy(density, ints["h_core"])
            + coulomb_energy(density, ints["eri"])
            + exchange_energy(density, ints["eri"]))


def hf_fock(density, ints):
    """F_sigma = h + J[D_alpha + D_beta] - K[D_sigma] = dE_HF/dD_sigma, (2, nao, nao)."""
    total = density.sum(axis=0)
    return ints["h_core"] + coulomb(ints["eri"], total) - exchange(ints["eri"], density)


@dataclasses.dataclass(frozen=True)
class EnergyModel:
    """``fock_and_energy(D) -> (F (2, nao, nao), E_electronic)`` as a pytree.

    energy_fn(density, params) -> scalar energy (Ha); static.
    fock_fn(density, params) -> (2, nao, nao), or None to take F = dE/dD by autodiff,
    symmetrised since D is symmetric; static.
    fock_and_energy_fn(density, params) -> (F, E), optional: both at once, sharing work.
    params: pytree of arrays (integrals, grids, functional parameters); traced.
    """

    energy_fn: Callable
    fock_fn: Optional[Callable]
    params: Any
    fock_and_energy_fn: Optional[Callable] = None

    def __call__(self, density):
        if self.fock_and_energy_fn is not None:
            return self.fock_and_energy_fn(density, self.params)
        if self.fock_fn is not None:
            return self.fock_fn(density, self.params), self.energy_fn(density, self.params)
        energy, gradient = jax.value_and_grad(self.energy_fn)(density, self.params)
        return 0.5 * (gradient + jnp.swapaxes(gradient, -1, -2)), energy


jax.tree_util.register_dataclass(
    EnergyModel, data_fields=["params"], meta_fields=["energy_fn", "fock_fn", "fock_and_energy_fn"])


def coulomb_and_exchange(eri, density):
    """J[D_a + D_b] (nao, nao) and K[D_s] (2, nao, nao) from (ij|kl) (nao,)*4.

    J is one matrix-vector product with eri viewed as (nao^2, nao^2). For
    K_il = sum_jk (ij|kl) D_jk the contracted indices j, k are adjacent in memory, so with
    eri viewed as (nao, nao^2, nao) it is a batched (over i) vector-matrix product: no
    transposed copy of the tensor, which would cost more than the product itself.
    """
    nao = density.shape[-1]
    flat = density.reshape(2, nao * nao)
    coulomb_total = (flat.sum(axis=0) @ eri.reshape(nao * nao, nao * nao)).reshape(nao, nao)
    rows = jnp.broadcast_to(flat[None], (nao, 2, nao * nao))
    exchange_spin = jax.lax.dot_general(rows, eri.reshape(nao, nao * nao, nao),
                                        (((2,), (1,)), ((0,), (0,))))  # (i, s, l)
    return coulomb_total, jnp.swapaxes(exchange_spin, 0, 1)


def _hf_fock_and_energy(density, params):
    """Fock matrices (2, nao, nao) and HF electronic energy from shared J and K."""
    coulomb_total, exchange_spin = coulomb_and_exchange(params["eri"], density)
    fock = params["h_core"] + coulomb_total - exchange_spin
    energy = 0.5 * jnp.sum((params["h_core"] + fock) * density)
    return fock, energy


def _hf_energy_jk(density, params):
    return _hf_fock_and_energy(density, params)[1]


def _hf_fock_jk(density, params):
    return _hf_fock_and_energy(density, params)[0]


def hf_fock_and_energy(h_core, eri):
    """Hartree-Fock energy model with the hand-written Fock matrix.

    E = 1/2 sum_sigma tr[(h + F_sigma) D_sigma], F_sigma = h + J[D] - K[D_sigma].
    """
    params = {"h_core": jnp.asarray(h_core, jnp.float64), "eri": jnp.asarray(eri, jnp.float64)}
    return EnergyModel(_hf_energy_jk, _hf_fock_jk, params, _hf_fock_and_energy)


def autodiff_fock_and_energy(energy_fn, params):
    """Energy model whose Fock matrix is jax.grad of ``energy_fn(density, params)``."""
    return EnergyModel(energy_fn, None, params)
