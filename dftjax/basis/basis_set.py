"""The basis set of a molecule: contracted shells on atoms, AO layout, as PySCF orders it.

A :class:`BasisSet` is host-side static structure (which shell sits on which atom, its
angular momentum, exponents and normalised coefficients). Atom positions are *not*
stored: integral routines take the coordinates (Bohr, shape (natom, 3)) separately, so
that a new geometry reuses the same basis and compiled code, and so that integrals are
differentiable with respect to the coordinates.

AO order: atoms in molecule order; within an atom, shells by angular momentum; within
a shell, spherical components m = -l..l (p as x, y, z) or Cartesian components
xx, xy, xz, yy, yz, zz, ... when ``cartesian=True``.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .load import element_shells
from .spherical import cartesian_powers, ncart, nsph

_L_LETTERS = "spdfghik"


@dataclass(frozen=True, eq=False)
class BasisSet:
    """Contracted Gaussian shells of a molecule.

    Attributes
    ----------
    name : str or dict
        The basis requested (one name, or a mapping from element symbol to name).
    cartesian : bool
        Cartesian (6d, 10f, ...) instead of spherical (5d, 7f, ...) functions.
    symbols : tuple of str
        Element of each atom.
    shell_atom, shell_l, shell_nprim : np.ndarray of int, shape (nshell,)
        Atom index, angular momentum and number of primitives of each shell.
    exponents, coefficients : tuple of np.ndarray
        Per shell, primitive exponents (Bohr^-2) and normalised contraction coefficients.
    ao_offset : np.ndarray of int, shape (nshell + 1,)
        First AO index of each shell; the last entry is ``nao``.
    """

    name: object
    cartesian: bool
    symbols: tuple
    shell_atom: np.ndarray
    shell_l: np.ndarray
    shell_nprim: np.ndarray
    exponents: tuple
    coefficients: tuple
    ao_offset: np.ndarray

    @property
    def nshell(self) -> int:
        return len(self.shell_l)

    @property
    def nao(self) -> int:
        return int(self.ao_offset[-1])

    @property
    def natom(self) -> int:
        return len(self.symbols)

    @property
    def max_l(self) -> int:
        return int(self.shell_l.max())

    def shell_size(self, l: int) -> int:
        """Number of AOs in a shell of angular momentum ``l``."""
        return ncart(l) if self.cartesian else nsph(l)

    @property
    def ao_atom(self) -> np.ndarray:
        """Atom index of each AO, shape (nao,)."""
        return np.repeat(self.shell_atom, np.diff(self.ao_offset))

    def atom_ao_ranges(self) -> list:
        """``(start, stop)`` AO range of each atom (AOs of an atom are contiguous)."""
        ao_atom = self.ao_atom
        return [
            (int(np.searchsorted(ao_atom, a)), int(np.searchsorted(ao_atom, a, side="right")))
            for a in range(self.natom)
        ]

    def ao_labels(self) -> list:
        """Human-readable AO labels, e.g. ``'0 O 2px'`` or ``'1 H 1s'``."""
        labels = []
        for atom, l in zip(self.shell_atom, self.shell_l):
            if self.cartesian and l >= 2:
                parts = ["x" * a + "y" * b + "z" * c for a, b, c in cartesian_powers(int(l))]
            elif l == 1:
                parts = ["x", "y", "z"]
            elif l == 0:
                parts = [""]
            else:
                parts = [f"{m:+d}" for m in range(-l, l + 1)]
            labels += [f"{atom} {self.symbols[atom]} {_L_LETTERS[l]}{p}" for p in parts]
        return labels


def _element_basis_name(basis, symbol: str) -> str:
    if isinstance(basis, str):
        return basis
    lookup = {str(k).strip().lower(): v for k, v in basis.items()}
    name = lookup.get(symbol.lower(), lookup.get("default"))
    if name is None:
        raise ValueError(f"no basis set given for element {symbol} (keys: {sorted(basis)})")
    return name


def build_basis(molecule, basis="def2-svp", cartesian: bool = False) -> BasisSet:
    """Build the basis set of ``molecule``.

    The same elements, basis and ``cartesian`` give back the same (immutable) object, so
    integral plans and compiled kernels cached on it are reused by every geometry and
    every later calculation on the molecule.

    Parameters
    ----------
    molecule : Molecule
        Only its ``symbols`` are used.
    basis : str or dict
        A basis-set-exchange name (case-insensitive, e.g. ``"cc-pvdz"``, ``"6-31g*"``), or a
        mapping ``{symbol: name}`` with an optional ``"default"`` entry.
    cartesian : bool
        Use Cartesian instead of spherical functions.
    """
    if not isinstance(basis, (str, dict)):
        raise TypeError(f"basis must be a name or a {{element: name}} dict, not {type(basis)}")
    spec = basis if isinstance(basis, str) else tuple(sorted((str(k), str(v)) for k, v in basis.items()))
    return _build_basis(tuple(molecule.symbols), spec, bool(cartesian))


@lru_cache(maxsize=64)
def _build_basis(symbols: tuple, spec, cartesian: bool) -> BasisSet:
    basis = spec if isinstance(spec, str) else dict(spec)
    shell_atom, shell_l, exponents, coefficients = [], [], [], []
    for atom, symbol in enumerate(symbols):
        for shell in element_shells(_element_basis_name(basis, symbol), symbol):
            shell_atom.append(atom)
            shell_l.append(shell.l)
            exponents.append(np.array(shell.exponents))
            coefficients.append(np.array(shell.coefficients))
    shell_l = np.array(shell_l, dtype=np.int64)
    sizes = np.array([ncart(l) if cartesian else nsph(l) for l in shell_l], dtype=np.int64)
    return BasisSet(
        name=basis,
        cartesian=bool(cartesian),
        symbols=symbols,
        shell_atom=np.array(shell_atom, dtype=np.int64),
        shell_l=shell_l,
        shell_nprim=np.array([len(e) for e in exponents], dtype=np.int64),
        exponents=tuple(exponents),
        coefficients=tuple(coefficients),
        ao_offset=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
    )
