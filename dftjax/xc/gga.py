"""Generalised-gradient approximations: B88 and PBE exchange, PBE and LYP correlation.

As in :mod:`dftjax.xc.lda`, each functional has reusable kernels (enhancement factors,
energies per particle in terms of rs, zeta and reduced gradients) and an energy density
``(params, Features) -> (npts,)`` per volume (Hartree / Bohr^3) read from ``rho`` (2, npts)
and ``sigma`` (3, npts).

Reduced gradients follow libxc: ``xs_s = |grad rho_s| / rho_s^(4/3)`` per spin and
``xt = |grad n| / n^(4/3)`` for the total density; the kernels take their squares. The
formulas, parameters and thresholds are libxc 7's (maple/gga_exc/*.mpl); dens_threshold is
1e-15 for the exchanges, 1e-12 for PBE correlation and 1e-14 for LYP.
"""

import math

import jax.numpy as jnp

from ._numerics import (RS_FACTOR, X2S, X_FACTOR_C, as_zeta, libxc_inputs, per_volume,
                        phi_zeta, reduced_gradients_squared, rs_zeta, threshold_pow)
from .functional import Features, Functional
from .lda import PW92_MOD_PARAMS, exchange_eps, pw92_eps

GGA_NEEDS = ("rho", "sigma")

# ---------------------------------------------------------------------------------------
# Exchange.  e_x = sum_s e_x^LDA(rho_s) F(xs_s).


def b88_enhancement(xs2, params):
    """Becke 88 enhancement factor, A. D. Becke, Phys. Rev. A 38, 3098 (1988), eq. (8).

    F(x) = 1 + beta / X_FACTOR_C x^2 / (1 + gamma beta x asinh x), from xs^2 > 0.
    """
    x = jnp.sqrt(xs2)
    beta, gamma = params["beta"], params["gamma"]
    return 1.0 + beta / X_FACTOR_C * xs2 / (1.0 + gamma * beta * x * jnp.arcsinh(x))


def pbe_x_enhancement(xs2, params):
    """PBE exchange enhancement factor, Perdew, Burke & Ernzerhof, PRL 77, 3865 (1996), eq. (14).

    F(s) = 1 + kappa - kappa / (1 + mu s^2 / kappa), s = X2S xs.
    """
    kappa, mu = params["kappa"], params["mu"]
    return 1.0 + kappa * (1.0 - kappa / (kappa + mu * X2S**2 * xs2))


def _gga_exchange(enhancement, dens_threshold):
    def energy_density(params, features: Features):
        inputs = libxc_inputs(features, dens_threshold, use_sigma=True)
        xs2, _ = reduced_gradients_squared(inputs.rho, inputs.sigma)
        eps = exchange_eps(inputs.rho, enhancement(xs2, params), dens_threshold)
        return per_volume(eps, inputs)

    return energy_density


gga_x_b88 = _gga_exchange(b88_enhancement, 1e-15)
gga_x_b88.__doc__ = "Becke 88 exchange energy per volume (npts,)."
gga_x_pbe = _gga_exchange(pbe_x_enhancement, 1e-15)
gga_x_pbe.__doc__ = "PBE exchange energy per volume (npts,)."

B88_PARAMS = {"beta": 0.0042, "gamma": 6.0}
# mu = beta pi^2 / 3 with PBE correlation's beta, as libxc writes it (MU_PBE).
PBE_X_PARAMS = {"kappa": 0.8040, "mu": 0.2195149727645171}

# ---------------------------------------------------------------------------------------
# PBE correlation: PRL 77, 3865 (1996), eqs. (3), (7), (8); libxc's values of beta and
# gamma = (1 - ln 2) / pi^2, and PW92 with the extra digits of the PBE code (pw_mod).

PBE_C_PARAMS = {"beta": 0.06672455060314922, "gamma": 0.031090690869654895034,
                "B": 1.0, "pw92": PW92_MOD_PARAMS}


def pbe_c_gradient_correction(zeta, t2, eps_lda, params):
    """PBE gradient correction H(rs, zeta, t) per particle, eq. (7), from t^2 and eps_c^LDA.

    ``B`` multiplies the A t^4 term (1 in PBE; libxc's SPBE variant changes it).
    """
    beta, gamma = params["beta"], params["gamma"]
    phi3 = phi_zeta(zeta) ** 3
    a = beta / (gamma * jnp.expm1(-eps_lda / (gamma * phi3)))
    numerator = t2 + params["B"] * a * t2 * t2
    return gamma * phi3 * jnp.log1p(beta * numerator / (gamma * (1.0 + a * numerator)))


def pbe_c_eps(rs, zeta, xt2, params=PBE_C_PARAMS):
    """PBE correlation per particle: PW92 (pw_mod) plus H, with t = xt / (4 2^(1/3) phi sqrt(rs))."""
    t2 = xt2 / (16.0 * 2.0 ** (2.0 / 3.0) * phi_zeta(zeta) ** 2 * rs)
    eps_lda = pw92_eps(rs, zeta, params["pw92"])
    return eps_lda + pbe_c_gradient_correction(zeta, t2, eps_lda, params)


def gga_c_pbe(params, features: Features):
    """PBE correlation energy per volume (npts,)."""
    inputs = libxc_inputs(features, 1e-12, use_sigma=True)
    _, xt2 = reduced_gradients_squared(inputs.rho, inputs.sigma)
    return per_volume(pbe_c_eps(*rs_zeta(inputs.rho), xt2, params), inputs)


# ---------------------------------------------------------------------------------------
# LYP: C. Lee, W. Yang and R. G. Parr, Phys. Rev. B 37, 785 (1988), in the
# density-and-gradient form of B. Miehlich, A. Savin, H. Stoll and H. Preuss, Chem. Phys.
# Lett. 157, 200 (1989), eq. (2), written in rs, zeta and reduced gradients as libxc does.

LYP_PARAMS = {"a": 0.04918, "b": 0.132, "c": 0.2533, "d": 0.349}
_LYP_CF = 3.0 / 10.0 * (3.0 * math.pi**2) ** (2.0 / 3.0)


def lyp_eps(rs, zeta, xt2, xs2, params=LYP_PARAMS):
    """LYP correlation per particle from rs, zeta, xt^2 and xs_s^2 (2, npts)."""
    a, b, c, d = (params[key] for key in ("a", "b", "c", "d"))
    zeta = as_zeta(zeta)
    r = rs / RS_FACTOR  # n^(-1/3)
    omega = b * jnp.exp(-c * r) / (1.0 + d * r)
    delta = (c + d / (1.0 + d * r)) * r
    aux6 = 2.0 ** (-8.0 / 3.0)
    aux4 = aux6 / 4.0
    aux5 = aux4 / 18.0
    one_minus_z2 = zeta.plus * zeta.minus
    up83, down83 = threshold_pow(zeta.plus, 8.0 / 3.0), threshold_pow(zeta.minus, 8.0 / 3.0)
    same_spin = xs2[0] * up83 + xs2[1] * down83
    t1 = -one_minus_z2 / (1.0 + d * r)
    t2 = -xt2 * (one_minus_z2 * (47.0 - 7.0 * delta) / 72.0 - 2.0 / 3.0)
    t3 = -_LYP_CF / 2.0 * one_minus_z2 * (up83 + down83)
    t4 = aux4 * one_minus_z2 * (2.5 - delta / 18.0) * same_spin
    t5 = (aux5 * one_minus_z2 * (delta - 11.0)
          * (xs2[0] * threshold_pow(zeta.plus, 11.0 / 3.0)
             + xs2[1] * threshold_pow(zeta.minus, 11.0 / 3.0)))
    t6 = -aux6 * (2.0 / 3.0 * same_spin - threshold_pow(zeta.plus, 2.0) * xs2[1] * down83 / 4.0
                  - threshold_pow(zeta.minus, 2.0) * xs2[0] * up83 / 4.0)
    return a * (t1 + omega * (t2 + t3 + t4 + t5 + t6))


def gga_c_lyp(params, features: Features):
    """LYP correlation energy per volume (npts,)."""
    inputs = libxc_inputs(features, 1e-14, use_sigma=True)
    xs2, xt2 = reduced_gradients_squared(inputs.rho, inputs.sigma)
    return per_volume(lyp_eps(*rs_zeta(inputs.rho), xt2, xs2, params), inputs)


B88 = Functional("gga_x_b88", gga_x_b88, needs=GGA_NEEDS, params=B88_PARAMS)
PBE_X = Functional("gga_x_pbe", gga_x_pbe, needs=GGA_NEEDS, params=PBE_X_PARAMS)
PBE_C = Functional("gga_c_pbe", gga_c_pbe, needs=GGA_NEEDS, params=PBE_C_PARAMS)
LYP = Functional("gga_c_lyp", gga_c_lyp, needs=GGA_NEEDS, params=LYP_PARAMS)
