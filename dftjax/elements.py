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

# Standard atomic weights (amu) of H..Rn as IUPAC tabulates them (the values PySCF's
# harmonic analysis uses by default), for vibrational frequencies.
ATOMIC_MASSES = (
    0.0,
    1.008, 4.002602, 6.94, 9.0121831, 10.81, 12.011, 14.007, 15.999,
    18.998403163, 20.1797, 22.98976928, 24.305, 26.9815385, 28.085, 30.973761998, 32.06,
    35.45, 39.948, 39.0983, 40.078, 44.955908, 47.867, 50.9415, 51.9961,
    54.938044, 55.845, 58.933194, 58.6934, 63.546, 65.38, 69.723, 72.63,
    74.921595, 78.971, 79.904, 83.798, 85.4678, 87.62, 88.90584, 91.224,
    92.90637, 95.95, 97.90721, 101.07, 102.9055, 106.42, 107.8682, 112.414,
    114.818, 118.71, 121.76, 127.6, 126.90447, 131.293, 132.90545196, 137.327,
    138.90547, 140.116, 140.90766, 144.242, 144.91276, 150.36, 151.964, 157.25,
    158.92535, 162.5, 164.93033, 167.259, 168.93422, 173.054, 174.9668, 178.49,
    180.94788, 183.84, 186.207, 190.23, 192.217, 195.084, 196.966569, 200.592,
    204.38, 207.2, 208.9804, 208.98243, 209.98715, 222.01758,
)

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
