"""Tests for dftjax.molecule and dftjax.io.xyz: validation, units, XYZ, nuclear repulsion."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dftjax.elements import ANGSTROM_TO_BOHR
from dftjax.io import parse_xyz, write_xyz
from dftjax.molecule import Molecule, nuclear_repulsion_energy

WATER_SYMBOLS = ("O", "H", "H")
WATER_ANGSTROM = [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]]
WATER_PYSCF = "O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692"
WATER_XYZ = """3
water, Angstrom
O    0.0000   0.0000   0.1173
H    0.0000   0.7572  -0.4692
H    0.0000  -0.7572  -0.4692
"""

# PySCF 2.14.0: gto.M(atom=WATER_PYSCF, unit="angstrom").energy_nuc()
WATER_NUCLEAR_REPULSION = 9.189533762934902
# PySCF 2.14.0: gto.M(atom=WATER_PYSCF, unit="angstrom").atom_coords().tolist()
WATER_BOHR_PYSCF = [
    [0.0, 0.0, 0.22166487441148175],
    [0.0, 1.4309006215206648, -0.886659497645927],
    [0.0, -1.4309006215206648, -0.886659497645927],
]
# The energy is a sum of three terms of size ~1-8 Ha, each good to a few ulp (~1e-15);
# 1e-12 leaves room for summation order while catching any real geometry or unit error.
ENERGY_TOLERANCE = 1e-12


@pytest.fixture
def water():
    return Molecule(WATER_SYMBOLS, WATER_ANGSTROM)


# --- construction and attributes -------------------------------------------------


def test_attributes(water):
    assert water.symbols == ("O", "H", "H")
    assert water.atomic_numbers.dtype == np.int64
    np.testing.assert_array_equal(water.atomic_numbers, [8, 1, 1])
    assert water.coordinates.dtype == np.float64
    assert water.coordinates.shape == (3, 3)
    assert (water.natom, water.nelectron, water.nalpha, water.nbeta) == (3, 10, 5, 5)
    assert (water.charge, water.multiplicity) == (0, 1)


def test_symbols_are_made_canonical():
    molecule = Molecule(["o", "1", 1], WATER_ANGSTROM)
    assert molecule.symbols == ("O", "H", "H")


@pytest.mark.parametrize(
    "symbols, charge, multiplicity, nelectron, nalpha, nbeta",
    [
        (("O", "O"), 0, 3, 16, 9, 7),
        (WATER_SYMBOLS, 1, 2, 9, 5, 4),
        (WATER_SYMBOLS, -1, 2, 11, 6, 5),
        (("N", "N"), 0, 7, 14, 10, 4),
    ],
)
def test_electron_counts(symbols, charge, multiplicity, nelectron, nalpha, nbeta):
    coordinates = [[0.0, 0.0, 0.0], [0.0, 0.0, 1.2], [0.0, 1.0, 0.0]][: len(symbols)]
    molecule = Molecule(symbols, coordinates, charge=charge, multiplicity=multiplicity)
    assert (molecule.nelectron, molecule.nalpha, molecule.nbeta) == (nelectron, nalpha, nbeta)
    assert molecule.nalpha - molecule.nbeta == multiplicity - 1


def test_bare_proton_has_no_electrons():
    proton = Molecule(["H"], [[0.0, 0.0, 0.0]], charge=1)
    assert (proton.nelectron, proton.nalpha, proton.nbeta) == (0, 0, 0)
    assert proton.nuclear_repulsion() == 0.0


def test_numpy_integer_charge_and_multiplicity_become_python_ints():
    molecule = Molecule(WATER_SYMBOLS, WATER_ANGSTROM, charge=np.int64(1), multiplicity=np.int32(2))
    assert type(molecule.charge) is int and type(molecule.multiplicity) is int


def test_coordinates_are_a_read_only_copy():
    coordinates = np.array(WATER_ANGSTROM)
    molecule = Molecule(WATER_SYMBOLS, coordinates, unit="bohr")
    coordinates[0, 0] = 5.0
    assert molecule.coordinates[0, 0] == 0.0
    with pytest.raises(ValueError):
        molecule.coordinates[0, 0] = 1.0


# --- validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(symbols=["O", "Xx", "H"]), r"unknown element 'Xx'"),
        (dict(symbols="OHH"), r"sequence of element symbols"),
        (dict(symbols=[], coordinates=np.zeros((0, 3))), r"at least one atom"),
        (dict(symbols=["O", "H"]), r"shape \(natom, 3\) = \(2, 3\).*got \(3, 3\)"),
        (dict(coordinates=[0.0, 0.0, 0.0]), r"shape \(natom, 3\) = \(3, 3\).*got \(3,\)"),
        (dict(coordinates=np.zeros((3, 2))), r"got \(3, 2\)"),
        (dict(coordinates=[[0, 0, 0], [0, 0, np.nan], [0, 0, 1]]), r"atom 1 \(H\) are not finite"),
        (dict(coordinates=[[0, 0, 0], [0, 0, 1], [np.inf, 0, 1]]), r"atom 2 \(H\) are not finite"),
        (dict(symbols=["H", "H"], coordinates=[[0, 0, 0], [0, 0, 0]]),
         r"atoms 0 \(H\) and 1 \(H\) are 0\.0000 Bohr apart"),
        (dict(coordinates=[[0, 0, 0], [0, 0, 1], [0, 0, 1.0001]]),
         r"atoms 1 \(H\) and 2 \(H\) are 0\.0002 Bohr apart"),
        (dict(unit="nm"), r"unknown unit 'nm'"),
        (dict(unit=1.0), r"unknown unit 1\.0"),
        (dict(charge=0.5), r"charge must be an integer, got 0\.5"),
        (dict(charge=1.0), r"charge must be an integer, got 1\.0"),
        (dict(charge=True), r"charge must be an integer, got True"),
        (dict(multiplicity=2.0), r"multiplicity must be an integer, got 2\.0"),
        (dict(multiplicity=0), r"multiplicity must be at least 1, got 0"),
        (dict(multiplicity=-1), r"multiplicity must be at least 1, got -1"),
        (dict(charge=11), r"charge 11 leaves a negative number of electrons \(-1\)"),
        (dict(charge=1), r"multiplicity 1 impossible with 9 electrons"),
        (dict(multiplicity=2), r"multiplicity 2 impossible with 10 electrons"),
        (dict(multiplicity=13), r"multiplicity 13 needs 12 unpaired electrons but there are only 10"),
        (dict(charge=10, multiplicity=3), r"multiplicity 3 needs 2 unpaired electrons but there are only 0"),
    ],
)
def test_invalid_input_raises_clear_value_error(kwargs, message):
    arguments = dict(symbols=WATER_SYMBOLS, coordinates=WATER_ANGSTROM) | kwargs
    with pytest.raises(ValueError, match=message):
        Molecule(**arguments)


def test_separation_is_checked_in_bohr():
    # 0.0008 Angstrom is 0.0015 Bohr: allowed in Angstrom, rejected when read as Bohr.
    coordinates = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0008]]
    Molecule(["H", "H"], coordinates, unit="angstrom")
    with pytest.raises(ValueError, match=r"0\.0008 Bohr apart"):
        Molecule(["H", "H"], coordinates, unit="bohr")


# --- units ---------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["angstrom", "Angstrom", "ANGSTROM", "ang", "Ang", "A", "a"])
def test_angstrom_input_is_converted_to_bohr(unit):
    molecule = Molecule(["He"], [[1.0, -2.0, 0.5]], unit=unit)
    np.testing.assert_array_equal(
        molecule.coordinates, [[ANGSTROM_TO_BOHR, -2.0 * ANGSTROM_TO_BOHR, 0.5 * ANGSTROM_TO_BOHR]]
    )


@pytest.mark.parametrize("unit", ["bohr", "Bohr", "BOHR", "b", "B", "au", "AU"])
def test_bohr_input_is_kept(unit):
    molecule = Molecule(["He"], [[1.0, -2.0, 0.5]], unit=unit)
    np.testing.assert_array_equal(molecule.coordinates, [[1.0, -2.0, 0.5]])


def test_coordinates_agree_with_pyscf_bit_for_bit(water):
    np.testing.assert_array_equal(water.coordinates, WATER_BOHR_PYSCF)


# --- XYZ -----------------------------------------------------------------------


def test_from_xyz_standard_text(water):
    molecule = Molecule.from_xyz(WATER_XYZ)
    assert molecule.symbols == water.symbols
    np.testing.assert_array_equal(molecule.coordinates, water.coordinates)


@pytest.mark.parametrize(
    "text",
    [
        WATER_PYSCF,
        "O 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692",
        "\n  # water\n o  0, 0, 0.1173 ;\n\n1 0 0.7572 -0.4692;H\t0 -0.7572 -0.4692\n",
        "3\n\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n\n\n",
    ],
)
def test_from_xyz_accepts_bare_and_pyscf_style_text(text, water):
    molecule = Molecule.from_xyz(text)
    assert molecule.symbols == water.symbols
    np.testing.assert_array_equal(molecule.coordinates, water.coordinates)


def test_from_xyz_single_atom_line():
    molecule = Molecule.from_xyz("He 0 0 0")
    assert molecule.symbols == ("He",)


@pytest.mark.parametrize("as_path", [str, pathlib.Path])
def test_from_xyz_file(tmp_path, as_path, water):
    path = tmp_path / "water.xyz"
    path.write_text(WATER_XYZ)
    molecule = Molecule.from_xyz(as_path(path), charge=1, multiplicity=2)
    np.testing.assert_array_equal(molecule.coordinates, water.coordinates)
    assert (molecule.charge, molecule.multiplicity) == (1, 2)


def test_from_xyz_in_bohr():
    molecule = Molecule.from_xyz("H 0 0 0; H 0 0 1.4", unit="bohr")
    np.testing.assert_array_equal(molecule.coordinates, [[0, 0, 0], [0, 0, 1.4]])


def test_from_xyz_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Molecule.from_xyz(str(tmp_path / "missing.xyz"))
    with pytest.raises(FileNotFoundError):
        Molecule.from_xyz(tmp_path / "missing.xyz")


def test_xyz_string_round_trip(water):
    text = water.to_xyz(comment="water")
    assert text.splitlines()[:2] == ["3", "water"]
    again = Molecule.from_xyz(text)
    assert again.symbols == water.symbols
    # to_xyz writes 12 decimals of Angstrom.
    np.testing.assert_allclose(again.coordinates, water.coordinates, rtol=0, atol=1e-11)


def test_xyz_file_round_trip(tmp_path, water):
    path = tmp_path / "out.xyz"
    path.write_text(water.to_xyz())
    again = Molecule.from_xyz(path)
    np.testing.assert_allclose(again.coordinates, water.coordinates, rtol=0, atol=1e-11)


def test_to_xyz_is_in_angstrom(water):
    _, coordinates = parse_xyz(water.to_xyz())
    np.testing.assert_allclose(coordinates, WATER_ANGSTROM, rtol=0, atol=1e-12)


def test_parse_write_round_trip():
    symbols, coordinates = parse_xyz(write_xyz(WATER_SYMBOLS, WATER_ANGSTROM, "c"))
    assert symbols == WATER_SYMBOLS
    assert coordinates.dtype == np.float64 and coordinates.shape == (3, 3)
    np.testing.assert_array_equal(coordinates, WATER_ANGSTROM)


def test_write_xyz_rejects_multiline_comment_and_bad_shape():
    with pytest.raises(ValueError, match="single line"):
        write_xyz(WATER_SYMBOLS, WATER_ANGSTROM, "two\nlines")
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        write_xyz(("O", "H"), WATER_ANGSTROM)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"holds no atoms"),
        ("\n  \n# only a comment\n", r"holds no atoms"),
        ("4\ncomment\nH 0 0 0\nH 0 0 1\n", r"line 1: count line says 4 atoms but 2 atom lines"),
        ("\n1\ncomment\nH 0 0 0\nH 0 0 1\n", r"line 2: count line says 1 atoms but 2 atom lines"),
        ("0\ncomment\n", r"line 1: atom count must be positive, got 0"),
        ("2\ncomment\nH 0 0 0\nH 0 zero 1\n", r"line 4: non-numeric coordinate 'zero'"),
        ("2\ncomment\nH 0 0 0\nH 0 0\n", r"line 4: expected 'symbol x y z', got 'H 0 0'"),
        ("2\ncomment\nH 0 0 0\nH 0 0 1 5\n", r"line 4: expected 'symbol x y z'"),
        ("H 0 0 0; Q 0 0 1", r"line 1: unknown element 'Q'"),
        ("H 0 0 0\nH 0 0 nan", r"line 2: coordinate 'nan' is not finite"),
        ("H 0 0 0\n\nH 0 0 1e400", r"line 3: coordinate '1e400' is not finite"),
    ],
)
def test_malformed_xyz_names_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        parse_xyz(text)


# --- nuclear repulsion ---------------------------------------------------------


def test_water_nuclear_repulsion_matches_pyscf(water):
    assert abs(water.nuclear_repulsion() - WATER_NUCLEAR_REPULSION) < ENERGY_TOLERANCE
    assert isinstance(water.nuclear_repulsion(), float)


def test_nuclear_repulsion_of_h2_is_one_over_distance():
    molecule = Molecule(["H", "H"], [[0, 0, 0], [0, 0, 1.4]], unit="bohr")
    assert molecule.nuclear_repulsion() == pytest.approx(1 / 1.4, rel=1e-15)


def test_single_atom_has_zero_repulsion_and_finite_gradient():
    gradient = jax.grad(nuclear_repulsion_energy, argnums=1)(jnp.array([2.0]), jnp.zeros((1, 3)))
    np.testing.assert_array_equal(gradient, np.zeros((1, 3)))


def test_gradient_is_finite(water):
    gradient = jax.grad(nuclear_repulsion_energy, argnums=1)(water.atomic_numbers, water.coordinates)
    assert np.all(np.isfinite(gradient))


def test_gradient_matches_central_finite_differences(water):
    energy = jax.jit(nuclear_repulsion_energy)
    gradient = np.asarray(jax.grad(energy, argnums=1)(water.atomic_numbers, water.coordinates))
    step = 1e-4  # Bohr; central differences err by ~step**2 * E''' / 6, about 1e-9 relative here.
    finite_difference = np.zeros_like(gradient)
    for index in np.ndindex(gradient.shape):
        displacement = np.zeros_like(gradient)
        displacement[index] = step
        plus = energy(water.atomic_numbers, water.coordinates + displacement)
        minus = energy(water.atomic_numbers, water.coordinates - displacement)
        finite_difference[index] = (plus - minus) / (2 * step)
    np.testing.assert_allclose(gradient, finite_difference, rtol=1e-6, atol=1e-6 * np.abs(gradient).max())


def test_gradient_with_respect_to_a_molecule_is_a_molecule(water):
    gradient = jax.grad(lambda molecule: molecule.nuclear_repulsion_jax())(water)
    assert isinstance(gradient, Molecule)
    assert gradient.symbols == water.symbols
    expected = jax.grad(nuclear_repulsion_energy, argnums=1)(water.atomic_numbers, water.coordinates)
    np.testing.assert_array_equal(gradient.coordinates, expected)
    # Newton's third law: internal forces sum to zero.
    np.testing.assert_allclose(np.sum(gradient.coordinates, axis=0), 0.0, atol=1e-13)


# --- pytree and jit ------------------------------------------------------------


def test_pytree_leaves_are_the_coordinates(water):
    leaves, treedef = jax.tree_util.tree_flatten(water)
    assert len(leaves) == 1 and leaves[0] is water.coordinates
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert (rebuilt.symbols, rebuilt.charge, rebuilt.multiplicity) == (water.symbols, 0, 1)
    np.testing.assert_array_equal(rebuilt.atomic_numbers, water.atomic_numbers)


def test_unflatten_does_not_validate(water):
    _, treedef = jax.tree_util.tree_flatten(water)
    placeholder = object()
    assert jax.tree_util.tree_unflatten(treedef, [placeholder]).coordinates is placeholder


def test_jit_is_not_retraced_for_a_new_geometry(water):
    traces = []

    @jax.jit
    def energy(molecule):
        traces.append(None)
        return molecule.nuclear_repulsion_jax()

    stretched = water.with_coordinates(water.coordinates * 1.05)
    assert float(energy(water)) == pytest.approx(WATER_NUCLEAR_REPULSION, abs=ENERGY_TOLERANCE)
    assert float(energy(stretched)) == pytest.approx(WATER_NUCLEAR_REPULSION / 1.05, rel=1e-14)
    assert len(traces) == 1


def test_jit_of_coordinates_is_not_retraced_for_a_new_geometry(water):
    traces = []

    @jax.jit
    def energy(coordinates):
        traces.append(None)
        return water.with_coordinates(coordinates).nuclear_repulsion_jax()

    energy(water.coordinates)
    energy(water.coordinates + 0.1)
    assert len(traces) == 1


def test_different_molecules_are_different_static_structure(water):
    traces = []

    @jax.jit
    def energy(molecule):
        traces.append(None)
        return molecule.nuclear_repulsion_jax()

    energy(water)
    energy(Molecule(WATER_SYMBOLS, WATER_ANGSTROM, charge=1, multiplicity=2))
    assert len(traces) == 2


# --- with_coordinates and repr -------------------------------------------------


def test_with_coordinates_keeps_everything_else():
    cation = Molecule(WATER_SYMBOLS, WATER_ANGSTROM, charge=1, multiplicity=2)
    moved = cation.with_coordinates(cation.coordinates + 1.0)
    assert (moved.symbols, moved.charge, moved.multiplicity) == (cation.symbols, 1, 2)
    np.testing.assert_array_equal(moved.coordinates, cation.coordinates + 1.0)
    assert moved.nuclear_repulsion() == pytest.approx(cation.nuclear_repulsion(), rel=1e-14)


def test_with_coordinates_is_in_bohr_and_validates(water):
    moved = water.with_coordinates(WATER_ANGSTROM)
    np.testing.assert_array_equal(moved.coordinates, WATER_ANGSTROM)
    with pytest.raises(ValueError, match=r"got \(2, 3\)"):
        water.with_coordinates(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="not finite"):
        water.with_coordinates(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match=r"atoms 0 \(O\) and 1 \(H\)"):
        water.with_coordinates(np.zeros((3, 3)))


def test_with_coordinates_checks_shape_of_traced_coordinates(water):
    with pytest.raises(ValueError, match=r"got \(2, 3\)"):
        jax.jit(lambda coordinates: water.with_coordinates(coordinates).nuclear_repulsion_jax())(
            jnp.zeros((2, 3))
        )


def test_repr_round_trips(water):
    text = repr(water)
    assert text.startswith("Molecule(symbols=('O', 'H', 'H'), coordinates=[[")
    again = eval(text, {"Molecule": Molecule})
    np.testing.assert_array_equal(again.coordinates, water.coordinates)
    assert (again.symbols, again.charge, again.multiplicity) == (water.symbols, 0, 1)


# --- live cross-check ----------------------------------------------------------


@pytest.mark.live
def test_matches_live_pyscf(water):
    gto = pytest.importorskip("pyscf.gto")
    reference = gto.M(atom=WATER_PYSCF, unit="angstrom")
    np.testing.assert_array_equal(water.coordinates, reference.atom_coords())
    assert abs(water.nuclear_repulsion() - reference.energy_nuc()) < ENERGY_TOLERANCE
