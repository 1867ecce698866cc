"""Freeze PySCF energies of the Nagai-Akashi-Sugino neural functionals for the tests.

Run from the repository root (needs pyscf, jax and basis-set-exchange):

    python tests/data/make_nn_reference.py

Writes tests/data/nn_reference.json, read by tests/test_xc_neural_scf.py. The tests never
import PySCF.

The networks are evaluated here as the released example scripts do
(ml-electron-project/NNfunctional, LSDA.py, GGA.py, metaGGA.py): their ``eval_xc``
through PySCF's ``define_xc_`` hook, restricted and unrestricted paths as written there
(eps0 = 1e-7 on each gamma, rho_s = n/2, gamma_ss = |grad n|^2/4 + eps0 and tau_s = tau/2
for closed shells), with the forward pass transcribed line by line from their torch
``Net.forward`` (zeta = (rho_a - rho_b)/(n + eps0) as they form it) into jax.numpy in
float64, and the potentials from autodiff of sum(eps_xc * n) as their ``backward()``.
Only the weights are shared with dftjax: read with numpy from the converted files
dftjax/xc/neural/weights/*.npz (their conversion is checked independently against the
issue's table of eps_xc values). PySCF 2's meta-GGA ``rho`` rows are (rho, d/dx, d/dy,
d/dz, tau): no Laplacian row, so tau is row 4 where the PySCF-1.6 scripts read row 5.

Same setup as make_ks_reference.py: basis per element from basis-set-exchange (NWChem
format), Angstrom coordinates, ``mf.grids.level`` the case's grid level,
``mf.small_rho_cutoff = 0`` (every grid point kept, as dftjax keeps them),
``conv_tol = 1e-11``. Open shells are NH2 and the Li atom, whose ground states are not
orientations of a degenerate hole (OH's pi^3 has several, 1e-6 Ha apart here, and which
one an SCF reaches depends on its path). Per case: the total energy, converged flag, the number of grid points.
"""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_ks_reference import AMMONIA, NH2, pyscf_mol  # noqa: E402

from pyscf import dft  # noqa: E402

WEIGHTS = os.path.join(HERE, "..", "..", "dftjax", "xc", "neural", "weights")
EPS = 1e-7
CONV_TOL = 1e-11

# the released scripts' water (Angstrom)
WATER = [("O", (0.0, 0.0, 0.119262)), ("H", (0.0, 0.763239, -0.477047)),
         ("H", (0.0, -0.763239, -0.477047))]
LI = [("Li", (0.0, 0.0, 0.0))]

# name -> (atoms, basis, form, charge, multiplicity, unrestricted, grid_level)
CASES = {
    "water_631g_nn-lsda": (WATER, "6-31g", "nn-lsda", 0, 1, False, 3),
    "water_631g_nn-gga": (WATER, "6-31g", "nn-gga", 0, 1, False, 3),
    "water_631g_nn-metagga": (WATER, "6-31g", "nn-metagga", 0, 1, False, 3),
    "li_631g_nn-lsda": (LI, "6-31g", "nn-lsda", 0, 2, True, 3),
    "li_631g_nn-gga": (LI, "6-31g", "nn-gga", 0, 2, True, 3),
    "li_631g_nn-metagga": (LI, "6-31g", "nn-metagga", 0, 2, True, 3),
    "water_sto3g_nn-gga": (WATER, "sto-3g", "nn-gga", 0, 1, False, 2),
    "nh2_def2svp_nn-gga": (NH2, "def2-svp", "nn-gga", 0, 2, True, 3),
    "nh2_def2svp_nn-metagga": (NH2, "def2-svp", "nn-metagga", 0, 2, True, 3),
    "nh3_631gs_nn-lsda": (AMMONIA, "6-31g*", "nn-lsda", 0, 1, False, 3),
    "nh3_631gs_nn-metagga": (AMMONIA, "6-31g*", "nn-metagga", 0, 1, False, 3),
}


def load_layers(form):
    with np.load(os.path.join(WEIGHTS, f"{form}.npz")) as data:
        return [(data[f"layers/{i}/weight"], data[f"layers/{i}/bias"]) for i in range(4)]


def make_forward(form):
    """The released Net.forward, x (N, 2/5/7) -> eps_xc (N,)."""
    layers = load_layers(form)

    def forward(x):
        unif = (x[:, 1] + x[:, 0] + EPS) ** (1.0 / 3)
        zeta = (x[:, 0] - x[:, 1]) / (x[:, 1] + x[:, 0] + EPS)
        t = [unif, ((1 + zeta) ** (4.0 / 3) + (1 - zeta) ** (4.0 / 3)) * 0.5]
        if form != "nn-lsda":
            t.append(((x[:, 2] + x[:, 4] + 2 * x[:, 3]) ** 0.5 + EPS) / unif ** 4)
        if form == "nn-metagga":
            ds = (1 + zeta) ** (5.0 / 3) + (1 - zeta) ** (5.0 / 3)
            t.append((x[:, 5] + x[:, 6] + EPS) / (unif ** 5 * ds))
        g = jnp.log(jnp.stack(t, axis=1))
        for weight, bias in layers:
            g = jax.nn.elu(g @ weight + bias)
        eunif = jnp.cbrt(x[:, 1] + x[:, 0])
        spinscale = ((1 + zeta) ** (4.0 / 3) + (1 - zeta) ** (4.0 / 3)) * 0.5
        return -(g[:, 0] + 1) * eunif * spinscale

    def energy(x):
        return jnp.dot(forward(x), x[:, 0] + x[:, 1])

    return jax.jit(forward), jax.jit(jax.grad(energy))


def make_eval_xc(form):
    """The released eval_xc (restricted and unrestricted), in PySCF 2's rho layout."""
    forward, gradient = make_forward(form)
    mgga, gga = form == "nn-metagga", form != "nn-lsda"

    def eval_xc(xc_code, rho, spin=0, relativity=0, deriv=1, omega=None, verbose=None, **kwargs):
        if spin != 0:
            r1, r2 = np.asarray(rho[0]), np.asarray(rho[1])
            if not gga:
                r1, r2 = r1.reshape(-1, r1.shape[-1]), r2.reshape(-1, r2.shape[-1])
            rho01, rho02 = r1[0], r2[0]
            columns = [rho01, rho02]
            if gga:
                gamma1 = (r1[1:4] ** 2).sum(axis=0) + EPS
                gamma2 = (r2[1:4] ** 2).sum(axis=0) + EPS
                gamma12 = (r1[1:4] * r2[1:4]).sum(axis=0) + EPS
                columns += [gamma1, gamma12, gamma2]
            if mgga:
                columns += [r1[4], r2[4]]
        else:
            r = np.asarray(rho).reshape(-1, np.shape(rho)[-1])
            columns = [r[0] * 0.5, r[0] * 0.5]
            if gga:
                gamma = (r[1:4] ** 2).sum(axis=0) * 0.25 + EPS
                columns += [gamma, gamma, gamma]
            if mgga:
                columns += [r[4] * 0.5, r[4] * 0.5]
        x = jnp.asarray(np.stack(columns, axis=1))
        exc = np.asarray(forward(x))
        grad = np.asarray(gradient(x))
        if spin != 0:
            vrho = grad[:, 0:2]
            vgamma = grad[:, 2:5] if gga else None
            vtau = grad[:, 5:7] if mgga else None
        else:
            vrho = (grad[:, 0] + grad[:, 1]) / 2
            vgamma = (grad[:, 2] + grad[:, 4] + grad[:, 3]) / 4 if gga else None
            vtau = (grad[:, 5] + grad[:, 6]) / 2 if mgga else None
        # vlapl must be None: given a zero vlapl array (as the released scripts return
        # it), PySCF 2.14 leaves vtau out of the Fock matrix (scaling vtau then changes
        # nothing), and water's NN-meta-GGA SCF lands 1e-2 Ha higher.
        return exc, (vrho, vgamma, None, vtau), None, None

    return eval_xc


def run(atoms, basis, form, charge, multiplicity, unrestricted, grid_level):
    mol = pyscf_mol(atoms, basis, charge, multiplicity)
    mf = dft.UKS(mol) if unrestricted else dft.RKS(mol)
    xctype = {"nn-lsda": "LDA", "nn-gga": "GGA", "nn-metagga": "MGGA"}[form]
    mf = mf.define_xc_(make_eval_xc(form), xctype)
    mf.grids.level = grid_level
    mf.small_rho_cutoff = 0
    mf.conv_tol = CONV_TOL
    mf.max_cycle = 200
    energy = mf.kernel()
    return {"symbols": [s for s, _ in atoms], "coords": [list(xyz) for _, xyz in atoms],
            "basis": basis, "xc": form, "charge": charge, "multiplicity": multiplicity,
            "unrestricted": unrestricted, "grid_level": grid_level, "energy": float(energy),
            "converged": bool(mf.converged), "ngrid": int((mf.grids.weights != 0).sum())}


def main():
    out = {}
    for name, case in CASES.items():
        out[name] = run(*case)
        print(f"{name:28s} {out[name]['energy']:.10f}  converged={out[name]['converged']}", flush=True)
    with open(os.path.join(HERE, "nn_reference.json"), "w") as handle:
        json.dump(out, handle, indent=1)


if __name__ == "__main__":
    main()
