"""Molecules: atoms, coordinates, charge and spin, with their validation.

A ``Molecule`` holds natom atoms: canonical element symbols, atomic numbers (int64,
shape (natom,)) and Cartesian coordinates in Bohr (float64, shape (natom, 3)), plus the
total charge and the spin multiplicity 2S+1. Input coordinates are in Angstrom unless
``unit="bohr"``; the Angstrom-to-Bohr factor is PySCF's, so coordinates agree with
PySCF's bit for bit. Energies are in Hartree.

A Molecule is a JAX pytree whose one leaf is its coordinates; symbols, atomic numbers,
charge and multiplicity are static. A jitted function of a Molecule therefore compiles
once per list of atoms and is reused for every geometry, and ``jax.grad`` with respect
to a Molecule returns a Molecule whose ``coordinates`` hold the gradient.
"""

import operator
import os

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.elements import ANGSTROM_TO_BOHR, BOHR_TO_ANGSTROM, SYMBOLS, atomic_number
from dftjax.io.xyz import parse_xyz, write_xyz
from dftjax.tracing import traced

MIN_DISTANCE_BOHR = 1e-3
"""Atoms closer than this (Bohr) are rejected as a typo or a duplicated line."""

_LENGTH_IN_BOHR = {
    "angstrom": ANGSTROM_TO_BOHR,
    "ang": ANGSTROM_TO_BOHR,
    "a": ANGSTROM_TO_BOHR,
    "bohr": 1.0,
    "b": 1.0,
    "au": 1.0,
}


@jax.jit  # one small program rather than a dozen eager operations (compiled each)
def nuclear_repulsion_energy(charges, coordinates):
    """Coulomb repulsion energy of point nuclei.

    E = 1/2 sum_{i != j} Z_i Z_j / |R_i - R_j|, written in jax.numpy so that it can be
    jitted and differentiated with respect to the coordinates.

    Parameters
    ----------
    charges : array_like
        Nuclear charges Z_i, shape (natom,).
    coordinates : array_like
        Nuclear positions R_i in Bohr, shape (natom, 3); the atoms must be distinct.

    Returns
    -------
    jax.Array
        The energy in Hartree, a scalar (0 for a single atom).
    """
    coordinates = jnp.asarray(coordinates)
    charges = jnp.asarray(charges, dtype=coordinates.dtype)
    off_diagonal = ~jnp.eye(coordinates.shape[0], dtype=bool)
    separations = coordinates[:, None, :] - coordinates[None, :, :]
    squared_distances = jnp.sum(separations**2, axis=-1)
    # Double where: the derivative of sqrt at the zero diagonal is infinite, and
    # masking only the result would still send 0 * inf = NaN into the gradient.
    safe_squared_distances = jnp.where(off_diagonal, squared_distances, 1.0)
    inverse_distances = jnp.where(off_diagonal, 1.0 / jnp.sqrt(safe_squared_distances), 0.0)
    return 0.5 * charges @ inverse_distances @ charges


@jax.tree_util.register_pytree_with_keys_class
class Molecule:
    """Atoms with coordinates in Bohr, a total charge and a spin multiplicity.

    Parameters
    ----------
    symbols : sequence of str or int
        Elements, as symbols in any letter case or atomic numbers; length natom >= 1.
    coordinates : array_like
        Cartesian coordinates, shape (natom, 3), in ``unit``.
    unit : str, optional
        ``"angstrom"`` (also ``"ang"``, ``"a"``) or ``"bohr"`` (also ``"b"``, ``"au"``),
        in any letter case. Default Angstrom.
    charge : int, optional
        Total charge in units of the elementary charge. Default 0.
    multiplicity : int, optional
        Spin multiplicity 2S+1 >= 1, so nalpha - nbeta = multiplicity - 1. Default 1.

    Attributes
    ----------
    symbols : tuple of str
        Canonical element symbols, length natom.
    atomic_numbers : numpy.ndarray
        Nuclear charges, int64, shape (natom,).
    coordinates : numpy.ndarray
        Cartesian coordinates in Bohr, float64, shape (natom, 3); a traced array when
        the Molecule passes through ``jax.jit`` or ``jax.grad``.
    charge, multiplicity : int
        As given.

    Raises
    ------
    ValueError
        For an unknown element or unit, coordinates of the wrong shape or not finite,
        two atoms closer than ``MIN_DISTANCE_BOHR``, a charge or multiplicity that is
        not an integer, or a charge and multiplicity that no electron count allows.
    """

    def __init__(self, symbols, coordinates, unit="angstrom", charge=0, multiplicity=1):
        if isinstance(symbols, str):
            raise ValueError(
                f"symbols must be a sequence of element symbols, got the string {symbols!r}"
            )
        numbers = tuple(atomic_number(symbol) for symbol in symbols)
        symbols = tuple(SYMBOLS[number] for number in numbers)
        coordinates = _checked_coordinates(coordinates, symbols, _length_in_bohr(unit))
        _check_separations(coordinates, symbols)
        charge = _integer(charge, "charge")
        multiplicity = _integer(multiplicity, "multiplicity")
        _check_spin(sum(numbers) - charge, charge, multiplicity)
        self._set_fields((symbols, numbers, charge, multiplicity), coordinates)

    @classmethod
    def from_xyz(cls, path_or_text, charge=0, multiplicity=1, unit="angstrom"):
        """Molecule from an XYZ file or XYZ text.

        Parameters
        ----------
        path_or_text : str or os.PathLike
            Path of an XYZ file, or the text itself: standard XYZ, or bare
            ``symbol x y z`` lines separated by newlines or ``;`` (PySCF style).
        charge, multiplicity : int, optional
            As for ``Molecule``.
        unit : str, optional
            Unit of the coordinates in the text. Default Angstrom.

        Returns
        -------
        Molecule
        """
        symbols, coordinates = parse_xyz(_xyz_text(path_or_text))
        return cls(symbols, coordinates, unit=unit, charge=charge, multiplicity=multiplicity)

    @property
    def natom(self):
        """Number of atoms."""
        return len(self.symbols)

    @property
    def nelectron(self):
        """Number of electrons: the sum of the atomic numbers minus the charge."""
        return int(self.atomic_numbers.sum()) - self.charge

    @property
    def nalpha(self):
        """Number of spin-up electrons, (nelectron + multiplicity - 1) / 2."""
        return (self.nelectron + self.multiplicity - 1) // 2

    @property
    def nbeta(self):
        """Number of spin-down electrons, (nelectron - multiplicity + 1) / 2."""
        return (self.nelectron - self.multiplicity + 1) // 2

    def nuclear_repulsion(self):
        """Nuclear repulsion energy in Hartree, as a Python float (computed with NumPy:
        nothing compiles for each new number of atoms)."""
        i, j = np.triu_indices(self.natom, 1)
        charges = np.asarray(self.atomic_numbers, dtype=float)
        coordinates = np.asarray(self.coordinates, dtype=float)
        distances = np.linalg.norm(coordinates[i] - coordinates[j], axis=1)
        return float(np.sum(charges[i] * charges[j] / distances))

    def nuclear_repulsion_jax(self):
        """Nuclear repulsion energy in Hartree, a JAX scalar usable under jit and grad."""
        return nuclear_repulsion_energy(self.atomic_numbers, self.coordinates)

    def with_coordinates(self, coordinates):
        """The same atoms, charge and multiplicity at new coordinates.

        Parameters
        ----------
        coordinates : array_like
            Cartesian coordinates in Bohr, shape (natom, 3). Traced arrays (inside jit or
            grad) are accepted; their values cannot be seen, so only their shape is
            checked, not finiteness or atom separations.

        Returns
        -------
        Molecule
        """
        if traced(coordinates):
            _check_shape(coordinates.shape, self.symbols)
        else:
            coordinates = _checked_coordinates(coordinates, self.symbols)
            _check_separations(coordinates, self.symbols)
        return self._unchecked(self._static_fields, coordinates)

    def to_xyz(self, comment=""):
        """Standard XYZ text of this geometry, coordinates in Angstrom.

        Parameters
        ----------
        comment : str, optional
            The single-line comment written on the second line.

        Returns
        -------
        str
        """
        coordinates = np.asarray(self.coordinates) * BOHR_TO_ANGSTROM
        return write_xyz(self.symbols, coordinates, comment)

    def __repr__(self):
        coordinates = self.coordinates
        if isinstance(coordinates, np.ndarray):
            coordinates = coordinates.tolist()
        return (
            f"Molecule(symbols={self.symbols!r}, coordinates={coordinates!r}, unit='bohr', "
            f"charge={self.charge!r}, multiplicity={self.multiplicity!r})"
        )

    def tree_flatten(self):
        return (self.coordinates,), self._static_fields

    def tree_flatten_with_keys(self):
        return ((jax.tree_util.GetAttrKey("coordinates"), self.coordinates),), self._static_fields

    @classmethod
    def tree_unflatten(cls, static_fields, leaves):
        (coordinates,) = leaves
        return cls._unchecked(static_fields, coordinates)

    @classmethod
    def _unchecked(cls, static_fields, coordinates):
        """A Molecule built without validation, for pytree leaves that may be tracers."""
        molecule = object.__new__(cls)
        molecule._set_fields(static_fields, coordinates)
        return molecule

    def _set_fields(self, static_fields, coordinates):
        """Store the fields; ``static_fields`` is hashable, as jit's cache needs."""
        symbols, numbers, charge, multiplicity = static_fields
        self._static_fields = static_fields
        self.symbols = symbols
        self.atomic_numbers = _read_only(np.array(numbers, dtype=np.int64))
        self.coordinates = coordinates
        self.charge = charge
        self.multiplicity = multiplicity


def _length_in_bohr(unit):
    try:
        return _LENGTH_IN_BOHR[unit.lower()]
    except (AttributeError, KeyError):
        raise ValueError(f"unknown unit {unit!r}: use 'angstrom' or 'bohr'") from None


def _integer(value, name):
    if not isinstance(value, bool):
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise ValueError(f"{name} must be an integer, got {value!r}")


def _check_shape(shape, symbols):
    if not symbols:
        raise ValueError("a molecule needs at least one atom")
    if shape != (len(symbols), 3):
        raise ValueError(
            f"coordinates must have shape (natom, 3) = ({len(symbols)}, 3) "
            f"for {len(symbols)} symbols, got {shape}"
        )


def _checked_coordinates(coordinates, symbols, length_in_bohr=1.0):
    """A read-only float64 copy in Bohr of finite coordinates of shape (natom, 3)."""
    coordinates = np.asarray(coordinates, dtype=np.float64)
    _check_shape(coordinates.shape, symbols)
    bad_atoms = np.flatnonzero(~np.isfinite(coordinates).all(axis=1))
    if bad_atoms.size:
        atom = bad_atoms[0]
        raise ValueError(
            f"coordinates of atom {atom} ({symbols[atom]}) are not finite: "
            f"{coordinates[atom].tolist()}"
        )
    return _read_only(coordinates * length_in_bohr)


def _check_separations(coordinates, symbols):
    """Reject pairs of atoms closer than MIN_DISTANCE_BOHR; coordinates in Bohr."""
    first, second = np.triu_indices(len(symbols), k=1)
    distances = np.linalg.norm(coordinates[first] - coordinates[second], axis=1)
    too_close = np.flatnonzero(distances < MIN_DISTANCE_BOHR)
    if too_close.size:
        pair = too_close[0]
        i, j = first[pair], second[pair]
        raise ValueError(
            f"atoms {i} ({symbols[i]}) and {j} ({symbols[j]}) are {distances[pair]:.4f} "
            f"Bohr apart; atoms must be at least {MIN_DISTANCE_BOHR} Bohr apart"
        )


def _check_spin(nelectron, charge, multiplicity):
    """Reject a charge and multiplicity that no arrangement of the electrons allows."""
    if multiplicity < 1:
        raise ValueError(f"multiplicity must be at least 1, got {multiplicity}")
    if nelectron < 0:
        raise ValueError(f"charge {charge} leaves a negative number of electrons ({nelectron})")
    unpaired = multiplicity - 1
    if (nelectron + unpaired) % 2:
        raise ValueError(
            f"multiplicity {multiplicity} impossible with {nelectron} electrons: "
            f"{nelectron} electrons need an {'even' if nelectron % 2 else 'odd'} multiplicity"
        )
    if unpaired > nelectron:
        raise ValueError(
            f"multiplicity {multiplicity} needs {unpaired} unpaired electrons "
            f"but there are only {nelectron} electrons"
        )


def _read_only(array):
    array.flags.writeable = False
    return array


def _xyz_text(path_or_text):
    """The XYZ text itself, read from the file if ``path_or_text`` names one."""
    if isinstance(path_or_text, os.PathLike) or os.path.isfile(path_or_text):
        with open(path_or_text) as file:
            return file.read()
    if len(path_or_text.split()) == 1:
        raise FileNotFoundError(f"no XYZ file {path_or_text!r}; XYZ text needs 'symbol x y z'")
    return path_or_text
