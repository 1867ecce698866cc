"""Freeze libxc energies and potentials (through PySCF) for the LDA/GGA/hybrid tests.

Run from the repository root (needs pyscf, which bundles libxc):

    python tests/data/make_xc_reference.py

Writes tests/data/xc_reference_lda_gga.npz (read by tests/test_xc_lda.py,
tests/test_xc_gga.py and tests/test_xc_registry.py). The tests never import PySCF.

Densities: a fixed-seed set of spin-resolved points (rho_s, grad rho_s) spanning the
regimes a grid meets and the edges of libxc's screening: random mixtures, tiny densities
(1e-10..1e-6), large ones (1e2..1e4), large reduced gradients (s up to ~1e2), zero
gradients, fully polarised points (rho_b = 0), rho_a = rho_b, and hand-picked edges
(zero density, densities between the thresholds of different functionals, a channel just
below its threshold, antiparallel gradients, a slightly negative density).

libxc is evaluated by ``pyscf.dft.libxc.eval_xc(code, rho, spin=1, deriv=1)`` with
``rho`` (2, 4, npts) = (density, d/dx, d/dy, d/dz) per spin (LDAs get (2, 1, npts)); it
returns the energy per particle ``exc`` (npts,) and ``vrho`` (npts, 2) = d(n exc)/d rho_s,
``vsigma`` (npts, 3) = d(n exc)/d sigma_{aa, ab, bb}, with sigma_ab = grad rho_a . grad
rho_b entering once (so the potential from the cross term is vsigma_ab grad rho_b).

xc_reference_lda_gga.npz, atomic units:
  functionals_json        JSON list of [key, PySCF code, family]; key is dftjax's name
  category                (npts,) label of each point's regime
  rho (2, npts), sigma (3, npts)    spin densities, (aa, ab, bb) gradient products,
                                    sigma computed as PySCF's C code does
  <key>_exc (npts,)       energy per volume, exc * (rho_a + rho_b)
  <key>_vrho (2, npts), <key>_vsigma (3, npts; GGAs only)
  <key>_hf                PySCF's hybrid_coeff (exact-exchange fraction)
  closed_rho (m,), closed_sigma (m,)    total density and |grad n|^2 of closed-shell
                                        points (rho_a = rho_b = closed_rho / 2)
  <key>_closed_exc, _closed_vrho, _closed_vsigma (m,)   libxc with spin=0
"""

import json
import os

import numpy as np
from pyscf.dft import libxc

HERE = os.path.dirname(os.path.abspath(__file__))

# key (dftjax name), PySCF code
FUNCTIONALS = [
    ("lda_x", "LDA_X,"),
    ("lda_c_vwn", ",LDA_C_VWN"),
    ("lda_c_vwn_rpa", ",LDA_C_VWN_RPA"),
    ("lda_c_pw", ",LDA_C_PW"),
    ("lda_c_pw_mod", ",LDA_C_PW_MOD"),
    ("lda_c_pz", ",LDA_C_PZ"),
    ("gga_x_b88", "GGA_X_B88,"),
    ("gga_x_pbe", "GGA_X_PBE,"),
    ("gga_c_pbe", ",GGA_C_PBE"),
    ("gga_c_lyp", ",GGA_C_LYP"),
    ("svwn", "SVWN"),
    ("pbe", "PBE"),
    ("blyp", "BLYP"),
    ("b3lyp", "B3LYP"),
    ("b3lyp5", "B3LYP5"),
    ("pbe0", "PBE0"),
]


def _directions(rng, n):
    vectors = rng.normal(size=(3, n))
    return vectors / np.linalg.norm(vectors, axis=0)


def _block(rng, n, log_rho, log_xs, category):
    """n points with log10 rho_s uniform in log_rho and log10 xs_s in log_xs, each spin."""
    rho = 10.0 ** rng.uniform(*log_rho, size=(2, n))
    xs = 10.0 ** rng.uniform(*log_xs, size=(2, n))
    grad = np.stack([xs[s] * rho[s] ** (4.0 / 3.0) * _directions(rng, n) for s in (0, 1)])
    return rho, grad, [category] * n


def make_points(seed=20240611):
    rng = np.random.default_rng(seed)
    blocks = [
        _block(rng, 110, (-4, 2), (-2, 1.5), "random"),
        _block(rng, 30, (-10, -6), (-1, 1.5), "tiny"),
        _block(rng, 30, (2, 4), (-2, 1), "large"),
        # s = X2S xs ~ 0.128 xs, so xs up to 1e3 reaches s ~ 1e2
        _block(rng, 30, (-3, 1), (1.5, 3), "large_s"),
    ]

    rho, grad, label = _block(rng, 30, (-5, 2), (-2, 1), "zero_gradient")
    grad[:, :, :20] = 0.0
    grad[1, :, 20:] = 0.0  # only the beta gradient vanishes
    blocks.append((rho, grad, label))

    rho, grad, label = _block(rng, 30, (-8, 3), (-2, 1.5), "polarised")
    rho[1] = 0.0
    grad[1] = 0.0
    grad[0, :, :5] = 0.0
    blocks.append((rho, grad, label))

    rho, grad, label = _block(rng, 20, (-6, 3), (-2, 1.5), "unpolarised")
    rho[1] = rho[0]
    grad[1] = grad[0]
    blocks.append((rho, grad, label))

    # Hand-picked edges: (rho_a, rho_b, grad_a, grad_b)
    g = np.array([0.3, -0.2, 0.1])
    edges = [
        (0.0, 0.0, 0 * g, 0 * g),          # no density at all
        (1e-16, 1e-16, 1e-21 * g, 0 * g),  # below every threshold
        (4e-13, 4e-13, 1e-17 * g, 1e-17 * g),  # PBE-c (1e-12) screens, the others do not
        (5e-15, 4e-15, 1e-19 * g, 1e-19 * g),  # LYP (1e-14) screens, 1e-15 ones do not
        (1e-13, 0.02, 1e-18 * g, 0.05 * g),  # rho_a under PBE-c's threshold, raised to it
        (0.5, 1e-16, 0.4 * g, 1e-20 * g),  # beta below its threshold but not zero
        (0.5, 3e-15, 0.4 * g, 1e-19 * g),  # beta just above the LDA/GGA-x threshold
        (1e3, 1e-14, 2e3 * g, 1e-18 * g),  # 1 - zeta below DBL_EPSILON (libxc's z_thr)
        (2e3, 0.0, 1e3 * g, 0 * g),        # fully polarised, large
        (0.2, 0.2, 0.1 * g, -0.1 * g),     # antiparallel gradients: |grad n| = 0
        (0.3, 0.1, 0.2 * g, -0.3 * g),
        (0.4, -1e-18, 0.2 * g, 0 * g),     # slightly negative beta density
        (1e-9, 0.0, 0 * g, 0 * g),         # tiny, polarised, no gradient
        (1e-7, 1e-7, 0 * g, 0 * g),
        (1.0, 1.0, 0 * g, 0 * g),
    ]
    rho = np.array([[e[0] for e in edges], [e[1] for e in edges]])
    grad = np.stack([np.array([e[2] for e in edges]).T, np.array([e[3] for e in edges]).T])
    blocks.append((rho, grad, ["edge"] * len(edges)))

    rho = np.concatenate([b[0] for b in blocks], axis=1)
    grad = np.concatenate([b[1] for b in blocks], axis=2)
    category = np.array(sum((b[2] for b in blocks), []))
    return rho, grad, category


def _sigma(grad_a, grad_b):
    # Same operation order as PySCF's libxc_itrf.c: gx*gx + gy*gy + gz*gz.
    return grad_a[0] * grad_b[0] + grad_a[1] * grad_b[1] + grad_a[2] * grad_b[2]


def main():
    rho, grad, category = make_points()
    npts = rho.shape[1]
    sigma = np.stack([_sigma(grad[0], grad[0]), _sigma(grad[0], grad[1]), _sigma(grad[1], grad[1])])
    libxc_input = np.concatenate([rho[:, None, :], grad], axis=1)  # (2, 4, npts)

    # Closed shells from the random and large-gradient blocks plus a few tiny/large points.
    chosen = np.flatnonzero(np.isin(category, ["random", "large_s", "tiny", "large"]))[::3]
    closed_input = 2.0 * libxc_input[0][:, chosen]  # total density and gradient
    closed_sigma = _sigma(closed_input[1:], closed_input[1:])

    out = {"rho": rho, "sigma": sigma, "category": category,
           "closed_rho": closed_input[0], "closed_sigma": closed_sigma}
    table = []
    for key, code in FUNCTIONALS:
        family = libxc.xc_type(code)
        nvar = 1 if family == "LDA" else 4
        exc, vxc = libxc.eval_xc(code, libxc_input[:, :nvar], spin=1, deriv=1)[:2]
        out[f"{key}_exc"] = exc * (rho[0] + rho[1])
        out[f"{key}_vrho"] = vxc[0].T
        exc0, vxc0 = libxc.eval_xc(code, closed_input[:nvar], spin=0, deriv=1)[:2]
        out[f"{key}_closed_exc"] = exc0 * closed_input[0]
        out[f"{key}_closed_vrho"] = vxc0[0]
        if family == "GGA":
            out[f"{key}_vsigma"] = vxc[1].T
            out[f"{key}_closed_vsigma"] = vxc0[1]
        out[f"{key}_hf"] = libxc.hybrid_coeff(code)
        table.append([key, code, family])
    out["functionals_json"] = json.dumps(table)
    out["libxc_version"] = libxc.__version__
    path = os.path.join(HERE, "xc_reference_lda_gga.npz")
    np.savez_compressed(path, **out)
    print(f"wrote {path}: {npts} points, {len(chosen)} closed-shell points, "
          f"{len(FUNCTIONALS)} functionals (libxc {libxc.__version__})")


if __name__ == "__main__":
    main()
