"""Freeze PySCF Kohn-Sham energies (molecules and atoms H..Ar) for the tests.

Run from the repository root (needs pyscf with libxc and basis-set-exchange):

    python tests/data/make_ks_reference.py
    python tests/data/make_ks_reference.py --add-missing   # only cases the file lacks

Writes tests/data/ks_reference.json, read by tests/test_ks_energies.py (key
``molecules``) and tests/test_ks_atoms.py (key ``atoms``). The tests never import PySCF.

PySCF gets exactly what dftjax computes with: each element's basis from
basis-set-exchange in NWChem format, parsed by ``gto.basis.parse`` on its own; the same
Angstrom coordinates; ``dft.RKS``/``dft.UKS`` with ``mf.xc`` the same functional name and
``mf.grids.level`` the same grid level (all other grid settings default: Treutler-Ahlrichs
radial, Lebedev angular, Becke partition with atomic-size adjustment, NWChem pruning),
at ``mf.conv_tol = 1e-11``.

Two energies per case:
  energy             ``mf.small_rho_cutoff = 0``: every grid point kept, as dftjax keeps
                     them; this is the exact comparison (and PySCF 2.14's own default).
  energy_cutoff_1e-7 ``mf.small_rho_cutoff = 1e-7``, the cutoff PySCF's RKS/UKS used by
                     default in earlier versions (pyscf 2.14 defaults to 0): grid points
                     of negligible density are dropped after the first cycle. Started
                     from the cutoff-0 density so that it lands in the same state;
                     recorded to show the size of that effect, not compared.

Per case also: symbols, coords (Angstrom), basis, charge, multiplicity, unrestricted, xc,
grid_level, nao, ngrid (PySCF's grid points without its zero-weight padding, which
dftjax does not add), xc_energy (the grid XC energy, Ha, at PySCF's converged density:
``ni.nr_rks``/``nr_uks``, so without the exact-exchange part that PySCF's
``scf_summary['exc']`` includes for hybrids; dftjax's ``result.xc_energy`` is the same
grid-only quantity), iterations (PySCF's SCF cycles), converged, s2 (unrestricted), and
a stability note and the solver (DIIS, or DIIS finished by ``mf.newton()`` where DIIS
stalled).

Stability (PySCF ``mf.stability(external=False)``, checked for every unrestricted case):
the reference is an internally stable state. If the state PySCF's default path
converges to is an internal saddle point, the instability is followed (up to 10 times)
and the stable state's energy becomes ``energy``; the default-path energy is kept as
energy_default_path and the note says so. For open shells with a degenerate, partly
filled shell (OH's pi^3, open-shell atoms) the states found are orientations of the hole
or particle, whose energies the grid's anisotropy spreads by ~1e-7 Ha (OH, B, C, Al; O
and F see below), with several local minima; which one PySCF reaches can change from run
to run (threaded sums), so rerunning this script moves those references by up to a few
1e-7 Ha, well inside the tests' 1e-6 Ha.

Atoms also record energy_axis: the same state with its open-shell orbitals along the
Cartesian axes (PySCF with ``mol.symmetry = True``), the orientation a symmetric start
reaches; for O and F it lies ~1.1e-6 Ha above the stable orientation at grid level 3
(for O, measured once by hand, also 1.6e-6 and 1.0e-6 at levels 5 and 7), for the other
atoms within 1e-7. Where the two differ by more than 1e-8 Ha, the axis state's density
is rotated rigidly (fitted to the stable density) and evaluated on the same grid without
iterating: energy_axis_rotated_to_stable, with rotation_fit_residual the Frobenius
misfit. That energy equals the stable one to 3e-11 Ha or better (B, C, O, F, Al): the
gap is the Lebedev grid's anisotropy alone, not a different electronic state.
"""

import json
import os
import sys
import time

import basis_set_exchange
import numpy as np
from pyscf import dft, gto

HERE = os.path.dirname(os.path.abspath(__file__))
CONV_TOL = 1e-11

WATER = [("O", (0.0, 0.0, 0.1173)), ("H", (0.0, 0.7572, -0.4692)),
         ("H", (0.0, -0.7572, -0.4692))]
AMMONIA = [("N", (0.000, 0.010, 0.110)), ("H", (0.940, 0.020, -0.270)),
           ("H", (-0.470, 0.820, -0.260)), ("H", (-0.480, -0.800, -0.280))]
METHANE = [("C", (0.0, 0.0, 0.0)), ("H", (0.6287, 0.6287, 0.6287)),
           ("H", (-0.6287, -0.6287, 0.6287)), ("H", (-0.6287, 0.6287, -0.6287)),
           ("H", (0.6287, -0.6287, -0.6287))]
OH = [("O", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, 0.97))]
O2 = [("O", (0.0, 0.0, 0.0)), ("O", (0.0, 0.0, 1.21))]
# NH2: r(NH) 1.024 A, angle 103.4 deg; CH2 (triplet): r(CH) 1.078 A, angle 134 deg
# NO radical: r(NO) 1.1508 A
NO = [("N", (0.0, 0.0, 0.0)), ("O", (0.0, 0.0, 1.1508))]
NH2 = [("N", (0.0, 0.0, 0.0)), ("H", (0.0, 0.8013, -0.6376)), ("H", (0.0, -0.8013, -0.6376))]
CH2 = [("C", (0.0, 0.0, 0.0)), ("H", (0.0, 0.9923, -0.4212)), ("H", (0.0, -0.9923, -0.4212))]

# name -> (atoms, basis, xc, charge, multiplicity, unrestricted, grid_level)
MOLECULES = {
    # closed shell RKS
    "water_def2svp_b3lyp": (WATER, "def2-svp", "b3lyp", 0, 1, False, 3),
    "water_def2svp_pbe": (WATER, "def2-svp", "pbe", 0, 1, False, 3),
    "water_def2svp_pbe0": (WATER, "def2-svp", "pbe0", 0, 1, False, 3),
    "water_def2svp_svwn": (WATER, "def2-svp", "svwn", 0, 1, False, 3),
    "water_def2svp_blyp": (WATER, "def2-svp", "blyp", 0, 1, False, 3),
    "nh3_631gs_b3lyp": (AMMONIA, "6-31g*", "b3lyp", 0, 1, False, 3),
    "ch4_631g_pbe": (METHANE, "6-31g", "pbe", 0, 1, False, 3),
    # meta-GGAs and range-separated hybrids
    "water_631g_r2scan": (WATER, "6-31g", "r2scan", 0, 1, False, 3),
    "water_631g_m06-l": (WATER, "6-31g", "m06-l", 0, 1, False, 3),
    "water_631g_tpss": (WATER, "6-31g", "tpss", 0, 1, False, 3),
    "water_631g_scan": (WATER, "6-31g", "scan", 0, 1, False, 3),
    "water_631g_tpssh": (WATER, "6-31g", "tpssh", 0, 1, False, 3),
    "water_631g_m06-2x": (WATER, "6-31g", "m06-2x", 0, 1, False, 3),
    "water_631g_wb97x": (WATER, "6-31g", "wb97x", 0, 1, False, 3),
    "water_631g_cam-b3lyp": (WATER, "6-31g", "cam-b3lyp", 0, 1, False, 3),
    # open shell UKS
    "oh_def2svp_b3lyp": (OH, "def2-svp", "b3lyp", 0, 2, True, 3),
    "oh_def2svp_pbe": (OH, "def2-svp", "pbe", 0, 2, True, 3),
    "o2_triplet_631g_b3lyp": (O2, "6-31g", "b3lyp", 0, 3, True, 3),
    "nh2_631g_r2scan": (NH2, "6-31g", "r2scan", 0, 2, True, 3),
    "nh2_631g_m06-l": (NH2, "6-31g", "m06-l", 0, 2, True, 3),
    "ch2_triplet_631g_pbe0": (CH2, "6-31g", "pbe0", 0, 3, True, 3),
    "nh2_631g_svwn": (NH2, "6-31g", "svwn", 0, 2, True, 3),
    "nh2_631g_wb97x": (NH2, "6-31g", "wb97x", 0, 2, True, 3),
    # no aufbau state is self-consistent (the occupied pi* lies above the empty one):
    # PySCF needs mf.newton(), dftjax the level-shifted rung of its retry ladder
    "no_631g_svwn": (NO, "6-31g", "svwn", 0, 2, True, 3),
    # grid levels
    "water_sto3g_b3lyp_grid0": (WATER, "sto-3g", "b3lyp", 0, 1, False, 0),
    "water_sto3g_b3lyp_grid1": (WATER, "sto-3g", "b3lyp", 0, 1, False, 1),
    "water_sto3g_b3lyp_grid5": (WATER, "sto-3g", "b3lyp", 0, 1, False, 5),
}

# Atoms H..Ar, UKS/B3LYP/6-31G (basis-set-exchange's 6-31G covers H..Kr), grid level 3,
# multiplicity as dftjax.elements.GROUND_STATE_MULTIPLICITY.
ATOM_SYMBOLS = ["H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne",
                "Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar"]
ATOM_MULTIPLICITY = [2, 1, 2, 1, 2, 3, 4, 3, 2, 1, 2, 1, 2, 3, 4, 3, 2, 1]
ATOM_BASIS = "6-31g"
ATOM_XC = "b3lyp"


def pyscf_basis(basis, symbols):
    """{symbol: parsed basis} with each element read from basis-set-exchange on its own."""
    return {s: gto.basis.parse(basis_set_exchange.get_basis(basis, elements=[s], fmt="nwchem"))
            for s in sorted(set(symbols))}


def pyscf_mol(atoms, basis, charge, multiplicity):
    symbols = [s for s, _ in atoms]
    return gto.M(atom=[[s, xyz] for s, xyz in atoms], unit="Angstrom",
                 basis=pyscf_basis(basis, symbols), charge=charge, spin=multiplicity - 1,
                 verbose=0)


def make_mf(mol, xc, unrestricted, grid_level, cutoff):
    mf = dft.UKS(mol) if unrestricted else dft.RKS(mol)
    mf.xc = xc
    mf.grids.level = grid_level
    mf.conv_tol = CONV_TOL
    mf.small_rho_cutoff = cutoff
    mf.max_cycle = 200
    return mf


def internal_instability(mf):
    """Orbitals after one internal stability check, and whether the state was stable."""
    mo = mf.stability(external=False)
    mo = mo[0] if isinstance(mo, tuple) else mo
    if isinstance(mo, (list, tuple)):
        mo = np.asarray(mo)
    stable = np.allclose(np.abs(np.asarray(mo)), np.abs(np.asarray(mf.mo_coeff)))
    return mo, stable


def follow_instability(mf, mo):
    """Follow internal instabilities from mf (up to 10 times); the stable mean field."""
    lower = mf.copy()
    for _ in range(10):
        dm = lower.make_rdm1(mo, lower.mo_occ)
        lower.kernel(dm0=dm)
        if not lower.converged:
            lower = lower.newton()
            lower.kernel(dm0=dm)
        assert lower.converged
        mo, stable = internal_instability(lower)
        if stable:
            break
    return lower, stable


def rotated_energy(mf, dm_from, dm_to):
    """Energy of dm_from rotated rigidly to best match dm_to (an atom at the origin with
    s and p functions only), and the residual |R dm_from R^T - dm_to| of that fit."""
    from scipy.optimize import minimize
    from scipy.spatial.transform import Rotation

    labels = mf.mol.ao_labels(fmt=False)
    assert all(shell[-1] in "sp" for _, _, shell, _ in labels), "s and p functions only"
    p_x = [i for i, (_, _, shell, comp) in enumerate(labels)
           if shell.endswith("p") and comp == "x"]

    def rotated(rotvec):
        U = np.eye(len(labels))
        R = Rotation.from_rotvec(rotvec).as_matrix()
        for i in p_x:  # PySCF p order x, y, z
            U[i:i + 3, i:i + 3] = R
        return np.array([U @ d @ U.T for d in dm_from])

    def misfit(rotvec):
        return np.sum((rotated(rotvec) - dm_to) ** 2)

    rng = np.random.default_rng(0)
    best = min((minimize(misfit, rng.uniform(-np.pi, np.pi, 3), method="Nelder-Mead",
                         options={"xatol": 1e-12, "fatol": 1e-24, "maxiter": 20000})
                for _ in range(20)), key=lambda r: r.fun)
    return float(mf.energy_tot(dm=rotated(best.x))), float(np.sqrt(best.fun))


def grid_xc_energy(mf, dm):
    ni = mf._numint
    if mf.istype("UKS"):
        return float(ni.nr_uks(mf.mol, mf.grids, mf.xc, dm)[1])
    return float(ni.nr_rks(mf.mol, mf.grids, mf.xc, dm)[1])


def reference(name, atoms, basis, xc, charge, multiplicity, unrestricted, grid_level,
              axis_state=False):
    start = time.perf_counter()
    mol = pyscf_mol(atoms, basis, charge, multiplicity)
    mf = make_mf(mol, xc, unrestricted, grid_level, 0.0)
    mf.kernel()
    cycles = int(mf.cycles)
    solver = "DIIS"
    if not mf.converged:
        # A partly filled degenerate shell (OH's pi^3) leaves a nearly flat direction, the
        # orientation of the hole, along which the grid's anisotropy moves the energy by
        # ~1e-7 Ha: DIIS can stall just above conv_tol_grad. Finish with second-order SCF
        # from where it stopped; that lands in the orientation of lowest energy.
        newton = make_mf(mol, xc, unrestricted, grid_level, 0.0).newton()
        newton.kernel(dm0=mf.make_rdm1())
        mf = newton
        cycles += int(mf.cycles)
        solver = "DIIS did not converge in 200 cycles; finished with mf.newton()"
    assert mf.converged, name
    entry = {
        "symbols": [s for s, _ in atoms], "coords": [list(xyz) for _, xyz in atoms],
        "basis": basis, "xc": xc, "charge": charge, "multiplicity": multiplicity,
        "unrestricted": unrestricted, "grid_level": grid_level, "nao": mol.nao,
        "ngrid": int(np.count_nonzero(mf.grids.atm_idx >= 0))
        if getattr(mf.grids, "atm_idx", None) is not None else int(mf.grids.weights.size),
        "converged": bool(mf.converged), "iterations": cycles, "solver": solver,
    }
    if unrestricted:
        mo, stable = internal_instability(mf)
        if stable:
            entry["stability"] = "default-path state is internally stable"
        else:
            lower, lower_stable = follow_instability(mf, mo)
            entry["energy_default_path"] = float(mf.e_tot)
            entry["stability"] = (
                f"default-path state (E = {mf.e_tot:.10f}) is an internal saddle point; "
                f"the reference is the state reached by following the instability "
                f"({'stable' if lower_stable else 'still unstable after 10 follows'})")
            mf = lower
    else:
        entry["stability"] = "restricted closed shell; not checked"
    dm = mf.make_rdm1()
    entry["energy"] = float(mf.e_tot)
    entry["xc_energy"] = grid_xc_energy(mf, dm)
    if unrestricted:
        entry["s2"] = float(mf.spin_square()[0])
    if axis_state:
        # The same state with its open-shell orbitals along the Cartesian axes, which is
        # where a symmetric or spherical start (dftjax's SAD guess) lands: PySCF with
        # point-group symmetry on. Rotating this state to the stable state's orientation
        # reproduces the stable energy to ~1e-10 Ha, so the two differ only by the
        # orientation relative to the Lebedev grid (up to ~1.2e-6 Ha for O).
        symmetric = mol.copy()
        symmetric.symmetry = True
        symmetric.build()
        axis = make_mf(symmetric, xc, unrestricted, grid_level, 0.0)
        axis.kernel()
        if not axis.converged:
            axis = make_mf(symmetric, xc, unrestricted, grid_level, 0.0).newton()
            axis.kernel()
        assert axis.converged, name
        assert abs(axis.e_tot - entry["energy"]) < 1e-5, (name, axis.e_tot, entry["energy"])
        entry["energy_axis"] = float(axis.e_tot)
        if abs(axis.e_tot - entry["energy"]) > 1e-8:
            e_rot, residual = rotated_energy(mf, axis.make_rdm1(), dm)
            entry["energy_axis_rotated_to_stable"] = e_rot
            entry["rotation_fit_residual"] = residual
    # the old default cutoff, from the converged density (same state)
    cut = make_mf(mol, xc, unrestricted, grid_level, 1e-7)
    cut.kernel(dm0=dm)
    if not cut.converged:
        cut = make_mf(mol, xc, unrestricted, grid_level, 1e-7).newton()
        cut.kernel(dm0=dm)
    assert cut.converged, name
    entry["energy_cutoff_1e-7"] = float(cut.e_tot)
    axis_note = (f" axis-state {entry['energy_axis'] - entry['energy']:+.1e}"
                 if axis_state else "")
    print(f"  {name}: nao={mol.nao} ngrid={entry['ngrid']} E={entry['energy']:.10f} "
          f"(cutoff 1e-7: {cut.e_tot - entry['energy']:+.1e}{axis_note}) "
          f"exc={entry['xc_energy']:.8f} "
          f"cycles={cycles} {time.perf_counter() - start:.1f}s [{entry['stability']}]",
          flush=True)
    return entry


def main():
    """All references; with ``--add-missing``, only the molecules the file lacks."""
    path = os.path.join(HERE, "ks_reference.json")
    add_missing = "--add-missing" in sys.argv[1:]
    out = {"molecules": {}, "atoms": {}}
    if add_missing:
        with open(path) as f:
            out = json.load(f)
    print(f"molecules (PySCF, conv_tol {CONV_TOL:g}):")
    for name, spec in MOLECULES.items():
        if name not in out["molecules"]:
            out["molecules"][name] = reference(name, *spec)
    print(f"atoms (PySCF UKS/{ATOM_XC}/{ATOM_BASIS}):")
    for symbol, multiplicity in zip(ATOM_SYMBOLS, ATOM_MULTIPLICITY):
        if symbol not in out["atoms"]:
            out["atoms"][symbol] = reference(symbol, [(symbol, (0.0, 0.0, 0.0))], ATOM_BASIS,
                                             ATOM_XC, 0, multiplicity, True, 3,
                                             axis_state=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
