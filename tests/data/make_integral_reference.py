"""Freeze PySCF integrals, mpmath Boys values and PySCF HF energies for the tests.

Run from the repository root (needs pyscf, basis-set-exchange and mpmath):

    python tests/data/make_integral_reference.py

Writes
  tests/data/integral_reference.npz   (read by tests/test_integrals_*.py)
  tests/data/hf_reference.json        (read by tests/test_hf_energies.py)

The tests themselves never import PySCF. PySCF gets exactly the basis data dftjax
reads: each element's basis is taken from basis-set-exchange in NWChem format and parsed
by ``gto.basis.parse`` separately (PySCF's bundled copies of some basis sets differ from
basis-set-exchange in digits and ordering). Coordinates are given to both codes as the
same Angstrom values (dftjax converts with PySCF's Bohr constant).

integral_reference.npz, atomic units, PySCF AO order:
  cases_json                      JSON list of the integral cases: name, symbols,
                                  coords (Angstrom), basis (name or {symbol: name}),
                                  cartesian
  <case>_S, _T, _V                (nao, nao) overlap, kinetic, nuclear attraction
  <case>_dip                      (3, nao, nao) <i|r|j>, origin (0, 0, 0)
  <case>_eri_idx, _eri_val        3000 random (i, j, k, l) (fixed seed) and (ij|kl)
  <case>_dm, _J, _K               a random symmetric matrix D and
                                  J_ij = sum_kl (ij|kl) D_kl, K_ij = sum_kl (ik|jl) D_kl
  water_sto3g also has _dip_origin (3,) Bohr with _dip_shifted = <i|r - origin|j>, and
  _ext_charges (n,), _ext_positions (n, 3) Bohr with _V_ext = sum_C <i|-q_C/|r-R_C||j>
  boys_T (40,), boys_F (40, 21)   F_n(T), n = 0..20, by mpmath at 50 digits

hf_reference.json: per molecule symbols, coords (Angstrom), basis, charge,
multiplicity, unrestricted, and PySCF's (conv_tol 1e-12) energy (Ha), mo_energy (Ha;
a list, or [alpha, beta] when unrestricted), dipole (a.u., origin (0, 0, 0)), s2,
plus a stability note.
"""

import json
import os

import basis_set_exchange
import mpmath
import numpy as np
from pyscf import gto, scf

HERE = os.path.dirname(os.path.abspath(__file__))

# Slightly non-symmetric geometries (Angstrom), so no integral vanishes by symmetry.
WATER = [("O", (0.010, -0.020, 0.1173)), ("H", (0.030, 0.7572, -0.4692)),
         ("H", (-0.020, -0.7400, -0.4800))]
FORMALDEHYDE = [("C", (0.010, 0.020, -0.010)), ("O", (-0.020, 0.010, 1.210)),
                ("H", (0.050, 0.940, -0.580)), ("H", (-0.030, -0.930, -0.600))]
AMMONIA = [("N", (0.000, 0.010, 0.110)), ("H", (0.940, 0.020, -0.270)),
           ("H", (-0.470, 0.820, -0.260)), ("H", (-0.480, -0.800, -0.280))]
HYDROGEN_FLUORIDE = [("F", (0.0, 0.0, 0.0)), ("H", (0.020, -0.010, 0.917))]
LITHIUM_HYDRIDE = [("Li", (0.0, 0.0, 0.0)), ("H", (0.010, 0.020, 1.595))]

INTEGRAL_CASES = [
    # name, atoms, basis, cartesian
    ("water_sto3g", WATER, "sto-3g", False),
    ("h2co_631gs", FORMALDEHYDE, "6-31g*", False),
    ("h2co_631gs_cart", FORMALDEHYDE, "6-31g*", True),
    ("nh3_def2svp", AMMONIA, "def2-svp", False),
    ("hf_ccpvtz", HYDROGEN_FLUORIDE, "cc-pvtz", False),                      # f functions
    # g functions: H has none in cc-pVQZ (4s3p2d1f), Li does (up to g); H in cc-pVDZ keeps
    # nao at 60 and exercises a per-element basis.
    ("lih_ccpvqz", LITHIUM_HYDRIDE, {"Li": "cc-pvqz", "H": "cc-pvdz"}, False),
    ("water_augccpvdz", WATER, "aug-cc-pvdz", False),
]

# Hartree-Fock references: name -> (atoms, basis, charge, multiplicity, unrestricted)
WATER_SYM = [("O", (0.0, 0.0, 0.1173)), ("H", (0.0, 0.7572, -0.4692)),
             ("H", (0.0, -0.7572, -0.4692))]
HF_CASES = {
    "water_sto3g": (WATER, "sto-3g", 0, 1, False),
    "water_631gs": (WATER, "6-31g*", 0, 1, False),
    "nh3_def2svp": (AMMONIA, "def2-svp", 0, 1, False),
    "water_ccpvdz": (WATER_SYM, "cc-pvdz", 0, 1, False),
    "hf_ccpvtz": (HYDROGEN_FLUORIDE, "cc-pvtz", 0, 1, False),
    "oh_radical_631gs": ([("O", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, 0.97))], "6-31g*", 0, 2, True),
    "o2_triplet_631g": ([("O", (0.0, 0.0, 0.0)), ("O", (0.0, 0.0, 1.21))], "6-31g", 0, 3, True),
    "h3o_cation_sto3g": ([("O", (0.0, 0.0, 0.070)), ("H", (0.950, 0.0, -0.250)),
                          ("H", (-0.475, 0.823, -0.250)), ("H", (-0.475, -0.823, -0.250))],
                         "sto-3g", 1, 1, False),
    "oh_anion_631gs": ([("O", (0.0, 0.0, 0.0)), ("H", (0.0, 0.0, 0.97))], "6-31g*", -1, 1, False),
}

BOYS_T = [0.0, 1e-12, 1e-8, 1e-5, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.33, 0.5, 0.77, 1.0, 1.5,
          2.2, 3.0, 4.4, 5.0, 6.7, 8.0, 10.0, 12.5, 15.0, 17.3, 20.0, 25.0, 30.0, 35.0,
          39.99, 40.0, 40.01, 45.0, 50.0, 75.0, 100.0, 200.0, 500.0, 1000.0, 3000.0, 1e4]
BOYS_NMAX = 20
N_ERI_SAMPLES = 3000


def pyscf_basis(basis, symbols):
    """{symbol: parsed basis} with each element read from basis-set-exchange on its own."""
    out = {}
    for symbol in sorted(set(symbols)):
        name = basis if isinstance(basis, str) else basis[symbol]
        text = basis_set_exchange.get_basis(name, elements=[symbol], fmt="nwchem")
        out[symbol] = gto.basis.parse(text)
    return out


def pyscf_mol(atoms, basis, cartesian=False, charge=0, multiplicity=1):
    symbols = [s for s, _ in atoms]
    return gto.M(atom=[[s, xyz] for s, xyz in atoms], unit="Angstrom",
                 basis=pyscf_basis(basis, symbols), cart=cartesian, charge=charge,
                 spin=multiplicity - 1, verbose=0)


def integral_case(out, name, atoms, basis, cartesian, rng):
    mol = pyscf_mol(atoms, basis, cartesian)
    nao = mol.nao
    out[f"{name}_S"] = mol.intor("int1e_ovlp")
    out[f"{name}_T"] = mol.intor("int1e_kin")
    out[f"{name}_V"] = mol.intor("int1e_nuc")
    with mol.with_common_orig((0.0, 0.0, 0.0)):
        out[f"{name}_dip"] = mol.intor("int1e_r")
    eri = mol.intor("int2e", aosym="s1")
    idx = rng.integers(0, nao, size=(N_ERI_SAMPLES, 4))
    out[f"{name}_eri_idx"] = idx.astype(np.int32)
    out[f"{name}_eri_val"] = eri[idx[:, 0], idx[:, 1], idx[:, 2], idx[:, 3]]
    dm = rng.standard_normal((nao, nao))
    dm = 0.5 * (dm + dm.T)
    out[f"{name}_dm"] = dm
    out[f"{name}_J"] = np.einsum("ijkl,kl->ij", eri, dm)
    out[f"{name}_K"] = np.einsum("ikjl,kl->ij", eri, dm)
    if name == "water_sto3g":
        origin = np.array([0.3, -0.2, 0.5])
        with mol.with_common_orig(origin):
            out[f"{name}_dip_shifted"] = mol.intor("int1e_r")
        out[f"{name}_dip_origin"] = origin
        charges = np.array([0.7, -1.3])
        positions = np.array([[2.0, 1.0, -1.5], [-1.0, 3.0, 2.5]])  # Bohr
        v_ext = np.zeros((nao, nao))
        for q, r in zip(charges, positions):
            with mol.with_rinv_origin(r):
                v_ext -= q * mol.intor("int1e_rinv")
        out[f"{name}_ext_charges"] = charges
        out[f"{name}_ext_positions"] = positions
        out[f"{name}_V_ext"] = v_ext
    print(f"  {name}: nao={nao}, cart={cartesian}, max|eri|={np.abs(eri).max():.3f}")


def boys_table():
    mpmath.mp.dps = 50
    table = np.zeros((len(BOYS_T), BOYS_NMAX + 1))
    for i, t in enumerate(BOYS_T):
        T = mpmath.mpf(t)
        for n in range(BOYS_NMAX + 1):
            # F_n(T) = 1F1(n + 1/2; n + 3/2; -T) / (2n + 1), exact at T = 0 too.
            value = mpmath.hyp1f1(n + mpmath.mpf(1) / 2, n + mpmath.mpf(3) / 2, -T) / (2 * n + 1)
            if T > 0:  # cross-check with the incomplete-gamma form
                alt = mpmath.gammainc(n + mpmath.mpf(1) / 2, 0, T) / (2 * T ** (n + mpmath.mpf(1) / 2))
                assert abs(alt - value) <= mpmath.mpf(10) ** -40 * abs(value)
            table[i, n] = float(value)
    return np.array(BOYS_T), table


def hf_reference(name, atoms, basis, charge, multiplicity, unrestricted):
    mol = pyscf_mol(atoms, basis, charge=charge, multiplicity=multiplicity)
    mf = scf.UHF(mol) if unrestricted else scf.RHF(mol)
    mf.conv_tol = 1e-12
    mf.conv_tol_grad = 1e-8
    mf.kernel()
    assert mf.converged, name
    entry = {
        "symbols": [s for s, _ in atoms],
        "coords": [list(xyz) for _, xyz in atoms],
        "basis": basis, "charge": charge, "multiplicity": multiplicity,
        "unrestricted": unrestricted, "nao": mol.nao,
        "energy": float(mf.e_tot),
        "mo_energy": np.asarray(mf.mo_energy).tolist(),
        "dipole": np.asarray(mf.dip_moment(unit="au", verbose=0)).tolist(),
        "s2": float(mf.spin_square()[0]) if unrestricted else 0.0,
    }
    # Internal stability of the state PySCF's default path converged to. Where it is
    # unstable, follow the instability and record the lower state too; the reference
    # the tests match is the default-path state (what dftjax's SAD guess reaches).
    mo_internal = mf.stability(external=False)
    mo_internal = mo_internal[0] if isinstance(mo_internal, tuple) else mo_internal
    stable = np.allclose(np.abs(np.asarray(mo_internal)), np.abs(np.asarray(mf.mo_coeff)))
    if stable:
        entry["stability"] = "default-path state is internally stable"
    else:
        lower = mf.copy()
        for _ in range(10):
            dm = lower.make_rdm1(mo_internal, lower.mo_occ)
            lower.kernel(dm0=dm)
            mo_internal = lower.stability(external=False)
            mo_internal = mo_internal[0] if isinstance(mo_internal, tuple) else mo_internal
            if np.allclose(np.abs(np.asarray(mo_internal)), np.abs(np.asarray(lower.mo_coeff))):
                break
        entry["energy_stable"] = float(lower.e_tot)
        entry["stability"] = (
            "default-path state is an internal saddle point; the frozen reference is that "
            f"state; following the instability gives E = {lower.e_tot:.10f}"
        )
    print(f"  {name}: nao={mol.nao} E={mf.e_tot:.10f} ({entry['stability']})")
    return entry


def main():
    rng = np.random.default_rng(20240611)
    out = {}
    cases = []
    print("integrals:")
    for name, atoms, basis, cartesian in INTEGRAL_CASES:
        integral_case(out, name, atoms, basis, cartesian, rng)
        cases.append({"name": name, "symbols": [s for s, _ in atoms],
                      "coords": [list(xyz) for _, xyz in atoms], "basis": basis,
                      "cartesian": cartesian})
    out["cases_json"] = np.array(json.dumps(cases))
    print("Boys function (mpmath, 50 digits)")
    out["boys_T"], out["boys_F"] = boys_table()
    path = os.path.join(HERE, "integral_reference.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB)")

    print("Hartree-Fock (PySCF, conv_tol 1e-12):")
    hf = {name: hf_reference(name, *spec) for name, spec in HF_CASES.items()}
    path = os.path.join(HERE, "hf_reference.json")
    with open(path, "w") as f:
        json.dump(hf, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
