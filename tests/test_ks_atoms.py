"""Atoms H..Ar, UKS/B3LYP/6-31G in their ground-state multiplicity, against PySCF.

tests/data/ks_reference.json (key ``atoms``) is made by tests/data/make_ks_reference.py:
PySCF UKS, ``xc = "b3lyp"``, grid level 3, conv_tol 1e-11, ``small_rho_cutoff = 0``,
basis-set-exchange's 6-31G (which covers H..Kr). Each reference ``energy`` is an
internally stable state (``mf.stability``); where PySCF's default path landed on a
saddle point the generator followed the instability and froze the stable state (see each
entry's ``stability``).

An open p shell (B, C, O, F, Al, Si, S, Cl) can point any way: every orientation is the
same state, but on a Lebedev grid (octahedral, not spherical) their energies differ
slightly, and the stable reference is the orientation the grid favours. For O and F,
dftjax's SAD start (a spherical density) lands, as PySCF with point-group symmetry does,
on orbitals along the Cartesian axes: a stationary orientation ~1.1e-6 Ha above the
stable one. So each atom also carries ``energy_axis`` (PySCF, ``mol.symmetry = True``),
and dftjax must match one of the two PySCF states to 1e-6 Ha. The generator checks that
the two are one state: the axis state's density rotated onto the stable one gives the
stable energy to ~1e-10 Ha (``energy_axis_rotated_to_stable``).

dftjax runs with its defaults (SAD guess, conv_tol 1e-9, grid level 3), unrestricted
for every atom as the reference is UKS. Each atom must converge and match.
Five atoms spanning the shells run by default (H; B and C, 2p^1 and 2p^2; O, 2p^4;
Na, 3s^1 over a neon core); the rest of H..Ar under ``-m slow``.
"""

import json
import time

import pytest

import dftjax
from dftjax.elements import GROUND_STATE_MULTIPLICITY, atomic_number

from conftest import DATA_DIR

# 1e-6 Ha, the project tolerance for matched grids. Same grid points and weights, same
# basis data and libxc-exact B3LYP: closed shells and half-filled shells (N, P) agree to
# ~1e-12 Ha. For open p shells dftjax may settle on a differently oriented but equivalent
# state; the energy along that nearly flat direction changes by ~1e-7 Ha (B, C, Al, ...)
# up to ~1.2e-6 Ha (O, F) with the grid's anisotropy: hence the two references above,
# each compared at 1e-6 Ha.
E_TOL = 1e-6

REFERENCE = json.loads((DATA_DIR / "ks_reference.json").read_text())["atoms"]
DEFAULT = {"H", "B", "C", "O", "Na"}
ATOMS = [s if s in DEFAULT else pytest.param(s, marks=pytest.mark.slow) for s in REFERENCE]


def test_reference_covers_h_to_ar_in_ground_state_multiplicity():
    assert [atomic_number(s) for s in REFERENCE] == list(range(1, 19))
    for symbol, ref in REFERENCE.items():
        assert ref["multiplicity"] == GROUND_STATE_MULTIPLICITY[atomic_number(symbol)], symbol
        assert (ref["basis"], ref["xc"], ref["grid_level"]) == ("6-31g", "b3lyp", 3)
        # the axis-oriented and stable references are one state in two orientations
        if "energy_axis_rotated_to_stable" in ref:
            assert abs(ref["energy_axis_rotated_to_stable"] - ref["energy"]) < 1e-8, symbol


@pytest.mark.parametrize("symbol", ATOMS)
def test_atom_uks_b3lyp(symbol):
    ref = REFERENCE[symbol]
    mol = dftjax.Molecule([symbol], [[0.0, 0.0, 0.0]], multiplicity=ref["multiplicity"])
    start = time.perf_counter()
    result = dftjax.scf(mol, basis=ref["basis"], xc=ref["xc"], unrestricted=True)
    energy = float(result.energy)
    errors = {"stable": energy - ref["energy"], "axis": energy - ref["energy_axis"]}
    state = min(errors, key=lambda key: abs(errors[key]))
    print(f"{symbol}: {time.perf_counter() - start:.1f} s, {result.iterations} iterations "
          f"(PySCF {ref['iterations']}), E = {energy:.10f}, error {errors['stable']:+.2e} Ha "
          f"to the stable state, {errors['axis']:+.2e} Ha to the axis state")
    assert result.converged, f"{symbol}: SCF did not converge"
    assert result.nao == ref["nao"]
    assert abs(errors[state]) < E_TOL, (
        f"{symbol}: E = {energy:.10f}, PySCF stable state {ref['energy']:.10f} "
        f"({ref['stability']}), axis state {ref['energy_axis']:.10f}: errors "
        f"{errors['stable']:.2e} and {errors['axis']:.2e} Ha")
