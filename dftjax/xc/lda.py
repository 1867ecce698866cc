"""Local (spin-)density approximations: Slater exchange and the VWN, PW92 and PZ81 correlations.

Each functional comes in two layers:

* a kernel ``*_eps(rs, zeta, params)`` giving the energy per particle (Hartree) of the
  uniform gas at Wigner-Seitz radius ``rs`` (Bohr) and polarisation ``zeta``, for reuse
  inside GGAs and meta-GGAs (PBE correlation uses ``pw92_eps``, SCAN and M06-L too);
  ``zeta`` is a plain array or, to keep 1 +- zeta exact near full polarisation, the
  :class:`~dftjax.xc._numerics.Zeta` that ``rs_zeta(rho)`` returns;
* an energy density ``(params, Features) -> (npts,)`` per volume (Hartree / Bohr^3) and
  a :class:`Functional` built on it, named as in libxc.

Formulas and parameters are libxc 7's (maple/lda_exc/*.mpl), thresholds included
(see :mod:`dftjax.xc._numerics`); all of these have libxc's dens_threshold 1e-15.
"""

import math

import jax.numpy as jnp

from ._numerics import (X_FACTOR_C, as_zeta, channel_opz, f_zeta, libxc_inputs, per_volume,
                        rs_zeta, threshold_pow)
from .functional import Features, Functional

DENS_THRESHOLD = 1e-15

# ---------------------------------------------------------------------------------------
# Slater exchange: P. A. M. Dirac, Proc. Camb. Phil. Soc. 26, 376 (1930); F. Bloch,
# Z. Phys. 57, 545 (1929).  e_x = -X_FACTOR_C sum_s rho_s^(4/3), X_FACTOR_C = 3/4 (6/pi)^(1/3).


def slater_channel(cbrt_density, opz):
    """Exchange per particle of one spin channel, -X_FACTOR_C (opz / 2)^(4/3) n^(1/3).

    ``opz`` = 1 + zeta seen from the channel = 2 rho_s / n; libxc's ``lda_x_spin``.
    Callers sum both channels.
    """
    return -X_FACTOR_C * threshold_pow(opz, 4.0 / 3.0) * 2.0 ** (-4.0 / 3.0) * cbrt_density


def slater_eps(rho, alpha=1.0):
    """Slater exchange per particle (npts,) from clamped spin densities (2, npts).

    A channel whose density is at or below the threshold is left out, as libxc does;
    ``alpha`` multiplies the result (libxc's lda_x parameter, 1 for exchange).
    """
    _, zeta = rs_zeta(rho)
    cbrt_density = jnp.cbrt(rho[0] + rho[1])
    channels = [jnp.where(rho[s] <= DENS_THRESHOLD, 0.0, slater_channel(cbrt_density, opz))
                for s, opz in ((0, zeta.plus), (1, zeta.minus))]
    return alpha * (channels[0] + channels[1])


def exchange_eps(rho, enhancement, dens_threshold=DENS_THRESHOLD):
    """Exchange per particle (npts,) of GGA/meta-GGA form sum_s e_x^LDA(rho_s) F_s.

    ``rho`` (2, npts) clamped spin densities, ``enhancement`` (2, npts) the factors F_s.
    Unlike plain Slater, libxc evaluates each channel at the clamped polarisation
    ``z_thr`` (its ``gga_exchange`` / ``mgga_exchange``), and leaves out channels at or
    below ``dens_threshold``.
    """
    cbrt_density = jnp.cbrt(rho[0] + rho[1])
    channels = [jnp.where(rho[s] <= dens_threshold, 0.0,
                          slater_channel(cbrt_density, channel_opz(rho, s)) * enhancement[s])
                for s in (0, 1)]
    return channels[0] + channels[1]


def lda_x(params, features: Features):
    """Slater exchange energy per volume (npts,)."""
    inputs = libxc_inputs(features, DENS_THRESHOLD)
    return per_volume(slater_eps(inputs.rho, params["alpha"]), inputs)


# ---------------------------------------------------------------------------------------
# Perdew-Wang 92: J. P. Perdew and Y. Wang, Phys. Rev. B 45, 13244 (1992).
# "pw_mod" has the extra digits of the original PBE code, which libxc's (and so PySCF's)
# PBE correlation uses.

PW92_PARAMS = {
    "pp": (1.0, 1.0, 1.0),
    "a": (0.031091, 0.015545, 0.016887),
    "alpha1": (0.21370, 0.20548, 0.11125),
    "beta1": (7.5957, 14.1189, 10.357),
    "beta2": (3.5876, 6.1977, 3.6231),
    "beta3": (1.6382, 3.3662, 0.88026),
    "beta4": (0.49294, 0.62517, 0.49671),
    "fz20": 1.709921,
}
PW92_MOD_PARAMS = dict(PW92_PARAMS, a=(0.0310907, 0.01554535, 0.0168869),
                       fz20=1.709920934161365617563962776245)


def _pw92_g(k, rs, params):
    """PW92 eq. (10): G(rs) for k = 0 (paramagnetic), 1 (ferromagnetic), 2 (-spin stiffness)."""
    a = params["a"][k]
    denominator = (params["beta1"][k] * jnp.sqrt(rs) + params["beta2"][k] * rs
                   + params["beta3"][k] * rs**1.5 + params["beta4"][k] * rs ** (params["pp"][k] + 1.0))
    return -2.0 * a * (1.0 + params["alpha1"][k] * rs) * jnp.log(1.0 + 1.0 / (2.0 * a * denominator))


def pw92_eps(rs, zeta, params=PW92_MOD_PARAMS):
    """PW92 correlation energy per particle, eq. (8); default parameters are libxc's pw_mod."""
    paramagnetic = _pw92_g(0, rs, params)
    ferromagnetic = _pw92_g(1, rs, params)
    stiffness = _pw92_g(2, rs, params) / params["fz20"]  # G_2 parametrises -alpha_c
    zeta = as_zeta(zeta)
    fz = f_zeta(zeta)
    zeta4 = zeta.value**4
    return paramagnetic + zeta4 * fz * (ferromagnetic - paramagnetic + stiffness) - fz * stiffness


def lda_c_pw(params, features: Features):
    """PW92 correlation energy per volume (npts,)."""
    inputs = libxc_inputs(features, DENS_THRESHOLD)
    return per_volume(pw92_eps(*rs_zeta(inputs.rho), params), inputs)


# ---------------------------------------------------------------------------------------
# Perdew-Zunger 81: J. P. Perdew and A. Zunger, Phys. Rev. B 23, 5048 (1981), appendix C.

PZ81_PARAMS = {
    "gamma": (-0.1423, -0.0843),
    "beta1": (1.0529, 1.3981),
    "beta2": (0.3334, 0.2611),
    "a": (0.0311, 0.01555),
    "b": (-0.048, -0.0269),
    "c": (0.0020, 0.0007),
    "d": (-0.0116, -0.0048),
}


def _pz81_single(k, rs, params):
    """Eq. (C3) for rs >= 1, (C5) below; k = 0 paramagnetic, 1 ferromagnetic."""
    low_density = params["gamma"][k] / (1.0 + params["beta1"][k] * jnp.sqrt(rs) + params["beta2"][k] * rs)
    log_rs = jnp.log(rs)
    high_density = (params["a"][k] * log_rs + params["b"][k] + params["c"][k] * rs * log_rs
                    + params["d"][k] * rs)
    return jnp.where(rs >= 1.0, low_density, high_density)


def pz81_eps(rs, zeta, params=PZ81_PARAMS):
    """PZ81 correlation energy per particle: paramagnetic and ferromagnetic fits joined by f(zeta)."""
    paramagnetic = _pz81_single(0, rs, params)
    return paramagnetic + (_pz81_single(1, rs, params) - paramagnetic) * f_zeta(zeta)


def lda_c_pz(params, features: Features):
    """PZ81 correlation energy per volume (npts,)."""
    inputs = libxc_inputs(features, DENS_THRESHOLD)
    return per_volume(pz81_eps(*rs_zeta(inputs.rho), params), inputs)


# ---------------------------------------------------------------------------------------
# Vosko-Wilk-Nusair: S. H. Vosko, L. Wilk and M. Nusair, Can. J. Phys. 58, 1200 (1980).
# Each entry is (paramagnetic, ferromagnetic, spin stiffness), in Hartree (the paper's
# Rydberg values halved).  "VWN5" is the fit to the Ceperley-Alder energies with the
# spin interpolation of eq. (4.4); "VWN_RPA" the fit to RPA energies interpolated with
# f(zeta) alone, the one libxc's and PySCF's B3LYP use. PySCF also calls it "vwn3";
# libxc's own lda_c_vwn_3 is a different interpolation, not provided here.

VWN5_PARAMS = {
    "A": (0.0310907, 0.01554535, -1.0 / (6.0 * math.pi**2)),
    "b": (3.72744, 7.06042, 1.13107),
    "c": (12.9352, 18.0578, 13.0045),
    "x0": (-0.10498, -0.32500, -0.0047584),
}
VWN_RPA_PARAMS = {
    "A": (0.0310907, 0.01554535, -1.0 / (6.0 * math.pi**2)),
    "b": (13.0720, 20.1231, 1.06835),
    "c": (42.7198, 101.578, 11.4813),
    "x0": (-0.409286, -0.743294, -0.228344),
}
_FPP = 4.0 / (9.0 * (2.0 ** (1.0 / 3.0) - 1.0))  # f''(0)


def _vwn_fit(k, rs, params):
    """VWN eq. (4.4) interpolation formula in x = sqrt(rs) for fit k."""
    A, b, c, x0 = (params[key][k] for key in ("A", "b", "c", "x0"))
    q = jnp.sqrt(4.0 * c - b * b)
    f1 = 2.0 * b / q
    f2 = b * x0 / (x0 * x0 + b * x0 + c)
    f3 = 2.0 * (2.0 * x0 + b) / q
    x = jnp.sqrt(rs)
    big_x = rs + b * x + c
    return A * (jnp.log(rs / big_x) + (f1 - f2 * f3) * jnp.arctan(q / (2.0 * x + b))
                - f2 * jnp.log((x - x0) ** 2 / big_x))


def vwn5_eps(rs, zeta, params=VWN5_PARAMS):
    """VWN5 correlation energy per particle (libxc lda_c_vwn)."""
    paramagnetic = _vwn_fit(0, rs, params)
    fz = f_zeta(zeta)
    zeta4 = as_zeta(zeta).value ** 4
    return (paramagnetic + _vwn_fit(2, rs, params) * fz * (1.0 - zeta4) / _FPP
            + (_vwn_fit(1, rs, params) - paramagnetic) * fz * zeta4)


def vwn_rpa_eps(rs, zeta, params=VWN_RPA_PARAMS):
    """VWN RPA correlation energy per particle (libxc lda_c_vwn_rpa)."""
    fz = f_zeta(zeta)
    return _vwn_fit(0, rs, params) * (1.0 - fz) + _vwn_fit(1, rs, params) * fz


def lda_c_vwn(params, features: Features):
    """VWN5 correlation energy per volume (npts,)."""
    inputs = libxc_inputs(features, DENS_THRESHOLD)
    return per_volume(vwn5_eps(*rs_zeta(inputs.rho), params), inputs)


def lda_c_vwn_rpa(params, features: Features):
    """VWN RPA correlation energy per volume (npts,)."""
    inputs = libxc_inputs(features, DENS_THRESHOLD)
    return per_volume(vwn_rpa_eps(*rs_zeta(inputs.rho), params), inputs)


SLATER = Functional("lda_x", lda_x, params={"alpha": 1.0})
VWN5 = Functional("lda_c_vwn", lda_c_vwn, params=VWN5_PARAMS)
VWN_RPA = Functional("lda_c_vwn_rpa", lda_c_vwn_rpa, params=VWN_RPA_PARAMS)
PW92 = Functional("lda_c_pw", lda_c_pw, params=PW92_PARAMS)
PW92_MOD = Functional("lda_c_pw_mod", lda_c_pw, params=PW92_MOD_PARAMS)
PZ81 = Functional("lda_c_pz", lda_c_pz, params=PZ81_PARAMS)
