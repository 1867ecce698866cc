"""Tests of dftjax.build_basis: AO counts, order and labels, per-element bases, errors,
normalisation. AO counts are the textbook contractions of each basis (as PySCF counts
them with the same basis-set-exchange data)."""

import numpy as np
import pytest

import dftjax
from dftjax.integrals import one_electron_matrices

WATER = [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]]


@pytest.fixture(scope="module")
def water():
    return dftjax.Molecule(["O", "H", "H"], WATER)


@pytest.mark.parametrize(
    "basis, cartesian, nao",
    [
        ("sto-3g", False, 7),          # O 2s1p, H 1s
        ("6-31g", False, 13),          # O 3s2p, H 2s
        ("6-31g*", False, 18),         # O 3s2p1d (5d), H 2s
        ("6-31g*", True, 19),          # 6d
        ("cc-pvdz", False, 24),        # O 3s2p1d, H 2s1p
        ("cc-pvdz", True, 25),
        ("def2-svp", False, 24),
        ("aug-cc-pvdz", False, 41),    # O 4s3p2d, H 3s2p
    ],
)
def test_ao_counts(water, basis, cartesian, nao):
    b = dftjax.build_basis(water, basis, cartesian=cartesian)
    assert b.nao == nao
    assert b.cartesian is cartesian
    assert len(b.ao_labels()) == nao
    assert b.ao_atom.shape == (nao,)


def test_cartesian_counts_high_l():
    mol = dftjax.Molecule(["F"], [[0.0, 0.0, 0.0]], multiplicity=2)
    # F cc-pVTZ: 4s3p2d1f -> 4 + 9 + 2*5 + 7 = 30 spherical, 4 + 9 + 2*6 + 10 = 35 Cartesian
    assert dftjax.build_basis(mol, "cc-pvtz").nao == 30
    assert dftjax.build_basis(mol, "cc-pvtz", cartesian=True).nao == 35
    # Li cc-pVQZ: 5s4p3d2f1g -> 55 spherical, 5 + 12 + 18 + 20 + 15 = 70 Cartesian
    li = dftjax.Molecule(["Li"], [[0.0, 0.0, 0.0]], multiplicity=2)
    sph = dftjax.build_basis(li, "cc-pvqz")
    cart = dftjax.build_basis(li, "cc-pvqz", cartesian=True)
    assert sph.max_l == 4
    assert (sph.nao, cart.nao) == (55, 70)
    assert sph.nao == sum(2 * l + 1 for l in sph.shell_l)
    assert cart.nao == sum((l + 1) * (l + 2) // 2 for l in cart.shell_l)
    assert np.array_equal(sph.shell_l, cart.shell_l)


def test_labels_order(water):
    b = dftjax.build_basis(water, "6-31g*")
    labels = b.ao_labels()
    # AOs of an atom are contiguous, atoms in molecule order
    assert list(b.ao_atom) == sorted(b.ao_atom)
    assert b.atom_ao_ranges() == [(0, 14), (14, 16), (16, 18)]
    assert [lab.split()[1] for lab in labels] == ["O"] * 14 + ["H"] * 4
    # within an atom, shells by angular momentum: s s s, p p, d
    assert np.all(np.diff(b.shell_l[b.shell_atom == 0]) >= 0)
    suffixes = [lab.split()[2] for lab in labels[:14]]
    assert suffixes == ["s", "s", "s", "px", "py", "pz", "px", "py", "pz",
                        "d-2", "d-1", "d+0", "d+1", "d+2"]
    assert np.array_equal(b.ao_offset, np.concatenate([[0], np.cumsum(
        [2 * l + 1 for l in b.shell_l])]))


def test_cartesian_labels_order(water):
    b = dftjax.build_basis(water, "6-31g*", cartesian=True)
    suffixes = [lab.split()[2] for lab in b.ao_labels()[9:15]]
    assert suffixes == ["dxx", "dxy", "dxz", "dyy", "dyz", "dzz"]
    mol = dftjax.Molecule(["F"], [[0.0, 0.0, 0.0]], multiplicity=2)
    f_labels = [lab.split()[2] for lab in
                dftjax.build_basis(mol, "cc-pvtz", cartesian=True).ao_labels()[-10:]]
    assert f_labels == ["fxxx", "fxxy", "fxxz", "fxyy", "fxyz", "fxzz",
                        "fyyy", "fyyz", "fyzz", "fzzz"]


def test_per_element_dict(water):
    b = dftjax.build_basis(water, {"O": "6-31g", "H": "sto-3g"})
    assert b.nao == 9 + 1 + 1
    ref_o = dftjax.build_basis(dftjax.Molecule(["O"], [[0, 0, 0]], multiplicity=3), "6-31g")
    ref_h = dftjax.build_basis(dftjax.Molecule(["H"], [[0, 0, 0]], multiplicity=2), "sto-3g")
    n_o = ref_o.nshell
    for i in range(n_o):
        np.testing.assert_array_equal(b.exponents[i], ref_o.exponents[i])
        np.testing.assert_array_equal(b.coefficients[i], ref_o.coefficients[i])
    np.testing.assert_array_equal(b.exponents[n_o], ref_h.exponents[0])
    # a "default" entry covers the elements not named; keys in any letter case
    assert dftjax.build_basis(water, {"o": "6-31g", "default": "sto-3g"}).nao == 11
    assert dftjax.build_basis(water, {"H": "6-31g", "default": "sto-3g"}).nao == 5 + 2 + 2


def test_case_insensitive(water):
    lower = dftjax.build_basis(water, "sto-3g")
    upper = dftjax.build_basis(water, "STO-3G")
    assert upper.nao == lower.nao
    for a, b in zip(lower.exponents + lower.coefficients, upper.exponents + upper.coefficients):
        np.testing.assert_array_equal(a, b)
    assert dftjax.build_basis(water, "6-31G*").nao == dftjax.build_basis(water, "6-31g*").nao
    assert dftjax.build_basis(water, "CC-pVDZ").nao == 24


def test_error_unknown_basis(water):
    with pytest.raises(ValueError, match="no-such-basis"):
        dftjax.build_basis(water, "no-such-basis")


def test_error_element_not_in_basis():
    uranium = dftjax.Molecule(["U", "H"], [[0.0, 0.0, 0.0], [0.0, 0.0, 2.0]], multiplicity=4)
    with pytest.raises(ValueError, match=r"(?i)sto-3g.*\bU\b"):
        dftjax.build_basis(uranium, "sto-3g")


def test_error_element_missing_from_dict(water):
    with pytest.raises(ValueError, match=r"\bH\b"):
        dftjax.build_basis(water, {"O": "sto-3g"})


def test_error_ecp_element():
    rbh = dftjax.Molecule(["Rb", "H"], [[0.0, 0.0, 0.0], [0.0, 0.0, 2.3]])
    with pytest.raises(ValueError) as info:
        dftjax.build_basis(rbh, "def2-svp")
    message = str(info.value).lower()
    assert "rb" in message and ("ecp" in message or "effective core" in message)


def test_error_bad_basis_type(water):
    with pytest.raises(TypeError):
        dftjax.build_basis(water, 42)


def test_normalisation_spherical(water):
    # Contracted spherical functions are unit-normalised, for every l present (s, p, d).
    b = dftjax.build_basis(water, "6-31g*")
    overlap, _, _ = one_electron_matrices(b, water.coordinates)
    np.testing.assert_allclose(np.diag(np.asarray(overlap)), 1.0, rtol=0, atol=1e-12)


def test_basis_entries_are_stored_between_processes(tmp_path, monkeypatch):
    """An element's basis-set-exchange entry is stored on first read; a later process
    (here: the in-process memo cleared) reads it back without basis-set-exchange, and
    the shells are the same."""
    import basis_set_exchange

    from dftjax.basis import load

    monkeypatch.setattr(load, "store_directory", lambda name: tmp_path / name)
    load.element_shells.cache_clear()
    first = load.element_shells("def2-svp", "O")
    assert len(list((tmp_path / "dftjax-basis").iterdir())) == 1
    load.element_shells.cache_clear()

    def unreachable(*args, **kwargs):
        raise AssertionError("basis-set-exchange read again")

    monkeypatch.setattr(basis_set_exchange, "get_basis", unreachable)
    assert load.element_shells("def2-svp", "O") == first
    load.element_shells.cache_clear()
