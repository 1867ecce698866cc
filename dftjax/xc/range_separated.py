"""Range-separated hybrids as libxc defines them: CAM-B3LYP and omega-B97X.

Energy densities per volume (npts,) in Hartree / Bohr^3 from ``rho`` (2, npts) and
``sigma`` (3, npts); the input sanitation is libxc's (see :mod:`dftjax.xc.mgga`).

**Exact exchange.** In libxc (and PySCF's ``rsh_coeff``) the exact exchange of a
range-separated hybrid uses the operator [cam_alpha + cam_beta erfc(omega r)] / r:

    E_x^HF = cam_alpha K_full + cam_beta K_sr(omega),  K_sr = K_full - K_erf(omega),

i.e. cam_alpha + cam_beta of exact exchange at short range and cam_alpha at long range.
dftjax's ``Functional`` stores hf_full K_full + hf_long_range K_erf(omega), hence

    hf_full = cam_alpha + cam_beta,   hf_long_range = -cam_beta,   omega = omega.

PySCF's ``NumInt.rsh_and_hybrid_coeff`` returns (omega, alpha, hyb) with hyb = hf_full and
alpha = hf_full + hf_long_range (the long-range fraction).

* CAM-B3LYP (Yanai, Tew & Handy, CPL 393, 51 (2004)); libxc hyb_gga_xc_cam_b3lyp:
  cam_alpha = 0.65, cam_beta = -0.46, omega = 0.33, so hf_full = 0.19, hf_long_range = 0.46.
  Semi-local part 0.35 B88 + 0.46 B88 short-range (libxc gga_x_ityh, Iikura, Tsuneda, Yanai
  & Hirao, JCP 115, 3540 (2001)) + 0.19 VWN5 (libxc lda_c_vwn, *not* the VWN-RPA of B3LYP)
  + 0.81 LYP, each with its own libxc density threshold (1e-15, 1e-14, 1e-15, 1e-14). The
  B88 enhancement, VWN5 and LYP kernels are those of :mod:`dftjax.xc.gga` and
  :mod:`dftjax.xc.lda`, evaluated on this module's spin variables.
* omega-B97X (Chai & Head-Gordon, JCP 128, 084106 (2008)); libxc hyb_gga_xc_wb97x:
  cam_alpha = 1, cam_beta = -0.842294, omega = 0.3, so hf_full = 0.157706,
  hf_long_range = 0.842294. Semi-local part: short-range LDA exchange times a B97 series,
  and B97 correlation on the Stoll-partitioned PW92 (original parameters).
"""

import math

import jax.numpy as jnp
from jax.scipy.special import erf

from ._numerics import RS_FACTOR, X_FACTOR_C, ZETA_THRESHOLD
from .functional import Functional
from .gga import B88_PARAMS, LYP_PARAMS, b88_enhancement, lyp_eps
from .lda import PW92_PARAMS, VWN5_PARAMS, pw92_eps, vwn5_eps
from .spin import (
    exchange_spin_densities,
    per_volume,
    spin_exchange,
    spin_variables,
    stoll_parallel,
    stoll_perpendicular,
)
from .minnesota import b97_series

# ---------------------------------------------------------------------------------------
# Short-range LDA exchange: the erf attenuation of a spin channel's exchange hole,
# F(a) with a = omega / (2 k_F) (Savin; Gill, Adamson & Pople, Mol. Phys. 88, 1005 (1996)).
# ---------------------------------------------------------------------------------------

# libxc 7 evaluates F for a >= 1.35 by its large-a series sum_k c_k a^(-2k) truncated at
# a^(-16) (maple/attenuation.mpl, enforce_smooth_lr), where the closed form cancels. With
# y = 1/(2a): F = -(4/3) sum_{k>=1} b_k y^(2k),
# b_k = (-1)^k [2/(k! (2k+1)) - 1/(k+1)! - 1/(2 (k+2)!)]; c_1 = 1/36, c_2 = -1/960, ...
_ATTENUATION_SERIES_START = 1.35
_ATTENUATION_SERIES = tuple(
    -4.0 / 3.0 * (-1.0) ** k
    * (2.0 / (math.factorial(k) * (2 * k + 1)) - 1.0 / math.factorial(k + 1) - 0.5 / math.factorial(k + 2))
    / 4.0**k
    for k in range(1, 9)
)


def attenuation_erf(a):
    """F(a) = 1 - 8a/3 [sqrt(pi) erf(1/(2a)) + (2a - 4a^3) exp(-1/(4a^2)) - 3a + 4a^3]."""
    small = jnp.where(a < _ATTENUATION_SERIES_START, a, _ATTENUATION_SERIES_START)
    large = jnp.where(a >= _ATTENUATION_SERIES_START, a, _ATTENUATION_SERIES_START)
    expm1 = jnp.expm1(-1.0 / (4.0 * small**2))
    closed = 1.0 - 8.0 / 3.0 * small * (
        math.sqrt(math.pi) * erf(1.0 / (2.0 * small)) + 2.0 * small * (expm1 - (2.0 * small**2 * expm1 + 0.5))
    )
    series = sum(c * large ** (-2 * (k + 1)) for k, c in enumerate(_ATTENUATION_SERIES))
    return jnp.where(a >= _ATTENUATION_SERIES_START, series, closed)


def _spin_fermi_wavevector(rho_spin, enhancement=1.0):
    """k_F of a spin channel, (6 pi^2 rho_s)^(1/3), divided by sqrt(F) as ITYH defines k_GGA."""
    return jnp.sqrt(9.0 * math.pi / (2.0 * X_FACTOR_C * enhancement)) * rho_spin ** (1.0 / 3.0)


# ---------------------------------------------------------------------------------------
# CAM-B3LYP
# ---------------------------------------------------------------------------------------

CAM_B3LYP_PARAMETERS = {"ac": 0.81, "alpha": 0.65, "beta": -0.46, "omega": 0.33, "b88": B88_PARAMS,
                        "lyp": LYP_PARAMS, "vwn": VWN5_PARAMS}


def ityh_enhancement(params, v, omega):
    """Short-range B88 enhancement F_B88(x_s) F_att(omega / (2 k_GGA,s)) (2, n).

    k_GGA = (9 pi / (2 X F_B88))^(1/2) rho_s^(1/3) (libxc gga_x_ityh).
    """
    b88 = b88_enhancement(v.x2, params)
    k_gga = _spin_fermi_wavevector(exchange_spin_densities(v), b88)
    return b88 * attenuation_erf(omega / (2.0 * k_gga))


def _cam_b3lyp(params, features):
    """0.35 B88 + 0.46 B88_sr + 0.19 VWN5 + 0.81 LYP; libxc thresholds 1e-15, 1e-14, 1e-15, 1e-14."""
    alpha, beta, ac = params["alpha"], params["beta"], params["ac"]
    v15 = spin_variables(features, 1e-15, with_tau=False)
    v14 = spin_variables(features, 1e-14, with_tau=False)
    b88 = spin_exchange(v15, b88_enhancement(v15.x2, params["b88"]))
    b88_short_range = spin_exchange(v14, ityh_enhancement(params["b88"], v14, params["omega"]))
    vwn = v15.total * vwn5_eps(v15.rs, v15.zeta, params["vwn"])
    lyp = v14.total * lyp_eps(v14.rs, v14.zeta, v14.xt2, v14.x2, params["lyp"])
    return (per_volume(v15, (1.0 - alpha) * b88 + (1.0 - ac) * vwn)
            + per_volume(v14, -beta * b88_short_range + ac * lyp))


# ---------------------------------------------------------------------------------------
# omega-B97X
# ---------------------------------------------------------------------------------------

WB97X_PARAMETERS = {
    "c_x": (0.842294, 0.726479, 1.04760, -5.70635, 13.2794),
    "c_ss": (1.0, -4.33879, 18.2308, -31.7430, 17.2901),
    "c_ab": (1.0, 2.37031, -11.3995, 6.58405, -3.78132),
    "omega": 0.3,
}
_B97_GAMMA_X, _B97_GAMMA_SS, _B97_GAMMA_AB = 0.004, 0.2, 0.006


def _pw92_original(rs, zeta):
    return pw92_eps(rs, zeta, PW92_PARAMS)


def _wb97x_exchange(params, v):
    """Short-range exchange per volume, sum_s e_x^LDA,sr(rho_s) g_x(x_s).

    Written as libxc's hyb_gga_xc_wb97: channel s at rs_s = rs (2 / (1 + zeta_s))^(1/3),
    weighted by (1 + zeta_s) / 2, without the zeta threshold of the other exchanges; a
    channel is dropped where rho_s <= threshold or 1 + zeta_s <= DBL_EPSILON.
    """
    exchange = 0.0
    for spin, sign in ((0, 1.0), (1, -1.0)):
        one_plus = 1.0 + sign * v.zeta
        screened = v.screened[spin] | (one_plus <= ZETA_THRESHOLD)
        one_plus = jnp.where(screened, 1.0, one_plus)
        rs_spin = v.rs * (2.0 / one_plus) ** (1.0 / 3.0)
        # omega / (2 k_F,s), k_F,s = (9 pi / 2)^(1/3) / rs_s, as libxc's lda_x_erf_spin(rs_s, 1)
        a = (4.0 / (9.0 * math.pi)) ** (1.0 / 3.0) * params["omega"] / 2.0 * rs_spin / 2.0 ** (1.0 / 3.0)
        lda = -X_FACTOR_C * RS_FACTOR / rs_spin * attenuation_erf(a)
        channel = 0.5 * one_plus * lda * b97_series(_B97_GAMMA_X, params["c_x"], v.x2[spin])
        exchange = exchange + jnp.where(screened, 0.0, channel)
    return v.total * exchange


def _wb97x(params, features):
    v = spin_variables(features, 1e-14, with_tau=False)
    x2 = v.x2
    exchange = _wb97x_exchange(params, v)
    same_spin = sum(
        stoll_parallel(_pw92_original, v, spin) * b97_series(_B97_GAMMA_SS, params["c_ss"], x2[spin])
        for spin in (0, 1)
    )
    opposite_spin = stoll_perpendicular(_pw92_original, v) * b97_series(
        _B97_GAMMA_AB, params["c_ab"], 0.5 * (x2[0] + x2[1])
    )
    return per_volume(v, exchange + v.total * (same_spin + opposite_spin))


_NEEDS = ("rho", "sigma")

FUNCTIONALS = {
    "cam-b3lyp": Functional("cam-b3lyp", _cam_b3lyp, _NEEDS, CAM_B3LYP_PARAMETERS,
                            hf_full=0.65 - 0.46, hf_long_range=0.46, omega=0.33),
    "wb97x": Functional("wb97x", _wb97x, _NEEDS, WB97X_PARAMETERS,
                        hf_full=1.0 - 0.842294, hf_long_range=0.842294, omega=0.3),
}
