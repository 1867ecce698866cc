"""Spin variables of libxc's functionals, shared by the meta-GGA, Minnesota and
range-separated modules.

:class:`SpinVariables` holds one functional component's sanitised libxc inputs (libxc
7's work_gga / work_mgga order and floors, see :mod:`dftjax.xc.mgga`); the helpers form
libxc's spin-scaled exchange and Stoll-partitioned correlation from them. Densities per
volume in Bohr^-3, energies per volume in Hartree / Bohr^3.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._numerics import (RS_FACTOR, X_FACTOR_C, ZETA_THRESHOLD, SpinInputs,
                        clamp_straight_through, threshold_pow)
from ._numerics import per_volume as _per_volume
from .functional import Features

K_FACTOR_C = 3.0 / 10.0 * (6.0 * np.pi**2) ** (2.0 / 3.0)  # tau_unif,s = K rho_s^(5/3)
TAU_THRESHOLD = 1e-20  # libxc's default tau_threshold




class SpinVariables(NamedTuple):
    """Sanitised libxc inputs of one functional component.

    ``rho`` (2, n), ``sigma`` (3, n), ``tau`` (2, n) or None; ``total`` rho_a + rho_b,
    ``zeta`` and ``rs`` (n,); ``screened`` (2, n) True for a spin channel libxc drops
    (rho_s <= threshold); ``inputs`` libxc's sanitised inputs, for :func:`per_volume`.
    """

    rho: jnp.ndarray
    sigma: jnp.ndarray
    tau: jnp.ndarray
    total: jnp.ndarray
    zeta: jnp.ndarray
    rs: jnp.ndarray
    screened: jnp.ndarray
    inputs: SpinInputs

    @property
    def x2(self):
        """Reduced spin gradients squared, x_s^2 = sigma_ss / rho_s^(8/3) (2, n)."""
        return self.sigma[::2] / self.rho ** (8.0 / 3.0)

    @property
    def xt2(self):
        """Total reduced gradient squared, |grad rho|^2 / rho^(8/3) (n,)."""
        sigma_total = self.sigma[0] + 2.0 * self.sigma[1] + self.sigma[2]
        return sigma_total / self.total ** (8.0 / 3.0)

    @property
    def t(self):
        """Reduced kinetic-energy densities t_s = tau_s / rho_s^(5/3) (2, n)."""
        return self.tau / self.rho ** (5.0 / 3.0)


def spin_variables(features: Features, dens_threshold: float, with_tau: bool) -> SpinVariables:
    """Sanitise features as libxc 7's work_gga / work_mgga do for a component with
    density threshold ``dens_threshold``, in libxc's order (tau and the von Weizsaecker
    bound on sigma_ss before sigma_ab is clipped by the mean of sigma_aa and sigma_bb)."""
    raw_total = features.rho[0] + features.rho[1]
    rho = clamp_straight_through(features.rho, lower=dens_threshold)
    same_spin = clamp_straight_through(features.sigma[::2], lower=(dens_threshold ** (4.0 / 3.0)) ** 2)
    tau = None
    if with_tau:
        tau = clamp_straight_through(features.tau, lower=TAU_THRESHOLD)
        same_spin = clamp_straight_through(same_spin, upper=jax.lax.stop_gradient(8.0 * rho * tau))
    mean = jax.lax.stop_gradient(0.5 * (same_spin[0] + same_spin[1]))
    opposite = clamp_straight_through(features.sigma[1], lower=-mean, upper=mean)
    sigma = jnp.stack([same_spin[0], opposite, same_spin[1]])
    total = rho[0] + rho[1]
    # The select keeps XLA from contracting this product and the later 1 - zeta into one
    # FMA, whose extra digits would differ from libxc's at full polarisation.
    zeta = (rho[0] - rho[1]) * (1.0 / total)
    zeta = jnp.where(zeta == zeta, zeta, 0.0)
    return SpinVariables(
        rho=rho,
        sigma=sigma,
        tau=tau,
        total=total,
        zeta=zeta,
        rs=RS_FACTOR / total ** (1.0 / 3.0),
        screened=rho <= dens_threshold,
        inputs=SpinInputs(rho=rho, sigma=sigma, density=raw_total, screened=raw_total < dens_threshold),
    )


def opz_pow(zeta, power):
    """(1 + zeta)^power, libxc's ``opz_pow_n`` (1 + zeta floored at the zeta threshold)."""
    return threshold_pow(1.0 + zeta, power)


def stoll_parallel(eps_lda, v: SpinVariables, spin: int):
    """Same-spin part of a (rs, zeta) correlation per particle, libxc's ``lda_stoll_par``.

    (1 + zeta_s)/2 * eps(rs_s, 1), with rs_s the Wigner-Seitz radius of rho_s alone;
    zero where libxc screens the channel (rho_s <= threshold or 1 + zeta_s <= DBL_EPSILON).
    """
    zeta = v.zeta if spin == 0 else -v.zeta
    screened = v.screened[spin] | (1.0 + zeta <= ZETA_THRESHOLD)
    rs_spin = v.rs * 2.0 ** (1.0 / 3.0) * opz_pow(zeta, -1.0 / 3.0)
    return jnp.where(screened, 0.0, 0.5 * opz_pow(zeta, 1.0) * eps_lda(rs_spin, jnp.ones_like(zeta)))


def stoll_perpendicular(eps_lda, v: SpinVariables):
    """Opposite-spin remainder eps(rs, zeta) - parallel(alpha) - parallel(beta)."""
    return eps_lda(v.rs, v.zeta) - stoll_parallel(eps_lda, v, 0) - stoll_parallel(eps_lda, v, 1)


def _exchange_one_plus_zeta(v: SpinVariables):
    """1 + z_thr(+-zeta) (2, n): libxc keeps 1 +- zeta of an exchange channel in [thr, 2 - thr].

    The value is 1 +- zeta as rounded from zeta, but libxc's generated code tests the
    conditions in the simplified form 2 rho_s / n <= thr, which we follow.
    """
    fraction = 2.0 * v.rho / v.total
    one_plus = jnp.stack([1.0 + v.zeta, 1.0 - v.zeta])
    one_plus = jnp.where(fraction[::-1] <= ZETA_THRESHOLD, 2.0 - ZETA_THRESHOLD, one_plus)
    return jnp.where(fraction <= ZETA_THRESHOLD, ZETA_THRESHOLD, one_plus)


def exchange_spin_densities(v: SpinVariables):
    """Spin densities (2, n) as libxc's exchanges form them, (1 + z_thr(+-zeta)) n / 2."""
    return 0.5 * _exchange_one_plus_zeta(v) * v.total


def spin_exchange(v: SpinVariables, enhancement):
    """Sum over spins of the LDA exchange per volume times ``enhancement`` (2, n).

    The LDA exchange of channel s is -X rho_s^(4/3) = -X ((1 + zeta_s) n / 2)^(4/3), formed
    from zeta as libxc does (its ``lda_x_spin(rs, z_thr(zeta))``), so that a nearly empty
    channel carries libxc's rounding. Screened channels (rho_s <= threshold) contribute zero.
    """
    one_plus = _exchange_one_plus_zeta(v)
    lda = -X_FACTOR_C * 2.0 ** (-4.0 / 3.0) * threshold_pow(one_plus, 4.0 / 3.0) * v.total ** (4.0 / 3.0)
    return jnp.sum(jnp.where(v.screened, 0.0, lda * enhancement), axis=0)


def per_volume(v: SpinVariables, energy):
    """Energy per volume as PySCF integrates libxc's, from ``energy`` at the sanitised input.

    Zero where libxc screens the point; see :func:`dftjax.xc._numerics.per_volume`.
    """
    return _per_volume(energy / v.total, v.inputs)
