"""Amplitude equations R(t; p) = 0 solved by DIIS, differentiated implicitly.

``solve_amplitudes(problem, config, params, t0)`` returns the amplitudes t* (a pytree)
with R(t*; params) = 0, plus (converged, iterations). The forward solve is a
``lax.while_loop`` of quasi-Newton steps t <- t + R(t) / D (D the orbital-energy
denominators, the diagonal of -dR/dt) accelerated by Pulay DIIS on the amplitudes
(the SCF's :mod:`dftjax.scf.diis`, with amplitude vectors as the stored "Fock" pairs).

Its derivative is the implicit function theorem's, never an unrolled loop: with
J = dR/dt at t*, a cotangent t_bar gives

    J^T lam = t_bar,     p_bar = -(dR/dp)^T lam,

the Lambda equations of coupled-cluster gradient theory (lam = Lambda up to scale). The
transposed system is solved by the same preconditioned DIIS iteration
(lam <- lam - (t_bar - J^T lam) / D) and its convergence is checked: a warning
(RuntimeWarning, through ``jax.debug.callback``) when it stops short.
"""

import dataclasses
import warnings
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from ..scf.diis import DIISState, diis_extrapolate, diis_update


@dataclasses.dataclass(frozen=True)
class AmplitudeProblem:
    """residual(t, params) -> pytree like t; denominators(params) -> pytree like t, the
    diagonal of -dR/dt (orbital-energy differences, negative); energy(t, params) -> Ha;
    project(t) -> t, the orthogonal projection onto the amplitudes' symmetry subspace
    (antisymmetric doubles), where the solution lives and the Lambda equations are
    solved. All static (hashable functions)."""

    residual: Callable
    denominators: Callable
    energy: Callable
    project: Callable


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    conv_tol: float = 1e-10          # energy change between iterations (Ha)
    conv_tol_residual: float = 1e-8  # 2-norm of the amplitude step R / D
    max_cycle: int = 100
    diis_space: int = 8
    adjoint_tol: float = 1e-9        # 2-norm of the Lambda step, relative to |t_bar|
    adjoint_max_cycle: int = 200


def _fixed_point(step_fn, energy_fn, x0, tol_step, tol_energy, max_cycle, space):
    """Iterate x <- DIIS(x + step(x)) until |step| < tol_step and |dE| < tol_energy.

    x0 is a flat vector. Returns (x, converged, iterations, step norm).
    """
    n = x0.shape[0]
    diis = DIISState(jnp.zeros((space, 1, 1, n)), jnp.zeros((space, 1, 1, n)),
                     jnp.zeros((space, space)), jnp.zeros((), jnp.int32))

    def body(carry):
        x, energy_old, diis, it, _, _ = carry
        step = step_fn(x)
        norm = jnp.linalg.norm(step)
        energy = energy_fn(x)
        done = (norm < tol_step) & (jnp.abs(energy - energy_old) < tol_energy)
        diis = diis_update(diis, (x + step)[None, None], step[None, None])
        x_next = jnp.where(diis.count > 1, diis_extrapolate(diis)[0, 0], x + step)
        return jnp.where(done, x, x_next), energy, diis, it + 1, norm, done

    def cond(carry):
        return ~carry[5] & (carry[3] < max_cycle)

    init = (x0, jnp.asarray(jnp.inf), diis, jnp.zeros((), jnp.int32), jnp.asarray(jnp.inf),
            jnp.asarray(False))
    x, _, _, it, norm, done = jax.lax.while_loop(cond, body, init)
    return x, done, it, norm


def _forward(problem, config, params, t0):
    flat0, unravel = ravel_pytree(t0)
    denominators = ravel_pytree(jax.lax.stop_gradient(problem.denominators(params)))[0]

    def step(x):
        return ravel_pytree(problem.residual(unravel(x), params))[0] / denominators

    x, converged, iterations, _ = _fixed_point(
        step, lambda x: problem.energy(unravel(x), params), flat0, config.conv_tol_residual,
        config.conv_tol, config.max_cycle, config.diis_space)
    return unravel(x), converged, iterations


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def solve_amplitudes(problem, config, params, t0):
    """(t*, converged, iterations) with problem.residual(t*, params) = 0; t0 the guess."""
    return _forward(problem, config, params, t0)


def _fwd(problem, config, params, t0):
    out = _forward(problem, config, params, t0)
    return out, (params, out[0], t0)


def _warn_adjoint(converged, norm):
    if not converged:
        warnings.warn(f"Lambda (adjoint amplitude) equations not converged: step norm "
                      f"{float(norm):.2e}; the relaxed density is inaccurate", RuntimeWarning,
                      stacklevel=2)


def _bwd(problem, config, residuals, cotangents):
    params, t, t0 = residuals
    t_bar = problem.project(cotangents[0])
    _, pullback_t = jax.vjp(lambda t: problem.residual(t, params), t)
    b, unravel = ravel_pytree(t_bar)
    denominators = ravel_pytree(problem.denominators(params))[0]
    scale = jnp.maximum(jnp.linalg.norm(b), 1e-300)

    def step(lam):
        jt_lam = ravel_pytree(problem.project(pullback_t(unravel(lam))[0]))[0]
        return -(b - jt_lam) / denominators

    lam, converged, _, norm = _fixed_point(
        step, lambda x: jnp.zeros(()), -b / denominators, config.adjoint_tol * scale,
        jnp.inf, config.adjoint_max_cycle, config.diis_space)
    jax.debug.callback(_warn_adjoint, converged, norm / scale)
    _, pullback_p = jax.vjp(lambda p: problem.residual(t, p), params)
    params_bar = pullback_p(jax.tree_util.tree_map(jnp.negative, unravel(lam)))[0]
    return params_bar, jax.tree_util.tree_map(jnp.zeros_like, t0)


solve_amplitudes.defvjp(_fwd, _bwd)
