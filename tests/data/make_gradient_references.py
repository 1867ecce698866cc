"""Freeze PySCF nuclear gradients, optimised geometries and harmonic frequencies.

Run from the repository root (needs pyscf with libxc, geomeTRIC and basis-set-exchange):

    pip install geometric
    python tests/data/make_gradient_references.py

Writes tests/data/gradient_reference.json, read by the gradient and geometry-optimisation
tests (tests/test_optimize.py and the analytic-gradient tests). The tests never import
PySCF or geomeTRIC.

Conventions (as tests/data/make_ks_reference.py): PySCF gets exactly what dftjax computes
with: each element's basis from basis-set-exchange in NWChem format, parsed by
``gto.basis.parse`` on its own; the same coordinates, given in Angstrom (``coords`` in
every entry) and converted by PySCF's own factor, which dftjax uses too; spherical
functions; ``mf.small_rho_cutoff = 0`` (every grid point kept, as dftjax keeps them);
grid settings default apart from ``grids.level`` (Treutler-Ahlrichs radial, Lebedev
angular, Becke partition with atomic-size adjustment, NWChem pruning). SCF thresholds
``conv_tol = 1e-12``, ``conv_tol_grad = 1e-8`` (the gradient error is linear in the
orbital-gradient residual, so it is tightened beyond PySCF's sqrt(conv_tol)).

JSON layout (atomic units unless the key says otherwise):

``gradients``: name -> one single point at a distorted (non-equilibrium) geometry:
  symbols, coords (Angstrom), basis, xc ("hf" or a functional), charge, multiplicity,
  unrestricted, grid_level (null for HF), nao, energy (Ha), s2 (unrestricted),
  stability (UHF/UKS: PySCF's internal stability check; where the default path lands
  on a saddle point the instability is followed and the stable state is the reference,
  and the saddle point's energy_default_path, gradient_default_path and
  s2_default_path are kept too: O2 triplet/6-31G, where dftjax's SCF, which has no
  stability check yet, lands on the saddle point), solver and conv_tol_grad (DIIS, or
  DIIS finished by ``mf.newton()`` where DIIS stalls: UKS OH, whose pi^3 hole turns
  slowly on the anisotropic grid; there conv_tol_grad may be relaxed to 1e-6, which
  moves the gradient by ~3e-7 Ha/Bohr, measured once by hand between the DIIS-stalled
  and the Newton-converged states),
  gradient: dE/dR, (natom, 3) in Ha/Bohr, PySCF's sign convention (a gradient, not a
  force). For DFT ``gradient`` is with PySCF's grid response on
  (``g.grid_response = True``), the exact derivative of the energy on the moving grid
  that dftjax differentiates; ``gradient_no_grid_response`` is PySCF's default (grid
  weights and points held fixed), for diagnosis. DFT cases also hold
  ``gradient_finite_difference``: PySCF central differences of the energy, step
  ``fd_step_bohr``, which the grid-response gradient matches (``fd_max_abs_diff``) and
  the no-grid-response one does not.

``optimizations``: name -> a geomeTRIC minimisation (``pyscf.geomopt.geometric_solver``,
  internal coordinates, PySCF analytic gradients; DFT with grid response on) from
  ``coords_start`` (Angstrom) with the tight criteria in ``convergence``: coords
  (Angstrom, final), energy (Ha), gradient_max (max |dE/dR| at the final geometry,
  Ha/Bohr), distances ((natom, natom), Angstrom, every pair: compare geometries
  independently of rotation and translation), bonds [[i, j, length in Angstrom]],
  angles [[i, j, k, angle i-j-k in degrees]]. ``water_def2svp_b3lyp_no_grid_response``
  is the same optimisation with PySCF's default gradient, to show the size of that
  effect on the geometry.

``frequencies``: name -> harmonic analysis at an optimised geometry (the entry named by
  ``optimization``): PySCF's analytic RHF Hessian (``mf.Hessian()``), ``hessian``
  (natom, natom, 3, 3) Ha/Bohr^2, and ``pyscf.hessian.thermo.harmonic_analysis`` with
  translations and rotations projected out: frequencies_cm1 (ascending, 3N-6 values),
  with ``masses`` (amu, PySCF's isotope-averaged ``mol.atom_mass_list(isotope_avg=True)``).
"""

import contextlib
import os
import time

import basis_set_exchange
import geometric
import numpy as np
import pyscf
from pyscf import dft, gto, scf
from reference_json import write_reference
from pyscf.geomopt.geometric_solver import optimize
from pyscf.hessian import thermo

CONV_TOL = 1e-12
CONV_TOL_GRAD = 1e-8
FD_STEP = 1e-4  # Bohr

# Distorted geometries (Angstrom): no symmetry left that would zero most components.
WATER = [("O", (0.0, 0.02, 0.12)), ("H", (0.03, 0.80, -0.47)), ("H", (-0.02, -0.74, -0.44))]
AMMONIA = [("N", (0.000, 0.010, 0.110)), ("H", (0.940, 0.020, -0.270)),
           ("H", (-0.470, 0.820, -0.260)), ("H", (-0.480, -0.800, -0.280))]
OH = [("O", (0.0, 0.0, 0.0)), ("H", (0.26, 0.36, 0.92))]            # r = 1.022 A
O2 = [("O", (0.0, 0.0, 0.0)), ("O", (0.05, -0.03, 1.24))]          # r = 1.241 A
NH2 = [("N", (0.0, 0.0, 0.0)), ("H", (0.05, 0.80, -0.64)), ("H", (0.0, -0.85, -0.60))]
N2 = [("N", (0.0, 0.0, 0.0)), ("N", (0.02, 0.03, 1.12))]           # r = 1.121 A
HF_MOLECULE = [("F", (0.0, 0.0, 0.0)), ("H", (0.10, 0.20, 0.90))]  # r = 0.927 A
METHANE = [("C", (0.0, 0.0, 0.0)), ("H", (0.65, 0.62, 0.63)), ("H", (-0.60, -0.64, 0.66)),
           ("H", (-0.63, 0.61, -0.62)), ("H", (0.64, -0.63, -0.60))]

# name -> (atoms, basis, xc, charge, multiplicity, unrestricted, grid_level)
GRADIENTS = {
    "water_sto3g_rhf": (WATER, "sto-3g", "hf", 0, 1, False, None),
    "water_631gs_rhf": (WATER, "6-31g*", "hf", 0, 1, False, None),
    "water_def2svp_rhf": (WATER, "def2-svp", "hf", 0, 1, False, None),
    "nh3_def2svp_rhf": (AMMONIA, "def2-svp", "hf", 0, 1, False, None),
    "oh_631g_uhf": (OH, "6-31g", "hf", 0, 2, True, None),
    "o2_triplet_631g_uhf": (O2, "6-31g", "hf", 0, 3, True, None),
    "n2_ccpvdz_rhf": (N2, "cc-pvdz", "hf", 0, 1, False, None),
    "water_def2svp_b3lyp": (WATER, "def2-svp", "b3lyp", 0, 1, False, 3),
    "nh3_def2svp_pbe": (AMMONIA, "def2-svp", "pbe", 0, 1, False, 3),
    "oh_631g_b3lyp_uks": (OH, "6-31g", "b3lyp", 0, 2, True, 3),
    "nh2_631g_b3lyp_uks": (NH2, "6-31g", "b3lyp", 0, 2, True, 3),
    "water_def2svp_r2scan": (WATER, "def2-svp", "r2scan", 0, 1, False, 3),
}

# name -> (atoms, basis, xc, grid_level, grid_response, bonds, angles); all closed shells
WATER_INTERNALS = ([(0, 1), (0, 2)], [(1, 0, 2)])
OPTIMIZATIONS = {
    "water_sto3g_rhf": (WATER, "sto-3g", "hf", None, False, *WATER_INTERNALS),
    "water_def2svp_rhf": (WATER, "def2-svp", "hf", None, False, *WATER_INTERNALS),
    "nh3_def2svp_rhf": (AMMONIA, "def2-svp", "hf", None, False,
                        [(0, 1), (0, 2), (0, 3)], [(1, 0, 2), (1, 0, 3), (2, 0, 3)]),
    "hf_def2svp_rhf": (HF_MOLECULE, "def2-svp", "hf", None, False, [(0, 1)], []),
    "ch4_def2svp_rhf": (METHANE, "def2-svp", "hf", None, False,
                        [(0, 1), (0, 2), (0, 3), (0, 4)],
                        [(1, 0, 2), (1, 0, 3), (1, 0, 4), (2, 0, 3), (2, 0, 4), (3, 0, 4)]),
    "water_def2svp_b3lyp": (WATER, "def2-svp", "b3lyp", 3, True, *WATER_INTERNALS),
    "water_def2svp_b3lyp_no_grid_response": (WATER, "def2-svp", "b3lyp", 3, False,
                                             *WATER_INTERNALS),
}
# geomeTRIC's defaults are gmax 4.5e-4, grms 3e-4 Ha/Bohr, energy 1e-6 Ha, dmax 1.8e-3,
# drms 1.2e-3 Angstrom; these are tight enough that the geometry is converged to ~1e-6 A.
CONVERGENCE = {"convergence_energy": 1e-10, "convergence_grms": 1e-6,
               "convergence_gmax": 1e-6, "convergence_drms": 1e-5,
               "convergence_dmax": 1e-5}

# name -> the optimisation whose final geometry is used
FREQUENCIES = {"water_sto3g_rhf": "water_sto3g_rhf", "water_def2svp_rhf": "water_def2svp_rhf"}


def pyscf_basis(basis, symbols):
    """{symbol: parsed basis} with each element read from basis-set-exchange on its own."""
    return {s: gto.basis.parse(basis_set_exchange.get_basis(basis, elements=[s], fmt="nwchem"))
            for s in sorted(set(symbols))}


def pyscf_mol(atoms, basis, charge=0, multiplicity=1):
    symbols = [s for s, _ in atoms]
    return gto.M(atom=[[s, xyz] for s, xyz in atoms], unit="Angstrom",
                 basis=pyscf_basis(basis, symbols), charge=charge, spin=multiplicity - 1,
                 verbose=0)


def make_mf(mol, xc, unrestricted, grid_level, newton=False, conv_tol_grad=CONV_TOL_GRAD):
    if xc == "hf":
        mf = scf.UHF(mol) if unrestricted else scf.RHF(mol)
    else:
        mf = dft.UKS(mol) if unrestricted else dft.RKS(mol)
        mf.xc = xc
        mf.grids.level = grid_level
        mf.small_rho_cutoff = 0.0
    mf.conv_tol = CONV_TOL
    mf.conv_tol_grad = conv_tol_grad
    mf.max_cycle = 200
    if newton:
        mf = mf.newton()
        mf.conv_tol_grad = conv_tol_grad
    return mf


def internal_instability(mf):
    """Orbitals after one internal stability check, and whether the state was stable."""
    mo = mf.stability(external=False)
    mo = mo[0] if isinstance(mo, tuple) else mo
    if isinstance(mo, (list, tuple)):
        mo = np.asarray(mo)
    stable = np.allclose(np.abs(np.asarray(mo)), np.abs(np.asarray(mf.mo_coeff)))
    return mo, stable


def solve(mol, xc, unrestricted, grid_level, dm0=None, solver=None):
    """A converged mean field and how it was reached (``solver``: a dict).

    DIIS first; where it stalls (the hole orientation of OH's pi^3 on the grid is a
    nearly flat direction: DIIS creeps down by 5e-12 Ha per cycle at |g| ~ 1e-6),
    second-order SCF from where it stopped, with conv_tol_grad relaxed to 1e-6 if 1e-8
    is not reached. A given ``solver`` is repeated as it is (finite differences use the
    reference's solver, from the reference's density, so that every displaced point
    lands in the same state).
    """
    if solver is None:
        mf = make_mf(mol, xc, unrestricted, grid_level)
        mf.kernel(dm0=dm0)
        if mf.converged:
            return mf, {"method": "DIIS", "conv_tol_grad": CONV_TOL_GRAD}
        dm0 = mf.make_rdm1()
        for conv_tol_grad in (CONV_TOL_GRAD, 1e-6):
            mf = make_mf(mol, xc, unrestricted, grid_level, True, conv_tol_grad)
            mf.kernel(dm0=dm0)
            if mf.converged:
                return mf, {"method": "DIIS did not converge in 200 cycles; finished with "
                                      "mf.newton()", "newton": True,
                            "conv_tol_grad": conv_tol_grad}
            dm0 = mf.make_rdm1()
        raise RuntimeError("SCF did not converge")
    mf = make_mf(mol, xc, unrestricted, grid_level, solver.get("newton", False),
                 solver["conv_tol_grad"])
    mf.kernel(dm0=dm0)
    assert mf.converged
    return mf, solver


def converged_stable(mol, xc, unrestricted, grid_level):
    """A converged, internally stable (UHF/UKS) mean field, its solver and a stability
    note; for a default-path saddle point also that state's mean field."""
    mf, solver = solve(mol, xc, unrestricted, grid_level)
    if not unrestricted:
        return mf, solver, "restricted closed shell; not checked", None
    mo, stable = internal_instability(mf)
    if stable:
        return mf, solver, "default-path state is internally stable", None
    default = mf
    for _ in range(10):
        mf, solver = solve(mol, xc, unrestricted, grid_level, mf.make_rdm1(mo, mf.mo_occ))
        mo, stable = internal_instability(mf)
        if stable:
            break
    return mf, solver, (
        f"default-path state (E = {default.e_tot:.10f}) is an internal saddle point; "
        f"the reference is the state reached by following the instability "
        f"({'stable' if stable else 'still unstable after 10 follows'}); the saddle "
        f"point's energy and gradient are kept as energy_default_path and "
        f"gradient_default_path"), default


def nuclear_gradient(mf, grid_response):
    g = mf.nuc_grad_method()
    if grid_response is not None:
        g.grid_response = grid_response
    return np.asarray(g.kernel())


def finite_difference(mol, xc, unrestricted, grid_level, dm0, solver):
    """Central differences of the PySCF energy, step FD_STEP Bohr, every coordinate."""
    coords = mol.atom_coords()  # Bohr
    grad = np.zeros_like(coords)
    for atom in range(mol.natm):
        for axis in range(3):
            energies = []
            for sign in (1, -1):
                shifted = coords.copy()
                shifted[atom, axis] += sign * FD_STEP
                moved = mol.set_geom_(shifted, unit="Bohr", inplace=False)
                energies.append(solve(moved, xc, unrestricted, grid_level, dm0, solver)[0].e_tot)
            grad[atom, axis] = (energies[0] - energies[1]) / (2 * FD_STEP)
    return grad


def gradient_reference(name, atoms, basis, xc, charge, multiplicity, unrestricted,
                       grid_level):
    start = time.perf_counter()
    mol = pyscf_mol(atoms, basis, charge, multiplicity)
    mf, solver, stability, default = converged_stable(mol, xc, unrestricted, grid_level)
    entry = {
        "symbols": [s for s, _ in atoms], "coords": [list(xyz) for _, xyz in atoms],
        "basis": basis, "xc": xc, "charge": charge, "multiplicity": multiplicity,
        "unrestricted": unrestricted, "grid_level": grid_level, "nao": mol.nao,
        "energy": float(mf.e_tot), "stability": stability, "solver": solver["method"],
        "conv_tol_grad": solver["conv_tol_grad"],
    }
    if unrestricted:
        entry["s2"] = float(mf.spin_square()[0])
    grid_response = None if xc == "hf" else True
    if default is not None:
        entry["energy_default_path"] = float(default.e_tot)
        entry["gradient_default_path"] = nuclear_gradient(default, grid_response).tolist()
        entry["s2_default_path"] = float(default.spin_square()[0])
    note = ""
    if xc == "hf":
        entry["gradient"] = nuclear_gradient(mf, None).tolist()
    else:
        grad = nuclear_gradient(mf, True)
        fixed = nuclear_gradient(mf, False)
        fd = finite_difference(mol, xc, unrestricted, grid_level, mf.make_rdm1(), solver)
        entry["gradient"] = grad.tolist()
        entry["gradient_no_grid_response"] = fixed.tolist()
        entry["gradient_finite_difference"] = fd.tolist()
        entry["fd_step_bohr"] = FD_STEP
        entry["fd_max_abs_diff"] = float(np.max(np.abs(grad - fd)))
        entry["fd_max_abs_diff_no_grid_response"] = float(np.max(np.abs(fixed - fd)))
        note = (f" |g-g_nogrid|max={np.max(np.abs(grad - fixed)):.1e} "
                f"|g-fd|max={entry['fd_max_abs_diff']:.1e} "
                f"|g_nogrid-fd|max={entry['fd_max_abs_diff_no_grid_response']:.1e}")
    g = np.asarray(entry["gradient"])
    print(f"  {name}: nao={mol.nao} E={entry['energy']:.10f} |g|max={np.max(np.abs(g)):.4f} "
          f"sum={np.max(np.abs(g.sum(axis=0))):.1e}{note} "
          f"{time.perf_counter() - start:.1f}s [{solver['method']}; {stability}]", flush=True)
    return entry


def distance(coords, i, j):
    return float(np.linalg.norm(coords[i] - coords[j]))


def angle(coords, i, j, k):
    a, b = coords[i] - coords[j], coords[k] - coords[j]
    return float(np.degrees(np.arccos(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))))


def optimization_reference(name, atoms, basis, xc, grid_level, grid_response, bonds, angles):
    start = time.perf_counter()
    mol = pyscf_mol(atoms, basis)
    mf = make_mf(mol, xc, False, grid_level)
    g = mf.nuc_grad_method()
    if xc != "hf":
        g.grid_response = grid_response
    steps = []
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull), \
            contextlib.redirect_stderr(devnull):  # geomeTRIC's banner and step log
        mol_eq = optimize(g, maxsteps=200, callback=lambda env: steps.append(env["energy"]),
                          **CONVERGENCE)
    final = make_mf(mol_eq, xc, False, grid_level)
    final.kernel()
    assert final.converged
    gf = final.nuc_grad_method()
    if xc != "hf":
        gf.grid_response = grid_response
    grad = np.asarray(gf.kernel())
    coords = mol_eq.atom_coords(unit="Angstrom")
    entry = {
        "symbols": [s for s, _ in atoms], "coords_start": [list(xyz) for _, xyz in atoms],
        "basis": basis, "xc": xc, "charge": 0, "multiplicity": 1, "unrestricted": False,
        "grid_level": grid_level, "grid_response": grid_response if xc != "hf" else None,
        "convergence": CONVERGENCE, "steps": len(steps),
        "coords": coords.tolist(), "energy": float(final.e_tot),
        "gradient_max": float(np.max(np.abs(grad))),
        "distances": np.linalg.norm(coords[:, None] - coords[None], axis=-1).tolist(),
        "bonds": [[i, j, distance(coords, i, j)] for i, j in bonds],
        "angles": [[i, j, k, angle(coords, i, j, k)] for i, j, k in angles],
    }
    internals = " ".join(f"r{i}{j}={r:.6f}" for i, j, r in entry["bonds"])
    internals += " " + " ".join(f"a{i}{j}{k}={a:.4f}" for i, j, k, a in entry["angles"])
    print(f"  {name}: E={entry['energy']:.10f} steps={len(steps)} "
          f"|g|max={entry['gradient_max']:.1e} {internals} "
          f"{time.perf_counter() - start:.1f}s", flush=True)
    return entry, mol_eq


def frequency_reference(name, opt_name, opt_entry, mol_eq):
    mf = make_mf(mol_eq, "hf", False, None)
    mf.kernel()
    assert mf.converged
    hess = mf.Hessian().kernel()
    masses = mol_eq.atom_mass_list(isotope_avg=True)
    analysis = thermo.harmonic_analysis(mol_eq, hess, imaginary_freq=False, mass=masses)
    freqs = np.sort(np.asarray(analysis["freq_wavenumber"], dtype=float))
    print(f"  {name}: frequencies (cm^-1) {np.array2string(freqs, precision=2)}", flush=True)
    return {
        "optimization": opt_name, "symbols": opt_entry["symbols"],
        "coords": opt_entry["coords"], "basis": opt_entry["basis"], "xc": "hf",
        "energy": float(mf.e_tot), "masses": masses.tolist(),
        "hessian": np.asarray(hess).tolist(), "frequencies_cm1": freqs.tolist(),
    }


def main():
    out = {
        "meta": {"pyscf": pyscf.__version__, "geometric": geometric.__version__,
                 "basis_set_exchange": basis_set_exchange.version(),
                 "conv_tol": CONV_TOL, "conv_tol_grad": CONV_TOL_GRAD,
                 "units": "coords Angstrom; energy Ha; gradient Ha/Bohr (dE/dR); "
                          "hessian Ha/Bohr^2; frequencies cm^-1; masses amu"},
        "gradients": {}, "optimizations": {}, "frequencies": {},
    }
    print(f"gradients (PySCF {pyscf.__version__}, conv_tol {CONV_TOL:g}):")
    for name, spec in GRADIENTS.items():
        out["gradients"][name] = gradient_reference(name, *spec)
    print(f"optimisations (geomeTRIC {geometric.__version__}):")
    optimized = {}
    for name, spec in OPTIMIZATIONS.items():
        out["optimizations"][name], optimized[name] = optimization_reference(name, *spec)
    print("harmonic frequencies (analytic RHF Hessian):")
    for name, opt_name in FREQUENCIES.items():
        out["frequencies"][name] = frequency_reference(
            name, opt_name, out["optimizations"][opt_name], optimized[opt_name])
    write_reference("gradient_reference.json", out)


if __name__ == "__main__":
    main()
