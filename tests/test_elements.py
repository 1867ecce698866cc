"""Tests for dftjax.elements: symbols, atomic numbers, multiplicities, unit constants."""

import numpy as np
import pytest

from dftjax.elements import (
    ANGSTROM_TO_BOHR,
    BOHR_TO_ANGSTROM,
    GROUND_STATE_MULTIPLICITY,
    MAX_ATOMIC_NUMBER,
    SYMBOLS,
    atomic_number,
)


def test_symbols_are_indexed_by_atomic_number():
    assert len(SYMBOLS) == 119
    assert MAX_ATOMIC_NUMBER == 118
    assert (SYMBOLS[1], SYMBOLS[2], SYMBOLS[6], SYMBOLS[26], SYMBOLS[36]) == ("H", "He", "C", "Fe", "Kr")
    assert (SYMBOLS[54], SYMBOLS[79], SYMBOLS[92], SYMBOLS[118]) == ("Xe", "Au", "U", "Og")
    assert len(set(SYMBOLS)) == len(SYMBOLS)


@pytest.mark.parametrize(
    "element, number",
    [("h", 1), ("H", 1), ("He", 2), ("HE", 2), ("he", 2), (" O ", 8), ("og", 118),
     (8, 8), (np.int64(26), 26), ("8", 8), (" 118 ", 118)],
)
def test_atomic_number_accepts_symbols_and_numbers(element, number):
    assert atomic_number(element) == number


@pytest.mark.parametrize("element", ["Xx", "X", "", "D", "1.5", "-1", 0, 119, -1, "0", 8.0, True, None])
def test_atomic_number_rejects_anything_else(element):
    with pytest.raises(ValueError, match="unknown element"):
        atomic_number(element)


def test_unknown_element_message_names_it():
    with pytest.raises(ValueError, match=r"unknown element 'Xx'"):
        atomic_number("Xx")


def test_every_symbol_maps_back_to_its_number():
    for number, symbol in enumerate(SYMBOLS[1:], start=1):
        assert atomic_number(symbol) == number
        assert atomic_number(symbol.upper()) == number


def test_ground_state_multiplicities():
    expected = [2, 1, 2, 1, 2, 3, 4, 3, 2, 1, 2, 1, 2, 3, 4, 3, 2, 1,
                2, 1, 2, 3, 4, 7, 6, 5, 4, 3, 2, 1, 2, 3, 4, 3, 2, 1]
    assert dict(GROUND_STATE_MULTIPLICITY) == dict(enumerate(expected, start=1))


def test_ground_state_multiplicities_are_possible_for_the_neutral_atom():
    for number, multiplicity in GROUND_STATE_MULTIPLICITY.items():
        assert (number + multiplicity - 1) % 2 == 0
        assert multiplicity - 1 <= number


def test_ground_state_multiplicity_table_is_read_only():
    with pytest.raises(TypeError):
        GROUND_STATE_MULTIPLICITY[1] = 1


def test_length_constants_are_pyscf_bohr_radius():
    # pyscf.data.nist.BOHR (CODATA 2010), Angstrom per Bohr; PySCF multiplies Angstrom
    # input by 1/BOHR, so using the same expression gives bit-identical coordinates.
    assert BOHR_TO_ANGSTROM == 0.52917721092
    assert ANGSTROM_TO_BOHR == 1 / 0.52917721092


@pytest.mark.live
def test_length_constants_match_installed_pyscf():
    nist = pytest.importorskip("pyscf.data.nist")
    assert BOHR_TO_ANGSTROM == nist.BOHR
