"""Exact or density-fitted electron repulsion for a calculation, and its integrals.

:func:`choose_eri` decides the path (the user's ``density_fit`` or, when None, the size
rule of :func:`dftjax.memory.choose_method`), resolves the auxiliary basis (PySCF's
default unless ``auxbasis`` is given), estimates the peak memory and raises a
MemoryError before anything large is allocated when it does not fit.
:func:`density_fitted_integrals` computes what the density-fitted SCF needs.
"""

from dataclasses import dataclass

import jax.numpy as jnp

from . import memory
from .basis.auxiliary import build_auxbasis, resolve_auxbasis
from .integrals.density_fitting import fitted_tensor, naux_of
from .integrals.one_electron import one_electron_from_pairs, pair_data
from .log import logger

#: Above this estimated peak, the estimate is logged as a warning before the run.
REPORT_BYTES = 2 * memory.GIB


@dataclass(frozen=True)
class ERIChoice:
    """method "exact" or "density-fit"; the auxiliary basis (None when exact), its name
    and size; the estimated peak memory (bytes) and the memory available when chosen;
    ``automatic`` when dftjax chose the method; ``ao_memory``, the bytes of AO values
    the XC grid may keep (:func:`dftjax.memory.kept_ao_budget`, included in the peak)."""

    method: str
    auxbasis: object
    auxbasis_name: str
    naux: int
    peak_bytes: int
    available_bytes: int
    automatic: bool
    ao_memory: int = 0

    def describe(self) -> str:
        what = "exact ERIs" if self.method == "exact" else \
            f"density fitting ({self.auxbasis_name}, {self.naux} auxiliary functions)"
        return (f"{what}{' (chosen by size)' if self.automatic else ''}; estimated peak memory "
                f"{memory.format_bytes(self.peak_bytes)} of {memory.format_bytes(self.available_bytes)} available")


def choose_eri(molecule, basis_set, basis, functional, density_fit=None, auxbasis=None,
               npts=0, verbose=False) -> ERIChoice:
    """The electron-repulsion path for ``molecule`` in ``basis_set`` (built from ``basis``).

    density_fit : None (choose by size), True or False. auxbasis : None (PySCF's default
    for the basis and functional), a basis-set-exchange name, 'etb', or {element: name}.
    Raises MemoryError when the chosen path's estimated peak exceeds available memory.
    """
    if density_fit not in (None, True, False):
        raise ValueError(f"density_fit must be None, True or False, not {density_fit!r}")
    long_range = functional.hf_long_range != 0.0
    nao = basis_set.nao
    automatic = density_fit is None
    method = memory.choose_method(nao, long_range) if automatic else (
        "density-fit" if density_fit else "exact")
    if auxbasis is not None and density_fit is None:
        method = "density-fit"   # asking for an auxiliary basis asks for fitting
        automatic = False
    ncomp = 1 if functional.family == "lda" else 4
    npts = 0 if functional.name == "hf" else npts
    available = memory.available_memory()
    if automatic and method == "exact" and \
            memory.estimate("exact", nao, 0, long_range, npts, ncomp) > available:
        method = "density-fit"   # exact would fit the machine, but not what is free now
    aux_set, aux_name, naux = None, None, 0
    if method == "density-fit":
        choice = resolve_auxbasis(molecule, basis, auxbasis, functional)
        aux_set = build_auxbasis(molecule, choice, cartesian=basis_set.cartesian)
        aux_name, naux = choice.name, naux_of(basis_set, aux_set)
    ao_memory = 0
    if npts:
        ao_memory = memory.kept_ao_budget(
            memory.estimate(method, nao, naux, long_range, npts, ncomp, kept_ao_limit=0), available)
    peak = memory.estimate(method, nao, naux, long_range, npts, ncomp, kept_ao_limit=ao_memory)
    result = ERIChoice(method, aux_set, aux_name, naux, peak, available, automatic, ao_memory)
    if peak > REPORT_BYTES:
        logger().warning(f"dftjax: {result.describe()}")
    elif verbose:
        logger().info(f"dftjax: {result.describe()}")
    memory.check_fits(method, peak, nao, naux, available)
    return result


def density_fitted_integrals(molecule, basis_set, auxbasis_set, omega=0.0, coordinates=None):
    """One-electron integrals and fitted tensors from one pass of pair data.

    Returns overlap, kinetic, nuclear (nao, nao), dipole (3, nao, nao), B (nao, nao, naux),
    B_long_range (or None; ``omega`` > 0) and the metric decomposition used.
    """
    coords = jnp.asarray(molecule.coordinates if coordinates is None else coordinates)
    data = pair_data(basis_set, coords, molecule.atomic_numbers.astype(float), coords)
    overlap, kinetic, dipole, nuclear = one_electron_from_pairs(basis_set, data)
    pairs = [d[:3] for d in data]
    factor, decomposition = fitted_tensor(basis_set, auxbasis_set, pairs, coords)
    factor_long_range = None
    if omega > 0.0:
        factor_long_range, _ = fitted_tensor(basis_set, auxbasis_set, pairs, coords, omega)
    return overlap, kinetic, nuclear, dipole, factor, factor_long_range, decomposition
