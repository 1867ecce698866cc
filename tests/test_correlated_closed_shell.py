"""The spin-adapted closed-shell equations (dftjax/correlated/closed_shell.py).

They are the spin-orbital equations summed over spin, so both formulations give the same
MP2, CCSD and CCSD(T) energies for an RHF reference (to the amplitude convergence, far
below 1e-8 Ha) and match the frozen PySCF numbers of tests/data/correlated_reference.json
(made by tests/data/make_correlated_reference.py). Relaxed dipoles of the closed-shell path
are checked against finite fields in test_correlated_driver.py.
"""

import json

import pytest

import dftjax
from dftjax.correlated import run

from conftest import DATA_DIR

REFERENCE = json.loads((DATA_DIR / "correlated_reference.json").read_text())
# 1e-8 Ha against PySCF (exact integrals, convergence-limited; see test_correlated_driver);
# between the two formulations of the same equations only the amplitude convergence
# (energy change 1e-10 Ha, step norm 1e-8) separates them: 1e-9 Ha.
E_TOL = 1e-8
SAME_TOL = 1e-9


def test_closed_shell_equals_spin_orbitals_and_pyscf():
    ref = REFERENCE["h2o_sto3g"]
    mol = dftjax.Molecule(ref["symbols"], ref["coords"])
    closed = run(mol, basis=ref["basis"], method="ccsd(t)")
    spin = run(mol, method="ccsd(t)", reference=closed.scf, spin_adapted=False)
    closed_mp2 = run(mol, method="mp2", reference=closed.scf)
    spin_mp2 = run(mol, method="mp2", reference=closed.scf, spin_adapted=False)
    assert closed.converged and spin.converged and closed_mp2.converged and spin_mp2.converged
    for name in ("ccsd", "(t)"):
        assert abs(closed.components[name] - spin.components[name]) < SAME_TOL
    assert abs(closed_mp2.energy - spin_mp2.energy) < SAME_TOL
    assert abs(closed_mp2.energy - ref["e_mp2"]) < E_TOL
    assert abs(closed.scf_energy + closed.components["ccsd"] - ref["e_ccsd"]) < E_TOL
    assert abs(closed.energy - ref["e_ccsd_t"]) < E_TOL


def test_spin_adapted_needs_a_closed_shell():
    mol = dftjax.Molecule(["O"], [[0, 0, 0]], multiplicity=3)
    with pytest.raises(ValueError, match="spin_adapted=True needs a closed-shell"):
        run(mol, basis="sto-3g", method="mp2", spin_adapted=True)
