"""Meta-GGA functionals as libxc defines them: TPSS, TPSSh, SCAN, r2SCAN.

The spin variables it shares with ``minnesota`` and ``range_separated`` are in
:mod:`dftjax.xc.spin`.

Every energy density is per volume, e_xc (npts,) in Hartree / Bohr^3, from spin-resolved
features (``rho`` (2, npts), ``sigma`` (3, npts), ``tau`` (2, npts), tau with libxc's 1/2).

**Input sanitation** is libxc 7.0.0's (work_mgga_inc.c, as
:func:`dftjax.xc._numerics.libxc_inputs` for GGAs), for each component of a mixture with
its own density threshold: zero below the threshold
in total density; spin densities, sigma_ss and tau raised to floors; for meta-GGAs
sigma_ss <= 8 rho_s tau_s (the von Weizsaecker bound, so alpha >= 0); sigma_ab clipped.
The clips are straight-through (libxc's potentials are those at the sanitised input), and
the floors keep every branch finite, so gradients are finite at rho = 0, sigma = 0, tau = 0.

**Spin polarisation** is rounded as libxc's generated code rounds it: zeta =
(rho_a - rho_b) * (1 / n), then 1 +- zeta. At full polarisation 1 - zeta is then a few ulp
(or exactly zero), and libxc's potentials of the empty channel depend on those digits; the
meta-GGAs (whose t_total carries ((1 - zeta)/2)^(5/3)) match libxc only this way.

The exact-exchange mixing of the hybrids is in ``Functional.hf_full`` (see
``range_separated`` for the range-separated mapping).

``FUNCTIONALS`` maps PySCF names to the ``Functional`` objects of this module (the
registry, :mod:`dftjax.xc.registry`, collects those of every module).
"""

import jax
import jax.numpy as jnp
import numpy as np

from ._numerics import X2S, ZETA_THRESHOLD, f_zeta, phi_zeta
from .functional import Functional
from .lda import pw92_eps as pw92
from .spin import (K_FACTOR_C, SpinVariables, opz_pow, per_volume, spin_exchange,
                   spin_variables)

MU_GE = 10.0 / 81.0
PBE_GAMMA = (1.0 - np.log(2.0)) / np.pi**2
PBE_BETA = 0.06672455060314922

# ---------------------------------------------------------------------------------------
# PBE-type correlation pieces (Perdew, Burke & Ernzerhof, PRL 77, 3865 (1996))
# ---------------------------------------------------------------------------------------


def _t2(rs, phi, xt2):
    """PBE's reduced gradient squared t^2 = xt^2 / (16 2^(2/3) phi^2 rs)."""
    return xt2 / (16.0 * 2.0 ** (2.0 / 3.0) * phi**2 * rs)


def pbe_correlation(rs, zeta, xt2, beta=PBE_BETA):
    """PBE correlation per particle eps_PW92mod + H(rs, zeta, t), Eqs. (7)-(8)."""
    eps = pw92(rs, zeta)
    phi3 = phi_zeta(zeta) ** 3
    t2 = _t2(rs, phi_zeta(zeta), xt2)
    a = beta / (PBE_GAMMA * jnp.expm1(-eps / (PBE_GAMMA * phi3)))
    numerator = t2 + a * t2**2
    return eps + PBE_GAMMA * phi3 * jnp.log1p(beta * numerator / (PBE_GAMMA * (1.0 + a * numerator)))


# ---------------------------------------------------------------------------------------
# TPSS: Tao, Perdew, Staroverov & Scuseria, PRL 91, 146401 (2003);
#       Perdew, Tao, Staroverov & Scuseria, JCP 120, 6898 (2004)
# ---------------------------------------------------------------------------------------

TPSS_X_PARAMETERS = {"b": 0.40, "c": 1.59096, "e": 1.537, "kappa": 0.804, "mu": 0.21951}
TPSS_C_PARAMETERS = {"beta": PBE_BETA, "d": 2.8, "C0": (0.53, 0.87, 0.50, 2.26)}


def tpss_exchange_enhancement(params, x2, t):
    """TPSS exchange enhancement F_x(p, z) per spin, Eqs. (5), (7), (10) of the PRL."""
    b, c, e, kappa, mu = (params[k] for k in ("b", "c", "e", "kappa", "mu"))
    p = X2S**2 * x2
    z = x2 / (8.0 * t)
    alpha = (t - x2 / 8.0) / K_FACTOR_C
    qb = 0.45 * (alpha - 1.0) / jnp.sqrt(1.0 + b * alpha * (alpha - 1.0)) + 2.0 * p / 3.0
    numerator = (
        (MU_GE + c * z**2 / (1.0 + z**2) ** 2) * p
        + 146.0 / 2025.0 * qb**2
        - 73.0 / 405.0 * qb * jnp.sqrt(0.5 * (9.0 / 25.0 * z**2 + p**2))
        + MU_GE**2 / kappa * p**2
        + 2.0 * jnp.sqrt(e) * MU_GE * 9.0 / 25.0 * z**2
        + e * mu * p**3
    )
    x = numerator / (1.0 + jnp.sqrt(e) * p) ** 2
    return 1.0 + kappa - kappa**2 / (kappa + x)


def tpss_exchange(params, v: SpinVariables):
    return spin_exchange(v, tpss_exchange_enhancement(params, v.x2, v.t))


def _signed_pow_5_3(x):
    """x |x|^(2/3), libxc's cbrt(x)^2 x: finite, and zero with zero slope at x = 0."""
    nonzero = x != 0.0
    safe = jnp.where(nonzero, x, 1.0)
    return jnp.where(nonzero, safe * jnp.cbrt(safe) ** 2, 0.0)


def _spin_total(zeta, alpha_part, beta_part):
    """libxc's t_total: a ((1 + zeta)/2)^(5/3) + b ((1 - zeta)/2)^(5/3).

    No zeta threshold here (libxc 7.0.0 has none), so a channel whose 1 - zeta rounds to
    zero drops out exactly, and one where it rounds below zero gives a tiny negative term.
    """
    return alpha_part * _signed_pow_5_3(0.5 * (1.0 + zeta)) + beta_part * _signed_pow_5_3(0.5 * (1.0 - zeta))


def _z_thr(zeta):
    """libxc's z_thr: zeta kept within [thr - 1, 1 - thr]."""
    return jnp.where(
        1.0 + zeta <= ZETA_THRESHOLD,
        ZETA_THRESHOLD - 1.0,
        jnp.where(1.0 - zeta <= ZETA_THRESHOLD, 1.0 - ZETA_THRESHOLD, zeta),
    )


def tpss_correlation(params, v: SpinVariables):
    """TPSS correlation per particle, Eqs. (11)-(14), (24)-(34) of the JCP paper.

    As libxc 7 writes it: C(zeta, xi) is held at C(1, 0) = sum C0_i where 1 - |zeta| <= 1e-12
    (its zeta derivative diverges there), and a spin channel libxc screens (rho_s <= threshold
    or 1 + zeta_s <= DBL_EPSILON) takes the total-density PBE value in Eq. (25).
    """
    beta, d = params["beta"], params["d"]
    zeta, rs, xt2, x2 = v.zeta, v.rs, v.xt2, v.x2
    pbe = pbe_correlation(rs, zeta, xt2, beta)

    ferromagnetic = 1.0 - jnp.abs(zeta) <= 1e-12
    zeta_c = jnp.where(ferromagnetic, 0.0, zeta)
    # xi^2 = |grad zeta|^2 / (2 (3 pi^2 n)^(1/3))^2, Eq. (28), in reduced gradients
    xi2 = (1.0 - zeta_c**2) * (_spin_total(zeta_c, x2[0], x2[1]) - xt2)
    xi2 = xi2 / (4.0 * (3.0 * np.pi**2) ** (2.0 / 3.0))
    c00 = sum(coefficient * zeta ** (2 * i) for i, coefficient in enumerate(params["C0"]))
    denominator = 1.0 + 0.5 * xi2 * ((1.0 + zeta_c) ** (-4.0 / 3.0) + (1.0 - zeta_c) ** (-4.0 / 3.0))
    c0 = jnp.where(ferromagnetic, sum(params["C0"]), c00 / denominator**4)
    # tau_W / tau of the total density, at most one (libxc's m_min: at z = 1 the derivative is z's)
    z = xt2 / (8.0 * _spin_total(zeta, v.t[0], v.t[1]))
    z = jnp.where(z > 1.0, 1.0, z)

    zeta_thr = _z_thr(zeta)
    pbe_thr = pbe_correlation(rs, zeta_thr, xt2, beta)

    def parallel(spin):
        sign = 1.0 if spin == 0 else -1.0
        one_plus = 1.0 + sign * zeta
        screened = v.screened[spin] | (one_plus <= ZETA_THRESHOLD)
        one_plus_thr = jnp.where(screened, 1.0, 1.0 + sign * zeta_thr)
        rs_spin = rs * (2.0 / one_plus_thr) ** (1.0 / 3.0)
        own = pbe_correlation(rs_spin, jnp.ones_like(zeta), x2[spin], beta)
        return jnp.where(
            screened,
            0.5 * pbe_thr * one_plus,
            0.5 * jnp.where(own > pbe_thr, own, pbe_thr) * one_plus_thr,
        )

    revpkzb = (1.0 + c0 * z**2) * pbe - (1.0 + c0) * z**2 * (parallel(0) + parallel(1))
    return revpkzb * (1.0 + d * revpkzb * z**3)


def _tpss(params, features):
    v = spin_variables(features, 1e-15, with_tau=True)
    exchange = params["exchange_weight"] * tpss_exchange(params["x"], v)
    return per_volume(v, exchange + v.total * tpss_correlation(params["c"], v))


# ---------------------------------------------------------------------------------------
# SCAN: Sun, Ruzsinszky & Perdew, PRL 115, 036402 (2015)
# ---------------------------------------------------------------------------------------

SCAN_X_PARAMETERS = {"c1": 0.667, "c2": 0.8, "d": 1.24, "k1": 0.065}
SCAN_C_PARAMETERS = {"c1": 0.64, "c2": 1.5, "d": 0.7}
_SCAN_H0X = 1.174
_SCAN_A1 = 4.9479
_SCAN_B2 = np.sqrt(5913.0 / 405000.0)
_SCAN_B1 = (511.0 / 13500.0) / (2.0 * _SCAN_B2)
_SCAN_B3 = 0.5
# Correlation, Eqs. (S3)-(S5) of the SCAN supplement
_SCAN_B1C, _SCAN_B2C, _SCAN_B3C = 0.0285764, 0.0889, 0.125541
_SCAN_CHI_INFINITY = 0.12802585262625815
_SCAN_G_CONSTANT = 2.363
# Within 1e-3 of alpha = 1 the SCAN switching function's exponentials are below 1e-270
# (exponents beyond -600); taking them as zero there keeps the unselected branch finite.
_SWITCH_GAP = 1e-3


def scan_switch(alpha, c1, c2, d):
    """SCAN's f(alpha): exp(-c1 a/(1 - a)) for a <= 1, -d exp(c2/(1 - a)) above."""
    below = jnp.where(alpha < 1.0 - _SWITCH_GAP, alpha, 1.0 - _SWITCH_GAP)
    above = jnp.where(alpha > 1.0 + _SWITCH_GAP, alpha, 1.0 + _SWITCH_GAP)
    return jnp.where(
        alpha <= 1.0,
        jnp.where(alpha <= 1.0 - _SWITCH_GAP, jnp.exp(-c1 * below / (1.0 - below)), 0.0),
        -d * jnp.exp(c2 / (1.0 - above)),
    )


def _scan_h1x(y, k1):
    return 1.0 + k1 * (1.0 - k1 / (k1 + y))


def _scan_gx(p):
    return -jnp.expm1(-_SCAN_A1 / p**0.25)


def scan_exchange_enhancement(params, x2, t):
    """SCAN exchange enhancement F_x(s, alpha), Eqs. (4)-(8) of the supplement."""
    c1, c2, d, k1 = (params[k] for k in ("c1", "c2", "d", "k1"))
    b4 = MU_GE**2 / k1 - 1606.0 / 18225.0 - _SCAN_B1**2
    p = X2S**2 * x2
    alpha = (t - x2 / 8.0) / K_FACTOR_C
    y = (
        MU_GE * p
        + b4 * p**2 * jnp.exp(-b4 * p / MU_GE)
        + (_SCAN_B1 * p + _SCAN_B2 * (1.0 - alpha) * jnp.exp(-_SCAN_B3 * (1.0 - alpha) ** 2)) ** 2
    )
    switch = scan_switch(alpha, c1, c2, d)
    return (_scan_h1x(y, k1) * (1.0 - switch) + _SCAN_H0X * switch) * _scan_gx(p)


def scan_exchange(params, v: SpinVariables):
    return spin_exchange(v, scan_exchange_enhancement(params, v.x2, v.t))


def _scan_eps_lda0(rs):
    return -_SCAN_B1C / (1.0 + _SCAN_B2C * jnp.sqrt(rs) + _SCAN_B3C * rs)


def _scan_gc(zeta):
    return (1.0 - _SCAN_G_CONSTANT * (2.0 ** (1.0 / 3.0) - 1.0) * f_zeta(zeta)) * (1.0 - zeta**12)


def scan_eps0(rs, zeta, s2):
    """SCAN's alpha = 0 correlation eps_c^0, Eqs. (S3)-(S5)."""
    eps_lda0 = _scan_eps_lda0(rs)
    g_infinity = (1.0 + 4.0 * _SCAN_CHI_INFINITY * s2) ** -0.25
    h0 = _SCAN_B1C * jnp.log1p(jnp.expm1(-eps_lda0 / _SCAN_B1C) * (1.0 - g_infinity))
    return (eps_lda0 + h0) * _scan_gc(zeta)


def _w1(eps, phi3):
    return jnp.expm1(-eps / (PBE_GAMMA * phi3))


def _beta_hu_langreth(rs):
    return 0.066724550603149220 * (1.0 + 0.1 * rs) / (1.0 + 0.1778 * rs)


def scan_eps1(rs, zeta, xt2):
    """SCAN's alpha = 1 correlation eps_c^1 = eps_PW92 + H1, Eqs. (S6)-(S9)."""
    eps = pw92(rs, zeta)
    phi = phi_zeta(zeta)
    w1 = _w1(eps, phi**3)
    a = _beta_hu_langreth(rs) / (PBE_GAMMA * w1)
    g = (1.0 + 4.0 * a * _t2(rs, phi, xt2)) ** -0.25
    return eps + PBE_GAMMA * phi**3 * jnp.log1p(w1 * (1.0 - g))


def _alpha_total(v: SpinVariables, eta=0.0):
    """Iso-orbital indicator of the total density, (tau - tau_W) / (tau_unif d_s(zeta) + eta tau_W)."""
    xt2 = v.xt2
    uniform = K_FACTOR_C * _spin_total(v.zeta, 1.0, 1.0)
    return (_spin_total(v.zeta, v.t[0], v.t[1]) - xt2 / 8.0) / (uniform + eta * xt2 / 8.0)


def scan_correlation(params, v: SpinVariables):
    """SCAN correlation per particle eps_c^1 + f_c(alpha) (eps_c^0 - eps_c^1), Eq. (S1)."""
    s2 = X2S**2 * 2.0 ** (2.0 / 3.0) * v.xt2
    eps1 = scan_eps1(v.rs, v.zeta, v.xt2)
    eps0 = scan_eps0(v.rs, v.zeta, s2)
    switch = scan_switch(_alpha_total(v), params["c1"], params["c2"], params["d"])
    return eps1 + switch * (eps0 - eps1)


def _scan(params, features):
    v = spin_variables(features, 1e-15, with_tau=True)
    return per_volume(v, scan_exchange(params["x"], v) + v.total * scan_correlation(params["c"], v))


# ---------------------------------------------------------------------------------------
# r2SCAN: Furness, Kaplan, Ning, Perdew & Sun, JPCL 11, 8208 (2020); erratum 11, 9248
# ---------------------------------------------------------------------------------------

R2SCAN_X_PARAMETERS = {**SCAN_X_PARAMETERS, "eta": 0.001, "dp2": 0.361}
R2SCAN_C_PARAMETERS = {**SCAN_C_PARAMETERS, "eta": 0.001, "dp2": 0.361}
# Polynomial f(alpha) on [0, 2.5] of rSCAN (Bartok & Yates, JCP 150, 161101 (2019)), c_0..c_7
_RSCAN_FX = (1.0, -0.667, -0.4445555, -0.663086601049,
             1.451297044490, -0.887998041597, 0.234528941479, -0.023185843322)
_RSCAN_FC = (1.0, -0.64, -0.4352, -1.535685604549,
             3.061560252175, -1.915710236206, 0.516884468372, -0.051848879792)
_R2SCAN_ALPHA_MAX = 2.5


def r2scan_switch(alpha, coefficients, c1, c2, d):
    """r2SCAN's f(alpha): SCAN's exponential below 0 and above 2.5, a polynomial between."""
    # where, not minimum/maximum: at a tie (alpha = 0 exactly, i.e. tau = tau_W) the selected
    # branch must get the whole derivative, as in libxc.
    negative = jnp.where(alpha <= 0.0, alpha, 0.0)
    middle = jnp.where(alpha <= 0.0, 0.0, jnp.where(alpha <= _R2SCAN_ALPHA_MAX, alpha, _R2SCAN_ALPHA_MAX))
    large = jnp.where(alpha > _R2SCAN_ALPHA_MAX, alpha, _R2SCAN_ALPHA_MAX)
    polynomial = sum(c * middle**i for i, c in enumerate(coefficients))
    return jnp.where(
        alpha <= 0.0,
        jnp.exp(-c1 * negative / (1.0 - negative)),
        jnp.where(alpha <= _R2SCAN_ALPHA_MAX, polynomial, -d * jnp.exp(c2 / (1.0 - large))),
    )


def r2scan_exchange_enhancement(params, x2, t):
    """r2SCAN exchange enhancement, Eqs. (S6)-(S12) of the supplement."""
    c1, c2, d, k1, eta, dp2 = (params[k] for k in ("c1", "c2", "d", "k1", "eta", "dp2"))
    p = X2S**2 * x2
    alpha = (t - x2 / 8.0) / (K_FACTOR_C + eta * x2 / 8.0)
    c_eta = 20.0 / 27.0 + eta * 5.0 / 3.0
    # libxc's C2 = -sum_{i=1..8} i c_{i-1} (1 - h0x); sum c_i = f(1) ~ 1e-12, so this is
    # the paper's -sum i c_i (1 - h0x) to that precision.
    c_2 = -sum((i + 1) * c for i, c in enumerate(_RSCAN_FX)) * (1.0 - _SCAN_H0X)
    x = (c_eta * c_2 * jnp.exp(-(p**2) / dp2**4) + MU_GE) * p
    h1x = _scan_h1x(x, k1)
    switch = r2scan_switch(alpha, _RSCAN_FX, c1, c2, d)
    return (h1x + switch * (_SCAN_H0X - h1x)) * _scan_gx(p)


def r2scan_exchange(params, v: SpinVariables):
    return spin_exchange(v, r2scan_exchange_enhancement(params, v.x2, v.t))


def r2scan_correlation(params, v: SpinVariables):
    """r2SCAN correlation per particle, Eqs. (S24)-(S34) of the supplement."""
    eta, dp2 = params["eta"], params["dp2"]
    rs, zeta, xt2 = v.rs, v.zeta, v.xt2
    s2 = X2S**2 * 2.0 ** (2.0 / 3.0) * xt2
    phi = phi_zeta(zeta)
    phi3 = phi**3

    def eps_lsda0(r):
        return _scan_eps_lda0(r) * _scan_gc(zeta)

    def eps_lsda1(r):
        return pw92(r, zeta)

    ones = jnp.ones_like(rs)
    lsda0, d_lsda0 = jax.jvp(eps_lsda0, (rs,), (ones,))
    lsda1, d_lsda1 = jax.jvp(eps_lsda1, (rs,), (ones,))
    w1 = _w1(lsda1, phi3)
    d_zeta = 0.5 * (opz_pow(zeta, 5.0 / 3.0) + opz_pow(-zeta, 5.0 / 3.0))
    # libxc's dfc2 = sum_{i=1..7} i c_i of the correlation polynomial
    dfc2 = sum(i * c for i, c in enumerate(_RSCAN_FC))
    delta_y = (
        dfc2
        / (27.0 * PBE_GAMMA * d_zeta * phi3 * w1)
        * (20.0 * rs * (d_lsda0 - d_lsda1) - 45.0 * eta * (lsda0 - lsda1))
        * s2
        * jnp.exp(-(s2**2) / dp2**4)
    )
    y = _beta_hu_langreth(rs) * _t2(rs, phi, xt2) / (PBE_GAMMA * w1)
    g = (1.0 + 4.0 * (y - delta_y)) ** -0.25
    eps1 = lsda1 + PBE_GAMMA * phi3 * jnp.log1p(w1 * (1.0 - g))
    eps0 = scan_eps0(rs, zeta, s2)
    switch = r2scan_switch(_alpha_total(v, eta), _RSCAN_FC, params["c1"], params["c2"], params["d"])
    return eps1 + switch * (eps0 - eps1)


def _r2scan(params, features):
    v_x = spin_variables(features, 1e-11, with_tau=True)
    v_c = spin_variables(features, 1e-15, with_tau=True)
    return per_volume(v_x, r2scan_exchange(params["x"], v_x)) + per_volume(
        v_c, v_c.total * r2scan_correlation(params["c"], v_c)
    )


_MGGA_NEEDS = ("rho", "sigma", "tau")

FUNCTIONALS = {
    "tpss": Functional(
        "tpss",
        _tpss,
        _MGGA_NEEDS,
        {"x": TPSS_X_PARAMETERS, "c": TPSS_C_PARAMETERS, "exchange_weight": 1.0},
    ),
    # TPSSh: 10 % exact exchange, Staroverov, Scuseria, Tao & Perdew, JCP 119, 12129 (2003)
    "tpssh": Functional(
        "tpssh",
        _tpss,
        _MGGA_NEEDS,
        {"x": TPSS_X_PARAMETERS, "c": TPSS_C_PARAMETERS, "exchange_weight": 0.9},
        hf_full=0.1,
    ),
    "scan": Functional("scan", _scan, _MGGA_NEEDS, {"x": SCAN_X_PARAMETERS, "c": SCAN_C_PARAMETERS}),
    "r2scan": Functional(
        "r2scan", _r2scan, _MGGA_NEEDS, {"x": R2SCAN_X_PARAMETERS, "c": R2SCAN_C_PARAMETERS}
    ),
}

