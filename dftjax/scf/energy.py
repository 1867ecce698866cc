"""Energy models: the electronic energy as a function of the spin density matrices.

Every SCF quantity derives from one function E(D), with D the spin density
matrices of shape (2, nao, nao), [alpha, beta], in the AO basis (restricted:
D_alpha = D_beta = D_total / 2). The Fock matrices are its derivatives,
F_sigma = dE/dD_sigma (2, nao, nao), in Hartree.

The SCF driver sees only a callable ``fock_and_energy(D) -> (F, E_electronic)``.
``EnergyModel`` is such a callable and a pytree: its arrays (``params``) are traced
by jit, so a new geometry of the same shapes reuses the compiled SCF step, while
its functions are static. ``autodiff_fock_and_energy`` takes F = dE/dD by autodiff; the
models the SCF runs write it out instead (Hartree-Fock here, h + J[D_total] - K[D_sigma];
Kohn-Sham in :mod:`dftjax.scf.kohn_sham`, density fitting in :mod:`dftjax.scf.density_fit`)
for speed: E = 1/2 sum_sigma tr[(h + F_sigma) D_sigma], so one J/K build gives F and E
together where the energy and then its reverse pass would cost about two, and the XC
potential is blocked matrix products with memory bounded by one block. Each written-out form is
tested equal to jax.grad of its own energy function (tests/test_scf_energy.py,
tests/test_scf_kohn_sham.py, tests/test_density_fit.py, tests/test_xc_blocked.py).

Integrals are in atomic units: h_core (nao, nao) = T + V, eri (nao, nao, nao, nao)
chemists' notation (ij|kl) with 8-fold symmetry. Reference: Szabo & Ostlund,
Modern Quantum Chemistry, §3.4 (RHF) and §3.8 (UHF).
"""

import dataclasses
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.grid.screening import bucket
from dftjax.tracing import traced
from dftjax.stored_programs import StoredKernel


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
    pad(model, size) -> model, optional: the same model on ``size`` >= nao basis
    functions, the extra ones decoupled (zero integrals with the real ones, a large
    diagonal core energy :data:`PADDING_ENERGY`); static. The
    SCF pads models that have it onto a ladder of sizes (:func:`padded_size`,
    :mod:`dftjax.scf.ladder`).
    fock_energy_and_xc_fn(density, params) -> (F, E, E_xc), optional: also the
    exchange-correlation part of E (Kohn-Sham models compute it on the way), so that the
    SCF's last step gives E_xc without a program of its own; static.
    """

    energy_fn: Callable
    fock_fn: Optional[Callable]
    params: Any
    fock_and_energy_fn: Optional[Callable] = None
    pad: Optional[Callable] = None
    fock_energy_and_xc_fn: Optional[Callable] = None

    def __call__(self, density):
        if self.fock_and_energy_fn is not None:
            return self.fock_and_energy_fn(density, self.params)
        if self.fock_fn is not None:
            return self.fock_fn(density, self.params), self.energy_fn(density, self.params)
        energy, gradient = jax.value_and_grad(self.energy_fn)(density, self.params)
        return 0.5 * (gradient + jnp.swapaxes(gradient, -1, -2)), energy

    @property
    def reports_xc(self) -> bool:
        """Whether :meth:`fock_energy_and_xc` gives E_xc (else it gives 0)."""
        return self.fock_energy_and_xc_fn is not None

    def fock_energy_and_xc(self, density):
        """(F, E, E_xc (Ha)): as calling the model, with E's exchange-correlation part from
        ``fock_energy_and_xc_fn``; 0 for a model without one (:attr:`reports_xc`)."""
        if self.fock_energy_and_xc_fn is not None:
            return self.fock_energy_and_xc_fn(density, self.params)
        fock, energy = self(density)
        return fock, energy, jnp.zeros_like(energy)


jax.tree_util.register_dataclass(
    EnergyModel, data_fields=["params"],
    meta_fields=["energy_fn", "fock_fn", "fock_and_energy_fn", "pad", "fock_energy_and_xc_fn"])


def coulomb_and_exchange(eri, density, eri_pairs=None, eri_exchange=None, exchange=True):
    """J[D_a + D_b] (nao, nao) and K[D_s] (2, nao, nao) from (ij|kl) (nao,)*4; K is None
    with ``exchange=False`` (then neither ``eri`` nor ``eri_exchange`` need be given when
    ``eri_pairs`` is).

    By default J is one matrix-vector product with eri viewed as (nao^2, nao^2). For
    K_il = sum_jk (ij|kl) D_jk the contracted indices j, k are adjacent in memory, so with
    eri viewed as (nao, nao^2, nao) it is a batched (over i) vector-matrix product: no
    transposed copy of the tensor, which would cost more than the product itself.

    Faster forms of the same integrals, when given (each streams less memory per Fock
    build; pyrrole/def2-SVP on 2 cores: 91 -> 34 ms for J and K):
    ``eri_pairs`` (npair, npair), the pair matrix, gives J (:func:`coulomb_from_pair_matrix`);
    ``eri_exchange`` (npair, nao^2), from :func:`exchange_matrix`, gives K as one
    matrix product (:func:`exchange_from_exchange_matrix`; densities must be symmetric).
    With ``eri_pairs`` alone (``eri`` None), K is that product with the exchange matrix
    gathered in the call (correct, but a gather per call: models that run often keep it).
    """
    nao = density.shape[-1]
    flat = density.reshape(2, nao * nao)
    if eri_pairs is not None:
        coulomb_total = coulomb_from_pair_matrix(eri_pairs, density.sum(axis=0))
    else:
        coulomb_total = (eri.reshape(nao * nao, nao * nao) @ flat.sum(axis=0)).reshape(nao, nao)
    if not exchange:
        return coulomb_total, None
    if eri_exchange is not None:
        return coulomb_total, exchange_from_exchange_matrix(eri_exchange, density)
    if eri is None:  # the pair matrix alone: its exchange matrix gathered in this call
        return coulomb_total, exchange_from_exchange_matrix(exchange_matrix(eri_pairs, nao),
                                                            density)
    rows = jnp.broadcast_to(flat[None], (nao, 2, nao * nao))
    exchange_spin = jax.lax.dot_general(rows, eri.reshape(nao, nao * nao, nao),
                                        (((2,), (1,)), ((0,), (0,))))  # (i, s, l)
    return coulomb_total, jnp.swapaxes(exchange_spin, 0, 1)


def _pair_index(nao: int):
    """Canonical AO pairs: (k, l) with k >= l in order, and the (nao, nao) matrix of
    P(k, l) = k (k + 1) / 2 + l (symmetric)."""
    k, l = np.tril_indices(nao)
    index = np.zeros((nao, nao), dtype=np.int32)
    index[k, l] = index[l, k] = np.arange(len(k))
    return k, l, index


def coulomb_from_pair_matrix(eri_pairs, density):
    """J[D]_ij = sum_kl (ij|kl) D_kl from the ERI pair matrix (npair, npair).

    Rows and columns run over canonical AO pairs P(k, l) = k (k + 1) / 2 + l, k >= l (see
    :func:`dftjax.integrals.two_electron.pair_matrix_from_pairs`), so the sum over (k, l)
    and (l, k) becomes one over k >= l with D_kl + D_lk (D_kk once). density (nao, nao).
    """
    k, l, index = _pair_index(density.shape[-1])
    packed = (density[k, l] + density[l, k]) * np.where(k == l, 0.5, 1.0)
    return (eri_pairs @ packed)[index]


def exchange_matrix(eri_pairs, nao):
    """The ERIs arranged for exchange, (npair, nao^2): row P(i, l) (i >= l), column
    j nao + k, value (ij|kl) = M[P(i, j), P(k, l)], gathered from the pair matrix M.

    K_il = sum_jk (ij|kl) D_jk is then one product with D flattened; for symmetric D,
    K is symmetric, so the rows i >= l suffice. Half the size of the full tensor.
    A concrete M is gathered by NumPy up to :data:`HOST_GATHER_NAO` basis functions, and
    beyond by a program stored per nao (:data:`_stored_exchange_gather`; SCFs pad nao
    onto a ladder, so there are few): XLA's gather runs ~3x faster than NumPy's fancy
    indexing (benzene/def2-SVP padded to 120 AOs: 1.8 -> 0.6 s, 2 cores) but compiles
    (~0.3 s), which only a large gather repays.
    """
    if traced(eri_pairs):
        return _exchange_gather(eri_pairs, nao)
    if isinstance(eri_pairs, jax.ShapeDtypeStruct):  # a stand-in: its shape alone
        return jax.ShapeDtypeStruct((nao * (nao + 1) // 2, nao * nao), jnp.float64)
    if nao <= HOST_GATHER_NAO:
        rows, cols = _exchange_indices(nao)
        return jax.device_put(np.asarray(eri_pairs)[rows, cols].reshape(len(rows), nao * nao))
    return _stored_exchange_gather(as_device(eri_pairs), nao)


#: Basis sizes up to which :func:`exchange_matrix` gathers on the host (no compilation):
#: at 80 AOs NumPy takes ~0.3 s, what compiling the XLA gather costs
HOST_GATHER_NAO = 80


def _exchange_indices(nao):
    """The pair-matrix rows P(i, j) (npair, nao_j, 1) and columns P(k, l) (npair, 1, nao_k)
    of :func:`exchange_matrix`'s entries, row P(i, l) (i >= l), column j nao + k."""
    i, l, index = _pair_index(nao)
    return index[i][:, :, None], index[:, l].T[:, None, :]


def _exchange_gather(eri_pairs, nao):
    rows, cols = _exchange_indices(nao)
    return eri_pairs[jnp.asarray(rows), jnp.asarray(cols)].reshape(len(rows), nao * nao)


_stored_exchange_gather = StoredKernel(_exchange_gather, static_argnums=(1,))


def as_device(array):
    """A float64 jax array of ``array``; host arrays go by ``jax.device_put``, which,
    unlike ``jnp.asarray``, compiles nothing for a new shape."""
    if isinstance(array, (jax.core.Tracer, jax.Array)):
        return jnp.asarray(array, jnp.float64)
    if isinstance(array, jax.ShapeDtypeStruct):  # a stand-in (shapes only): see prepare_scf
        return array
    return jax.device_put(np.asarray(array, np.float64))


def exchange_from_exchange_matrix(eri_exchange, density):
    """K[D_s] (2, nao, nao) from :func:`exchange_matrix` output; density (2, nao, nao),
    symmetric."""
    nao = density.shape[-1]
    _, _, index = _pair_index(nao)
    packed = eri_exchange @ density.reshape(2, nao * nao).T  # (npair, 2)
    return jnp.moveaxis(packed[index], -1, 0)


#: Basis sizes up to which the SCF pads onto a ladder (beyond, a compilation is small
#: next to the run and padding would cost memory and time: K scales as nao^4).
PAD_LIMIT = 128


def padded_size(nao: int, density_fitted: bool = False) -> int:
    """The ladder of SCF basis sizes: :func:`~dftjax.grid.screening.bucket` up to 16
    (1, 2, 3, 4, 6, 8, 12, 16), then multiples of 8 up to :data:`PAD_LIMIT`; beyond, nao
    itself, or for a density-fitted model (``density_fitted``), whose J and K cost
    nao^2 naux rather than nao^4, multiples of an eighth of the power of two below nao (16
    up to 256, 32 up to 512, ...: at most 12.5 % padding; the 47 density-fitted G2-2
    molecules in def2-TZVP, 135-222 AOs, on 6 rungs instead of 20 sizes). Molecules on
    the same rung share every compiled SCF program."""
    if nao <= 16:
        return bucket(nao)
    if nao <= PAD_LIMIT:
        return -(-nao // 8) * 8
    if not density_fitted:
        return nao
    step = 1 << (int(nao - 1).bit_length() - 4)
    return -(-nao // step) * step


def is_density_fitted(model) -> bool:
    """Whether an energy model (or a :class:`PaddedModel`) takes J and K from a fitted
    three-index tensor (its ladder is :func:`padded_size`'s ``density_fitted`` one)."""
    if isinstance(model, PaddedModel):
        model = model.model
    params = getattr(model, "params", None)
    return isinstance(params, dict) and "df" in params


@dataclasses.dataclass(frozen=True, eq=False)
class PaddedModel:
    """An energy model on the ladder's padded basis (:func:`padded_size` basis functions),
    built once by :func:`on_the_ladder` and handed to everything that runs on it: the SCF
    (:func:`~dftjax.scf.ladder.run_scf`, each rerun), the stability analysis and the final
    XC energy. Padding copies every integral and (Kohn-Sham) every kept AO value on the
    grid, about 1 s for benzene/def2-SVP, so it is done once per calculation.

    model: the padded :class:`EnergyModel` (a pytree; its shapes are the rung's);
    nao: the real number of basis functions. Not a pytree itself: it never enters jit."""

    model: "EnergyModel"
    nao: int

    @property
    def size(self) -> int:
        return self.model.params["h_core"].shape[-1]


def on_the_ladder(model, nao: int):
    """``model`` (on ``nao`` basis functions) as a :class:`PaddedModel` when it can pad
    (``EnergyModel.pad``) and none of its arrays is traced; else ``model`` unchanged. A
    model already on a rung is padded too (to its own size), so that every model on a
    rung has the same pytree."""
    if isinstance(model, PaddedModel) or getattr(model, "pad", None) is None or traced(model):
        return model
    return PaddedModel(model.pad(model, padded_size(nao, is_density_fitted(model))), nao)


#: h_core diagonal (Ha) of padding basis functions: far above any real orbital energy, so
#: their orbitals come last and stay empty (they are decoupled exactly, so the value
#: does not enter any real quantity).
PADDING_ENERGY = 1.0e4


def _hf_fock_and_energy(density, params):
    """Fock matrices (2, nao, nao) and HF electronic energy from shared J and K."""
    coulomb_total, exchange_spin = coulomb_and_exchange(
        params["eri"], density, params.get("eri_pairs"), params.get("eri_exchange"))
    fock = params["h_core"] + coulomb_total - exchange_spin
    energy = 0.5 * jnp.sum((params["h_core"] + fock) * density)
    return fock, energy


def _hf_energy_jk(density, params):
    return _hf_fock_and_energy(density, params)[1]


def _hf_fock_jk(density, params):
    return _hf_fock_and_energy(density, params)[0]


def hf_fock_and_energy(h_core, eri, eri_pairs=None, exchange_matrix_too=True):
    """Hartree-Fock energy model with the hand-written Fock matrix.

    E = 1/2 sum_sigma tr[(h + F_sigma) D_sigma], F_sigma = h + J[D] - K[D_sigma].
    ``eri_pairs``: optionally the same integrals as the pair matrix (npair, npair); the
    model then takes J from it and, with ``exchange_matrix_too``, K from
    :func:`exchange_matrix` (built here, once, from it: 0.3 s and nao^2 npair doubles for
    pyrrole/def2-SVP), which makes each Fock build about 2.5 times faster
    (:func:`coulomb_and_exchange`). Densities must then be symmetric, as SCF densities
    are. A model that will only run padded (``dftjax.scf``: :func:`on_the_ladder` builds
    the padded model's own) skips it with ``exchange_matrix_too=False``, and may be given
    ``eri`` None (the padded model takes J and K from the pair matrix alone).
    """
    _need_eri(eri, eri_pairs)
    params = {"h_core": as_device(h_core), "eri": None if eri is None else as_device(eri)}
    if eri_pairs is not None:
        params["eri_pairs"] = as_device(eri_pairs)
        if exchange_matrix_too:
            params["eri_exchange"] = exchange_matrix(params["eri_pairs"], params["h_core"].shape[-1])
        return EnergyModel(_hf_energy_jk, _hf_fock_jk, params, _hf_fock_and_energy,
                           pad=_pad_hf_model)
    return EnergyModel(_hf_energy_jk, _hf_fock_jk, params, _hf_fock_and_energy)


def _need_eri(eri, eri_pairs):
    if eri is None and eri_pairs is None:
        raise ValueError("an exact-ERI energy model needs the ERIs: the full tensor or "
                         "the pair matrix (eri_pairs)")


def pad_matrix(matrix, size, diagonal=0.0):
    """A host copy of ``matrix`` (..., nao, nao) on ``size`` >= nao basis functions: zero
    rows and columns for the extra ones, ``diagonal`` on their diagonal."""
    matrix = np.asarray(matrix, np.float64)
    nao = matrix.shape[-1]
    padded = np.zeros(matrix.shape[:-2] + (size, size))
    padded[..., :nao, :nao] = matrix
    padded[..., np.arange(nao, size), np.arange(nao, size)] = diagonal
    return padded


def padded_pair_params(eri_pairs, size, name="eri", exchange=True):
    """ERIs as a pair matrix (npair, npair) on ``size`` basis functions, with the extra
    AOs' integrals zero: ``{name: None, name_pairs, name_exchange}`` for
    :func:`coulomb_and_exchange` (``name_exchange`` only with ``exchange``: a model that
    never needs K, e.g. a semi-local functional's, skips its nao^2 npair doubles).
    Canonical pairs P(k, l) = k (k + 1) / 2 + l of the real AOs keep their numbers, the new
    ones follow, so the pair matrix pads with zero rows and columns. Host work, no
    compilation but the (bucketed) :func:`exchange_matrix`."""
    npair = size * (size + 1) // 2
    # on a rung already (nao a multiple of 8, or beyond the ladder): no copy
    if isinstance(eri_pairs, jax.ShapeDtypeStruct):  # a stand-in: see prepare_scf
        pairs = jax.ShapeDtypeStruct((npair, npair), jnp.float64)
    elif np.shape(eri_pairs)[0] == npair:
        pairs = as_device(eri_pairs)
    else:
        pairs = jax.device_put(pad_matrix(eri_pairs, npair))
    params = {name: None, f"{name}_pairs": pairs}
    if exchange:
        params[f"{name}_exchange"] = exchange_matrix(pairs, size)
    return params


def pair_matrix(eri):
    """The pair matrix M[P(i, j), P(k, l)] = (ij|kl) (npair, npair) gathered on the host
    from the full tensor (nao,)*4."""
    i, j = np.tril_indices(np.shape(eri)[0])
    return np.asarray(eri)[i, j][:, i, j]


def _pad_hf_model(model, size):
    """The HF model (with the pair matrix) on ``size`` basis functions: the extra AOs have
    zero ERIs and h_core = :data:`PADDING_ENERGY` on their diagonal, so they never mix
    with the real ones and their orbitals lie above every real one. The four-index tensor
    is dropped (J and K come from the pair matrix)."""
    params = {"h_core": jax.device_put(pad_matrix(model.params["h_core"], size, PADDING_ENERGY)),
              **padded_pair_params(model.params["eri_pairs"], size)}
    return dataclasses.replace(model, params=params)


def autodiff_fock_and_energy(energy_fn, params):
    """Energy model whose Fock matrix is jax.grad of ``energy_fn(density, params)``."""
    return EnergyModel(energy_fn, None, params)
