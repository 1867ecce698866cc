"""Periodic-table data and length-unit constants.

``SYMBOLS[Z]`` is the symbol of the element with atomic number ``Z`` (H = 1 ... Og = 118);
``SYMBOLS[0]`` is the placeholder ``"X"``, which is not an element.
``GROUND_STATE_MULTIPLICITY[Z]`` is the spin multiplicity 2S+1 of the neutral atom's
ground state for Z = 1 ... 36 (H ... Kr).

Lengths: ``ANGSTROM_TO_BOHR`` multiplies Angstrom into Bohr and ``BOHR_TO_ANGSTROM``
multiplies Bohr into Angstrom. The Bohr radius is PySCF's (``pyscf.data.nist.BOHR``,
CODATA 2010) and Angstrom input is converted the way PySCF converts it, so the same
geometry gives bit-identical coordinates in Bohr in both codes.
"""

import operator
from types import MappingProxyType

BOHR_TO_ANGSTROM = 0.52917721092
ANGSTROM_TO_BOHR = 1 / BOHR_TO_ANGSTROM

SYMBOLS = (
    "X",
    "H", "He",
    "Li", "Be", "B", "C", "N", "O", "F", "Ne",
    "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar",
    "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
    "Ga", "Ge", "As", "Se", "Br", "Kr",
    "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd",
    "In", "Sn", "Sb", "Te", "I", "Xe",
    "Cs", "Ba",
    "La", "Ce", "Pr", "Nd", "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
    "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg",
    "Tl", "Pb", "Bi", "Po", "At", "Rn",
    "Fr", "Ra",
    "Ac", "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr",
    "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn",
    "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
)

MAX_ATOMIC_NUMBER = len(SYMBOLS) - 1

# Hund's rules for the ground-state configurations; Cr (3d5 4s1) and Cu (3d10 4s1)
# are the exceptions to the Aufbau filling order in this range.
GROUND_STATE_MULTIPLICITY = MappingProxyType({
    1: 2, 2: 1,
    3: 2, 4: 1, 5: 2, 6: 3, 7: 4, 8: 3, 9: 2, 10: 1,
    11: 2, 12: 1, 13: 2, 14: 3, 15: 4, 16: 3, 17: 2, 18: 1,
    19: 2, 20: 1, 21: 2, 22: 3, 23: 4, 24: 7, 25: 6, 26: 5, 27: 4, 28: 3, 29: 2, 30: 1,
    31: 2, 32: 3, 33: 4, 34: 3, 35: 2, 36: 1,
})

_ATOMIC_NUMBER_BY_SYMBOL = {
    symbol.lower(): number for number, symbol in enumerate(SYMBOLS) if number > 0
}


def atomic_number(element):
    """Atomic number of an element given by symbol or number.

    Parameters
    ----------
    element : str or int
        A symbol in any letter case (``"h"``, ``"He"``, ``"HE"``), an integer, or a
        string holding an integer (``"8"``).

    Returns
    -------
    int
        The atomic number, 1 ... 118.

    Raises
    ------
    ValueError
        If ``element`` names no element.
    """
    number = _parse_atomic_number(element)
    if number is None or not 1 <= number <= MAX_ATOMIC_NUMBER:
        raise ValueError(f"unknown element {element!r}")
    return number


def _parse_atomic_number(element):
    """The integer that ``element`` stands for, or None if it is not one."""
    if isinstance(element, str):
        text = element.strip()
        if text.isdecimal():
            return int(text)
        return _ATOMIC_NUMBER_BY_SYMBOL.get(text.lower())
    if isinstance(element, bool):
        return None
    try:
        return operator.index(element)
    except TypeError:
        return None
