"""Reading Gaussian basis sets from basis-set-exchange into contracted shells.

A shell is one contracted radial function ``R(r) = sum_i c_i r^l exp(-alpha_i r^2)``
with one angular momentum ``l``. General contractions (several coefficient columns
sharing exponents, as in cc-pVXZ) and combined SP shells (Pople) are split into one
shell per column and per ``l``. The shells and columns are first put in
basis-set-exchange's standard order (``sort_basis``: by ``l``, then by spatial extent),
and then ordered by ``l`` (stable). This is exactly what PySCF does with a basis from
basis-set-exchange (by name or via its NWChem text), so AO indices agree with PySCF's.

Coefficients are renormalised exactly as PySCF does (``gto.mole._nomalize_contracted_ao``):
each primitive gets ``1/sqrt(int r^(2l+2) exp(-2 alpha r^2) dr)`` and the contracted
radial function is scaled to unit norm. Exponents are in Bohr^-2.
"""

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from math import gamma

import numpy as np

from .._cache import store_directory, write_atomically
from ..elements import SYMBOLS, atomic_number


@dataclass(frozen=True)
class ElementShell:
    """One contracted shell of an element: angular momentum, exponents (Bohr^-2), coefficients."""

    l: int
    exponents: tuple
    coefficients: tuple


def gaussian_radial_integral(n: int, alpha):
    """int_0^inf r^n exp(-alpha r^2) dr = Gamma((n+1)/2) / (2 alpha^((n+1)/2))."""
    return gamma((n + 1) / 2.0) / (2.0 * np.asarray(alpha) ** ((n + 1) / 2.0))


def normalise_contraction(l: int, exponents: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Coefficients of normalised primitives scaled so the contracted radial function has unit norm."""
    c = coefficients / np.sqrt(gaussian_radial_integral(2 * l + 2, 2.0 * exponents))
    overlap = gaussian_radial_integral(2 * l + 2, exponents[:, None] + exponents[None, :])
    return c / np.sqrt(c @ overlap @ c)


def _bse_get(name: str, z: int) -> dict:
    """basis-set-exchange's entry (sorted, as PySCF reads it) of element ``z`` in basis
    ``name``, from dftjax's store when an earlier process read it (see
    :func:`_stored_entry`); ValueError for an unknown basis or element, or an ECP."""
    path = _stored_entry(name, z)
    if path is not None:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):  # not stored yet, or unreadable: read it anew
            pass
    element = _bse_read(name, z)
    if path is not None:
        write_atomically(path, json.dumps(element).encode())
    return element


def _stored_entry(name: str, z: int):
    """Where :func:`_bse_get` keeps an element's entry between processes (reading it from
    basis-set-exchange, with that package's import, takes ~0.1-0.3 s per run): a file in
    :func:`dftjax._cache.store_directory` keyed by basis, element and basis-set-exchange's
    version; None when the cache is off."""
    directory = store_directory("dftjax-basis")
    if directory is None:
        return None
    bse_version = _bse_version()
    if bse_version is None:
        return None
    key = hashlib.sha256(repr((name, z, bse_version)).encode()).hexdigest()
    return directory / f"{key}.json"


@lru_cache(maxsize=1)
def _bse_version():
    """basis-set-exchange's version (its data change with it), None when not installed."""
    try:
        return version("basis_set_exchange")
    except PackageNotFoundError:
        return None


def _bse_read(name: str, z: int) -> dict:
    import basis_set_exchange as bse
    from basis_set_exchange.sort import sort_basis

    try:
        data = sort_basis(bse.get_basis(name, elements=[z], header=False), use_copy=False)
    except KeyError as err:
        message = str(err).strip("'\"")
        if "does not exist" in message:
            raise ValueError(f"unknown basis set '{name}' (not in basis-set-exchange)") from None
        raise ValueError(
            f"basis set '{name}' has no entry for element {SYMBOLS[z]} (Z={z})"
        ) from None
    element = data["elements"].get(str(z))
    if element is None or not element.get("electron_shells"):
        raise ValueError(f"basis set '{name}' has no entry for element {SYMBOLS[z]} (Z={z})")
    if element.get("ecp_potentials"):
        raise ValueError(
            f"basis set '{name}' uses an effective core potential for {SYMBOLS[z]}; "
            "ECPs are not supported yet"
        )
    return element


@lru_cache(maxsize=None)
def element_shells(name: str, symbol: str) -> tuple:
    """Contracted shells of one element in basis ``name`` (case-insensitive), PySCF's order.

    Raises ValueError for an unknown basis, an element the basis does not cover, or an
    element that needs an effective core potential.
    """
    z = atomic_number(symbol)
    element = _bse_get(name.strip().lower(), z)
    shells = []
    for block in element["electron_shells"]:
        exponents = np.array([float(e) for e in block["exponents"]])
        columns = [np.array([float(c) for c in col]) for col in block["coefficients"]]
        momenta = block["angular_momentum"]
        if len(momenta) == 1:
            momenta = momenta * len(columns)
        for l, column in zip(momenta, columns):
            keep = column != 0.0
            e, c = exponents[keep], normalise_contraction(l, exponents[keep], column[keep])
            shells.append(ElementShell(l, tuple(e.tolist()), tuple(c.tolist())))
    shells.sort(key=lambda s: s.l)
    return tuple(shells)
