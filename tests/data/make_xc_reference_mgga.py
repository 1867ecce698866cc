"""Freeze libxc reference values for the meta-GGA and range-separated functionals.

Run from the repository root (needs PySCF built with libxc; the frozen file records the
libxc version used):

    python tests/data/make_xc_reference_mgga.py

Writes ``tests/data/xc_reference_mgga.npz`` with, for 274 spin-resolved points:

* ``rho``, ``sigma``, ``tau``: features (2, n), (3, n), (2, n) in dftjax's layout, sigma
  computed from the gradients exactly as PySCF does before it calls libxc;
* per functional NAME: ``NAME/exc`` (n,) energy per particle, ``NAME/vrho`` (2, n),
  ``NAME/vsigma`` (3, n), ``NAME/vtau`` (2, n) from ``pyscf.dft.libxc.eval_xc(spin=1)``;
* ``closed/rho`` etc.: closed-shell points (total density) and ``NAME/closed_*`` from
  ``eval_xc(spin=0)``;
* ``NAME/spread_*``: libxc's reproducibility, the largest change of each output when every
  input is perturbed by 1e-13 relative (see ``spread``);
* ``NAME/rsh_and_hybrid_coeff``: PySCF's (omega, alpha, hyb) for the exact exchange;
* ``category`` (n,) a label per point saying which regime it probes.

The points span realistic densities, tiny and large densities, large reduced gradients,
alpha -> 0 (tau = tau_W), alpha large, alpha ~ 1 (SCAN's switching point), zero gradient,
full polarisation, and a few points that violate tau >= tau_W or have rho = 0, which libxc
sanitises (see dftjax.xc.mgga).
"""

from pathlib import Path

import numpy as np
from pyscf.dft import libxc, numint

FUNCTIONALS = ("r2scan", "m06-l", "tpss", "scan", "wb97x", "cam-b3lyp", "tpssh", "m06-2x")
K_FACTOR_C = 3.0 / 10.0 * (6.0 * np.pi**2) ** (2.0 / 3.0)
X2S = 1.0 / (2.0 * (6.0 * np.pi**2) ** (1.0 / 3.0))


def _unit_vectors(rng, n):
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _spin_channel(rng, rho, s, alpha):
    """Gradient (n, 3) with reduced gradient s, and tau = tau_W + alpha tau_unif (spin-scaled)."""
    grad = (s / X2S * rho ** (4.0 / 3.0))[:, None] * _unit_vectors(rng, len(rho))
    tau_w = np.einsum("ij,ij->i", grad, grad) / (8.0 * np.where(rho > 0, rho, 1.0))
    tau = tau_w + alpha * K_FACTOR_C * rho ** (5.0 / 3.0)
    return grad, tau


def make_points(rng):
    blocks = []

    def add(category, rho_a, rho_b, s_a, s_b, alpha_a, alpha_b):
        grad_a, tau_a = _spin_channel(rng, rho_a, s_a, alpha_a)
        grad_b, tau_b = _spin_channel(rng, rho_b, s_b, alpha_b)
        blocks.append((category, rho_a, rho_b, grad_a, grad_b, tau_a, tau_b))

    def uniform(lo, hi, n):
        return rng.uniform(lo, hi, n)

    def log_uniform(lo, hi, n):
        return 10.0 ** rng.uniform(lo, hi, n)

    n = 90
    add("realistic", log_uniform(-4, 1, n), log_uniform(-4, 1, n), uniform(0, 3, n), uniform(0, 3, n),
        uniform(0, 4, n), uniform(0, 4, n))
    n = 24
    add("tiny", log_uniform(-14, -6, n), log_uniform(-14, -6, n), uniform(0, 3, n), uniform(0, 3, n),
        uniform(0, 3, n), uniform(0, 3, n))
    n = 16
    add("large", log_uniform(1, 4, n), log_uniform(1, 4, n), uniform(0, 2, n), uniform(0, 2, n),
        uniform(0, 3, n), uniform(0, 3, n))
    n = 20
    add("large_s", log_uniform(-3, 0, n), log_uniform(-3, 0, n), uniform(5, 40, n), uniform(3, 40, n),
        uniform(0, 3, n), uniform(0, 3, n))
    n = 20
    add("alpha_zero", log_uniform(-3, 0.5, n), log_uniform(-3, 0.5, n), uniform(0.1, 3, n),
        uniform(0.1, 3, n),
        np.zeros(n), np.where(rng.uniform(size=n) < 0.5, 0.0, 1e-9))
    n = 16
    add("alpha_large", log_uniform(-3, 0.5, n), log_uniform(-3, 0.5, n), uniform(0, 2, n), uniform(0, 2, n),
        log_uniform(1, 3, n), log_uniform(0, 3, n))
    n = 12
    near_one = 1.0 + rng.choice([-1e-2, -1e-4, -1e-7, 1e-7, 1e-4, 1e-2], n)
    add("alpha_one", log_uniform(-3, 0.5, n), log_uniform(-3, 0.5, n), uniform(0.1, 2, n), uniform(0.1, 2, n),
        near_one, rng.permutation(near_one))
    n = 16
    add("zero_gradient", log_uniform(-3, 1, n), log_uniform(-3, 1, n), np.zeros(n),
        np.where(rng.uniform(size=n) < 0.5, 0.0, uniform(0, 2, n)), uniform(0, 3, n), uniform(0, 3, n))
    n = 24
    add("polarised", log_uniform(-8, 3, n), np.zeros(n), uniform(0, 4, n), np.zeros(n), uniform(0, 3, n),
        np.zeros(n))
    n = 8
    add("one_spin_tiny", log_uniform(-3, 1, n), log_uniform(-16, -12, n), uniform(0, 3, n), uniform(0, 3, n),
        uniform(0, 3, n), uniform(0, 3, n))
    n = 16
    rho = log_uniform(-3, 1, n)
    grad, tau = _spin_channel(rng, rho, uniform(0, 3, n), uniform(0, 3, n))
    blocks.append(("equal_spins", rho, rho.copy(), grad, grad.copy(), tau, tau.copy()))
    # tau below tau_W (libxc caps sigma_ss at 8 rho_s tau_s), including tau = 0 with a gradient
    n = 8
    add("tau_below_tau_w", log_uniform(-3, 0.5, n), log_uniform(-3, 0.5, n), uniform(0.2, 2, n),
        uniform(0.2, 2, n), uniform(0, 1, n), uniform(0, 1, n))
    blocks[-1][5][:] *= np.array([0.5, 0.9, 0.0, 0.99, 0.2, 0.0, 0.7, 0.95])
    # no density at all, or a trace below every threshold in one channel
    zeros = np.zeros(4)
    blocks.append(("zero_density", np.array([0.0, 0.0, 1e-16, 0.0]), np.array([0.0, 1e-16, 0.0, 0.0]),
                   np.zeros((4, 3)), np.zeros((4, 3)), zeros, zeros))
    return blocks


def pyscf_input(blocks):
    """(2, 6, n) array rho, dx, dy, dz, laplacian (0), tau per spin, and the categories."""
    columns, categories = [], []
    for category, rho_a, rho_b, grad_a, grad_b, tau_a, tau_b in blocks:
        n = len(rho_a)
        block = np.zeros((2, 6, n))
        block[0, 0], block[1, 0] = rho_a, rho_b
        block[0, 1:4], block[1, 1:4] = grad_a.T, grad_b.T
        block[0, 5], block[1, 5] = tau_a, tau_b
        columns.append(block)
        categories += [category] * n
    return np.concatenate(columns, axis=2), np.array(categories)


def features(rho6):
    """dftjax features from a PySCF (2, 6, n) input; sigma summed in PySCF's order."""

    def dot(a, b):
        return a[1] * b[1] + a[2] * b[2] + a[3] * b[3]

    sigma = np.stack([dot(rho6[0], rho6[0]), dot(rho6[0], rho6[1]), dot(rho6[1], rho6[1])])
    return rho6[:, 0], sigma, rho6[:, 5]


def evaluate(name, rho6, spin):
    exc, vxc = libxc.eval_xc(name, rho6, spin=spin, deriv=1)[:2]
    vrho, vsigma = vxc[:2]
    vtau = vxc[3] if len(vxc) == 4 else np.zeros_like(vrho)
    return exc, vrho.T, vsigma.T, vtau.T


def spread(name, rho6, spin, rng, copies=16, size=1e-13):
    """libxc's own reproducibility: the largest change of each output when every input is
    perturbed by a relative ``size`` (a few hundred ulp). Well-conditioned outputs move by
    ~``size``; outputs dominated by rounding (derivatives with respect to an almost empty
    spin channel, formed from 1 - zeta ~ 1e-16) move by their full noise."""
    reference = evaluate(name, rho6, spin)
    largest = [np.zeros_like(r) for r in reference]
    for _ in range(copies):
        perturbed = rho6 * (1.0 + size * rng.uniform(-1.0, 1.0, rho6.shape))
        for k, value in enumerate(evaluate(name, perturbed, spin)):
            largest[k] = np.maximum(largest[k], np.abs(value - reference[k]))
    return largest


def main():
    rng = np.random.default_rng(20250611)
    rho6, categories = pyscf_input(make_points(rng))
    rho, sigma, tau = features(rho6)
    # closed shells: the alpha channel of the first 40 realistic points, doubled
    closed = 2.0 * rho6[0][:, categories == "realistic"][:, :40]
    data = {
        "libxc_version": np.array(libxc.libxc_version()),
        "category": categories,
        "rho": rho,
        "sigma": sigma,
        "tau": tau,
        "closed/rho": closed[0],
        "closed/sigma": closed[1] ** 2 + closed[2] ** 2 + closed[3] ** 2,
        "closed/tau": closed[5],
    }
    for name in FUNCTIONALS:
        gga = name in ("wb97x", "cam-b3lyp")
        inputs = rho6[:, :4] if gga else rho6
        exc, vrho, vsigma, vtau = evaluate(name, inputs, spin=1)
        data.update({f"{name}/exc": exc, f"{name}/vrho": vrho, f"{name}/vsigma": vsigma,
                     f"{name}/vtau": vtau})
        coefficients = numint.NumInt().rsh_and_hybrid_coeff(name)
        data[f"{name}/rsh_and_hybrid_coeff"] = np.array(coefficients, dtype=float)
        noise = spread(name, inputs, 1, rng)
        data.update({f"{name}/spread_{k}": v for k, v in zip(("exc", "vrho", "vsigma", "vtau"), noise)})
        exc, vrho, vsigma, vtau = evaluate(name, closed[:4] if gga else closed, spin=0)
        data.update({f"{name}/closed_exc": exc, f"{name}/closed_vrho": vrho,
                     f"{name}/closed_vsigma": vsigma, f"{name}/closed_vtau": vtau})
        assert all(np.all(np.isfinite(data[f"{name}/{k}"])) for k in ("exc", "vrho", "vsigma", "vtau"))
    path = Path(__file__).with_name("xc_reference_mgga.npz")
    np.savez_compressed(path, **data)
    print(f"wrote {path} ({rho.shape[1]} points, libxc {data['libxc_version']})")


if __name__ == "__main__":
    main()
