"""Reading and writing XYZ geometry text.

Coordinates are in Angstrom, as float64 arrays of shape (natom, 3). Two layouts are read:

* standard XYZ: a line with the number of atoms, a comment line, then one
  ``symbol x y z`` line per atom;
* bare ``symbol x y z`` lines with no header, separated by newlines or ``;`` as in
  PySCF geometry strings (``"O 0 0 0.12; H 0 0.76 -0.47; H 0 -0.76 -0.47"``).

In both, commas count as spaces, blank lines are skipped, and in the bare layout so
are lines starting with ``#``. A symbol may be written in any letter case or as an
atomic number; symbols come back canonical (``"HE"`` and ``"2"`` both give ``"He"``).
Only single-frame files are read.
"""

import math
import re

import numpy as np

from dftjax.elements import SYMBOLS, atomic_number

_COUNT_LINE = re.compile(r"[+-]?\d+")


def parse_xyz(text):
    """Read atoms from XYZ text.

    Parameters
    ----------
    text : str
        Standard XYZ text or bare ``symbol x y z`` lines (see the module docstring).

    Returns
    -------
    symbols : tuple of str
        Canonical element symbols, length natom.
    coordinates : numpy.ndarray
        Cartesian coordinates in Angstrom, float64, shape (natom, 3).

    Raises
    ------
    ValueError
        If the text holds no atoms, the count line disagrees with the number of atom
        lines, or an atom line is malformed; the message names the line (1-based).
    """
    numbered_lines = list(enumerate(text.splitlines(), start=1))
    nonblank = [(number, line) for number, line in numbered_lines if line.strip()]
    if not nonblank:
        raise ValueError("XYZ text holds no atoms")
    if _COUNT_LINE.fullmatch(nonblank[0][1].strip()):
        atom_lines = _standard_atom_lines(numbered_lines, nonblank[0])
    else:
        atom_lines = _bare_atom_lines(nonblank)
    atoms = [_parse_atom_line(number, line) for number, line in atom_lines]
    if not atoms:
        raise ValueError("XYZ text holds no atoms")
    symbols = tuple(symbol for symbol, _ in atoms)
    coordinates = np.array([xyz for _, xyz in atoms], dtype=np.float64)
    return symbols, coordinates


def write_xyz(symbols, coordinates, comment=""):
    """Write atoms as standard XYZ text.

    Parameters
    ----------
    symbols : sequence of str
        Element symbols, length natom.
    coordinates : array_like
        Cartesian coordinates in Angstrom, shape (natom, 3).
    comment : str, optional
        The comment (second) line; it must not contain a line break.

    Returns
    -------
    str
        The count line, the comment line and one line per atom with coordinates to
        1e-12 Angstrom, ending with a newline.
    """
    coordinates = np.asarray(coordinates, dtype=np.float64)
    if coordinates.shape != (len(symbols), 3):
        raise ValueError(
            f"coordinates must have shape ({len(symbols)}, 3), got {coordinates.shape}"
        )
    if "\n" in comment or "\r" in comment:
        raise ValueError(f"XYZ comment must be a single line, got {comment!r}")
    lines = [str(len(symbols)), comment]
    lines += [
        f"{symbol:<2} {x:17.12f} {y:17.12f} {z:17.12f}"
        for symbol, (x, y, z) in zip(symbols, coordinates)
    ]
    return "\n".join(lines) + "\n"


def _standard_atom_lines(numbered_lines, count_line):
    """The (line number, text) atom lines after a count line and a comment line."""
    count_number, count_text = count_line
    count = int(count_text)
    if count < 1:
        raise ValueError(f"line {count_number}: atom count must be positive, got {count}")
    atom_lines = [
        (number, line) for number, line in numbered_lines[count_number + 1:] if line.strip()
    ]
    if len(atom_lines) != count:
        raise ValueError(
            f"line {count_number}: count line says {count} atoms "
            f"but {len(atom_lines)} atom lines follow the comment line"
        )
    return atom_lines


def _bare_atom_lines(nonblank_lines):
    """The (line number, text) atom lines of headerless text, split at ';'."""
    atom_lines = []
    for number, line in nonblank_lines:
        for piece in line.split(";"):
            piece = piece.strip()
            if piece and not piece.startswith("#"):
                atom_lines.append((number, piece))
    return atom_lines


def _parse_atom_line(number, line):
    """Canonical symbol and (x, y, z) of one ``symbol x y z`` line."""
    fields = line.replace(",", " ").split()
    if len(fields) != 4:
        raise ValueError(f"line {number}: expected 'symbol x y z', got {line!r}")
    try:
        symbol = SYMBOLS[atomic_number(fields[0])]
    except ValueError as error:
        raise ValueError(f"line {number}: {error}") from None
    return symbol, tuple(_parse_coordinate(number, line, field) for field in fields[1:])


def _parse_coordinate(number, line, field):
    try:
        value = float(field)
    except ValueError:
        raise ValueError(f"line {number}: non-numeric coordinate {field!r} in {line!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"line {number}: coordinate {field!r} is not finite in {line!r}")
    return value
