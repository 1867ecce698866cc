"""Shared numerics of the semi-local functionals: libxc's input screening and spin variables.

Every functional here reproduces libxc 7 (the library PySCF calls), including what libxc
does at the edges of the density domain, so that energies and potentials agree with
``pyscf.dft.libxc.eval_xc`` point by point:

* a point whose total density is below the functional's ``dens_threshold`` contributes
  nothing (energy and potentials zero);
* otherwise each spin density is raised to at least ``dens_threshold``, each same-spin
  ``sigma`` to at least ``dens_threshold**(8/3)``, ``sigma_ab`` is clipped to
  ``[-(sigma_aa + sigma_bb)/2, (sigma_aa + sigma_bb)/2]`` (libxc work_lda.c, work_gga.c);
* powers of (1 +- zeta) are frozen at ``ZETA_THRESHOLD`` when 1 +- zeta falls below it
  (``opz_pow_n`` and ``z_thr`` in libxc's maple/util.mpl). Here 1 +- zeta are formed as
  2 rho_s / n (see :class:`Zeta`), so they keep the digits libxc's 1 +- zeta lose.

The clamps are *straight-through*: the value is libxc's clamped input and the derivative
is the one at the clamped point, which is what libxc returns as the potential (for an
empty spin channel that is the limit rho_s -> 0+, the potential the orbitals of that
channel need). The energy per volume is ``n * eps(clamped)`` with ``n`` the total density
as given, as PySCF integrates it, while its derivative is libxc's ``d(n eps)/d rho`` at
the clamped point. The two differ only where a spin density is below the threshold.

Every quantity that is computed on a branch ``jnp.where`` later discards is kept finite
(the double-``where`` pattern), so gradients are finite at rho = 0 and sigma = 0.

Shapes: ``rho`` (2, npts), ``sigma`` (3, npts); atomic units.
"""

import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .functional import Features

# libxc's default zeta_threshold (functionals.c): DBL_EPSILON.
ZETA_THRESHOLD = float(np.finfo(np.float64).eps)

RS_FACTOR = (3.0 / (4.0 * math.pi)) ** (1.0 / 3.0)  # rs = RS_FACTOR / n^(1/3)
X_FACTOR_C = 3.0 / 8.0 * (3.0 / math.pi) ** (1.0 / 3.0) * 4.0 ** (2.0 / 3.0)
X2S = 1.0 / (2.0 * (6.0 * math.pi**2) ** (1.0 / 3.0))  # s = X2S * |grad rho_s| / rho_s^(4/3)


def clamp_straight_through(x, lower=None, upper=None):
    """``clip(x, lower, upper)`` in value, derivative 1: libxc's derivative at the clamped point."""
    clipped = jax.lax.stop_gradient(jnp.clip(x, lower, upper))
    return clipped + (x - jax.lax.stop_gradient(x))


class SpinInputs(NamedTuple):
    """Features after libxc's screening; all arrays over grid points.

    rho (2, npts), sigma (3, npts) or None: clamped inputs.
    density (npts,): total density as given (weights the energy per particle).
    screened (npts,): True where the total density is below the threshold.
    """

    rho: jnp.ndarray
    sigma: Optional[jnp.ndarray]
    density: jnp.ndarray
    screened: jnp.ndarray


def libxc_inputs(features: Features, dens_threshold: float, use_sigma=False) -> SpinInputs:
    """Screen and clamp features as libxc's work_lda.c / work_gga.c do for spin-polarised input."""
    rho = jnp.asarray(features.rho)
    density = rho[0] + rho[1]
    screened = density < dens_threshold
    rho = clamp_straight_through(rho, lower=dens_threshold)

    sigma = None
    if use_sigma:
        raw = jnp.asarray(features.sigma)
        # libxc's sigma_threshold is dens_threshold^(4/3), and it clamps at its square.
        sigma_floor = (dens_threshold ** (4.0 / 3.0)) ** 2
        sigma_aa = clamp_straight_through(raw[0], lower=sigma_floor)
        sigma_bb = clamp_straight_through(raw[2], lower=sigma_floor)
        # |grad rho_a +- grad rho_b|^2 >= 0 bounds sigma_ab by the mean of the other two.
        mean = jax.lax.stop_gradient(0.5 * (sigma_aa + sigma_bb))
        sigma_ab = clamp_straight_through(raw[1], lower=-mean, upper=mean)
        sigma = jnp.stack([sigma_aa, sigma_ab, sigma_bb])

    return SpinInputs(rho=rho, sigma=sigma, density=density, screened=screened)


def per_volume(eps, inputs: SpinInputs):
    """Energy per volume from the energy per particle ``eps`` (npts,), zero where screened.

    Value ``density * eps``; derivative that of ``(rho_a + rho_b) * eps`` on the clamped
    densities, i.e. libxc's vrho (see the module docstring).
    """
    clamped = inputs.rho[0] + inputs.rho[1]
    energy = clamped * eps + jax.lax.stop_gradient((inputs.density - clamped) * eps)
    return jnp.where(inputs.screened, 0.0, energy)


class Zeta(NamedTuple):
    """Spin polarisation zeta = (rho_a - rho_b) / n with 1 + zeta and 1 - zeta kept apart.

    ``plus`` = 2 rho_a / n and ``minus`` = 2 rho_b / n keep their digits near full
    polarisation, where 1 +- zeta formed from zeta would not (libxc forms them so, and
    its potentials of a channel holding a fraction f of the density carry a relative
    rounding error of order 1e-16 / f).
    """

    value: jnp.ndarray
    plus: jnp.ndarray
    minus: jnp.ndarray


def as_zeta(zeta) -> Zeta:
    """A :class:`Zeta` from a Zeta or from plain zeta values (then 1 +- zeta as usual)."""
    if isinstance(zeta, Zeta):
        return zeta
    return Zeta(zeta, 1.0 + zeta, 1.0 - zeta)


def rs_zeta(rho):
    """Wigner-Seitz radius rs = (3 / (4 pi n))^(1/3) (npts,) and the :class:`Zeta` of ``rho``."""
    density = rho[0] + rho[1]
    zeta = Zeta((rho[0] - rho[1]) / density, 2.0 * rho[0] / density, 2.0 * rho[1] / density)
    return RS_FACTOR / jnp.cbrt(density), zeta


def threshold_pow(opz, power, zeta_threshold=ZETA_THRESHOLD):
    """opz^power for opz = 1 +- zeta, frozen at zeta_threshold^power where opz <= zeta_threshold.

    libxc's ``opz_pow_n``: it keeps (1 - zeta)^(-1/3) and the like finite.
    """
    frozen = opz <= zeta_threshold
    safe = jnp.where(frozen, 1.0, opz)
    return jnp.where(frozen, zeta_threshold**power, safe**power)


def channel_opz(rho, spin, zeta_threshold=ZETA_THRESHOLD):
    """1 + z_thr(+-zeta) for spin channel ``spin``: its 2 rho_s / n, as libxc's exchanges use it.

    Held at zeta_threshold when the channel is (numerically) empty and at
    2 - zeta_threshold when the other one is (libxc's ``z_thr``).
    """
    density = rho[0] + rho[1]
    own, other = 2.0 * rho[spin] / density, 2.0 * rho[1 - spin] / density
    own = jnp.where(other <= zeta_threshold, 2.0 - zeta_threshold, own)
    return jnp.where(own <= zeta_threshold, zeta_threshold, own)


def f_zeta(zeta):
    """Spin-interpolation function ((1+z)^(4/3) + (1-z)^(4/3) - 2) / (2^(4/3) - 2), PW92 eq. (9)."""
    zeta = as_zeta(zeta)
    return ((threshold_pow(zeta.plus, 4.0 / 3.0) + threshold_pow(zeta.minus, 4.0 / 3.0) - 2.0)
            / (2.0 ** (4.0 / 3.0) - 2.0))


def phi_zeta(zeta):
    """phi(z) = ((1+z)^(2/3) + (1-z)^(2/3)) / 2, the spin scaling of PBE-type correlation."""
    zeta = as_zeta(zeta)
    return 0.5 * (threshold_pow(zeta.plus, 2.0 / 3.0) + threshold_pow(zeta.minus, 2.0 / 3.0))


def reduced_gradients_squared(rho, sigma):
    """xs_s^2 = sigma_ss / rho_s^(8/3) (2, npts) and xt^2 = |grad n|^2 / n^(8/3) (npts,).

    Squares, so no square root is taken of a sigma that may be 0.
    """
    density = rho[0] + rho[1]
    xs2 = jnp.stack([sigma[0], sigma[2]]) / rho ** (8.0 / 3.0)
    xt2 = (sigma[0] + 2.0 * sigma[1] + sigma[2]) / density ** (8.0 / 3.0)
    return xs2, xt2
