"""Minnesota meta-GGAs as libxc defines them: M06-L and M06-2X.

Energy densities per volume (npts,) in Hartree / Bohr^3 from spin-resolved features
(``rho`` (2, npts), ``sigma`` (3, npts), ``tau`` (2, npts), tau with libxc's 1/2); the
input sanitation and spin variables are libxc's (see :mod:`dftjax.xc.mgga`).

* M06-L: Zhao & Truhlar, JCP 125, 194101 (2006); libxc mgga_x_m06_l + mgga_c_m06_l.
* M06-2X: Zhao & Truhlar, TCA 120, 215 (2008); libxc hyb_mgga_x_m06_2x + mgga_c_m06_2x,
  with 54 % exact exchange.

Both share one form. Exchange, per spin with x_s^2 = sigma_ss / rho_s^(8/3) and
t_s = tau_s / rho_s^(5/3): F = F_PBE(x_s) sum_i a_i w_s^i + h(x_s, z_s), with
w_s = (K - t_s)/(K + t_s), z_s = 2 (t_s - K), K = 3/10 (6 pi^2)^(2/3), and h the VS98 form
(zero for M06-2X). Correlation: the M05 form (B97-type series in x_s times a Fermi-hole
factor, on the Stoll-partitioned PW92) plus the VS98 form, same- and opposite-spin.
"""

import jax.numpy as jnp

from .functional import Functional
from .lda import pw92_eps as pw92
from ._numerics import X2S
from .spin import (
    K_FACTOR_C,
    per_volume,
    spin_exchange,
    spin_variables,
    stoll_parallel,
    stoll_perpendicular,
)

_PBE_KAPPA = 0.8040
_PBE_MU = 0.2195149727645171
_M06_ALPHA_X = 0.00186726
# libxc's Fermi_D_cnst: the M05 Fermi-hole factor (1 - x^2/(8t)) (1 - exp(-4 t^2/c^2))
_FERMI_D_CONSTANT = 1e-10

M06L_X_PARAMETERS = {
    "a": (0.3987756, 0.2548219, 0.3923994, -2.103655, -6.302147, 10.97615,
          30.97273, -23.18489, -56.73480, 21.60364, 34.21814, -9.049762),
    "d": (0.6012244, 0.004748822, -0.008635108, -0.000009308062, 0.00004482811, 0.0),
}
M062X_X_PARAMETERS = {
    "a": (0.46, -0.2206052, -0.09431788, 2.164494, -2.556466, -14.22133,
          15.55044, 35.98078, -27.22754, -39.24093, 15.22808, 15.22227),
    "d": (0.0,) * 6,
}
_M06_C_COMMON = {"gamma_ss": 0.06, "gamma_ab": 0.0031, "alpha_ss": 0.00515088, "alpha_ab": 0.00304966}
M06L_C_PARAMETERS = {
    **_M06_C_COMMON,
    "css": (0.5349466, 0.5396620, -31.61217, 51.49592, -29.19613),
    "cab": (0.6042374, 177.6783, -251.3252, 76.35173, -12.55699),
    "dss": (0.4650534, 0.1617589, 0.1833657, 0.0004692100, -0.004990573, 0.0),
    "dab": (0.3957626, -0.5614546, 0.01403963, 0.0009831442, -0.003577176, 0.0),
}
M062X_C_PARAMETERS = {
    **_M06_C_COMMON,
    "css": (0.3097855, -5.528642, 13.47420, -32.13623, 28.46742),
    "cab": (0.8833596, 33.57972, -70.43548, 49.78271, -18.52891),
    "dss": (0.6902145, 0.09847204, 0.2214797, -0.001968264, -0.006775479, 0.0),
    "dab": (0.1166404, -0.09120847, -0.06726189, 0.00006720580, 0.0008448011, 0.0),
}


def vs98(alpha, d, x2, z):
    """The VS98 / GVT4 form d0/g + (d1 x^2 + d2 z)/g^2 + (d3 x^4 + d4 x^2 z + d5 z^2)/g^3.

    g = 1 + alpha (x^2 + z); Van Voorhis & Scuseria, JCP 109, 400 (1998).
    """
    g = 1.0 + alpha * (x2 + z)
    return d[0] / g + (d[1] * x2 + d[2] * z) / g**2 + (d[3] * x2**2 + d[4] * x2 * z + d[5] * z**2) / g**3


def b97_series(gamma, coefficients, x2):
    """B97's g(x) = sum_i c_i u^i, u = gamma x^2 / (1 + gamma x^2) (Becke, JCP 107, 8554 (1997))."""
    u = gamma * x2 / (1.0 + gamma * x2)
    return sum(c * u**i for i, c in enumerate(coefficients))


def m06_exchange_enhancement(params, x2, t):
    """F_PBE(x) sum_{i=0..11} a_i w^i + VS98(x, 2 (t - K)), per spin."""
    pbe = 1.0 + _PBE_KAPPA - _PBE_KAPPA**2 / (_PBE_KAPPA + _PBE_MU * X2S**2 * x2)
    w = (K_FACTOR_C - t) / (K_FACTOR_C + t)
    series = sum(a * w**i for i, a in enumerate(params["a"]))
    return pbe * series + vs98(_M06_ALPHA_X, params["d"], x2, 2.0 * (t - K_FACTOR_C))


def m06_correlation(params, v):
    """M06 correlation per particle: M05 part + VS98 part, Eqs. (3)-(10) of the M06-L paper."""
    x2, t = v.x2, v.t
    fermi_hole = 1.0 - x2 / (8.0 * t)
    fermi_hole_corrected = fermi_hole * -jnp.expm1(-4.0 * t**2 / _FERMI_D_CONSTANT**2)
    same_spin = 0.0
    for spin in (0, 1):
        parallel = stoll_parallel(pw92, v, spin)
        same_spin = same_spin + parallel * (
            b97_series(params["gamma_ss"], params["css"], x2[spin]) * fermi_hole_corrected[spin]
            + vs98(params["alpha_ss"], params["dss"], x2[spin], 2.0 * (t[spin] - K_FACTOR_C))
            * fermi_hole[spin]
        )
    x2_ab = x2[0] + x2[1]
    z_ab = 2.0 * (t[0] + t[1] - 2.0 * K_FACTOR_C)
    opposite_spin = stoll_perpendicular(pw92, v) * (
        b97_series(params["gamma_ab"], params["cab"], x2_ab)
        + vs98(params["alpha_ab"], params["dab"], x2_ab, z_ab)
    )
    return same_spin + opposite_spin


def _m06(params, features):
    v_x = spin_variables(features, 1e-15, with_tau=True)
    v_c = spin_variables(features, 1e-12, with_tau=True)
    exchange = spin_exchange(v_x, m06_exchange_enhancement(params["x"], v_x.x2, v_x.t))
    return per_volume(v_x, exchange) + per_volume(v_c, v_c.total * m06_correlation(params["c"], v_c))


_NEEDS = ("rho", "sigma", "tau")
_M06L = Functional("m06-l", _m06, _NEEDS, {"x": M06L_X_PARAMETERS, "c": M06L_C_PARAMETERS})

FUNCTIONALS = {
    "m06-l": _M06L,
    "m06l": _M06L,
    "m06-2x": Functional(
        "m06-2x", _m06, _NEEDS, {"x": M062X_X_PARAMETERS, "c": M062X_C_PARAMETERS}, hf_full=0.54
    ),
}
