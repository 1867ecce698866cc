"""The last rung of the SCF retry ladder: trust-region Newton steps on orbital rotations.

When DIIS, damping and level shifts do not converge (chaotic open shells, e.g. UHF HCO),
the orbitals are converged by minimising E directly. The rotations are those of the
stability analysis (:mod:`dftjax.scf.rotations`): C_s -> C_s exp(K_s - K_s^T) with only
the virtual-occupied block x_s[a, i] of K_s free; restricted runs rotate both spins by
one x (1, nmo, nmo), unrestricted ones each by its own, x (2, nmo, nmo).

Each macro-iteration at orbitals C (2, nao, nmo):
  g   = dE/dx at x = 0, from the Fock matrix: 2 (C_s^T F_s C_s)[a, i], summed over the
        spins that share x (Ha / rad);
  H v = d^2E/dx^2 v by central differences of the orbital gradient in the rotated
        orbitals (stability's Hessian products: two Fock builds in the SCF's own compiled
        step, so nothing compiles). Away from convergence this is the Hessian without
        its terms in the gradient F_ai, the symmetric operator F_vv v - v F_oo plus the
        response (PySCF's Newton solver uses the same); the ratio test below judges
        each step by the energy it actually gives;
  s   = argmin g.s + s.H s / 2 within a trust radius, by truncated conjugate gradients
        (Steihaug, SIAM J. Numer. Anal. 20, 626 (1983)) in the variables scaled by the
        diagonal Hessian estimate 2 (F_aa - F_ii) (4 (F_aa - F_ii) restricted);
then the exact rotation, a new (F, E), and the usual trust-region rule on the ratio of
the actual to the predicted energy change. Occupations stay those of the starting
orbitals. It stops on the driver's criteria (|dE| < conv_tol and |g| < conv_tol_grad,
|g| PySCF's); the driver then makes its usual final diagonalisation.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.log import logger
from dftjax.scf.driver import (
    _evaluated_state_jit, _is_converged, as_pytree_model, density_from_orbitals, empty_state)
from dftjax.scf.rotations import finite_difference_hessian_vector, rotated_orbitals

#: Initial, largest and smallest trust radius (rad in the scaled variables sqrt(h) x,
#: h the diagonal Hessian estimate in Ha / rad^2, so the radius bounds the predicted
#: energy change to about radius^2 Ha).
TRUST_RADIUS = (0.5, 1.0, 1e-6)

#: Floor (Ha / rad^2) on the diagonal Hessian estimate used to scale the variables:
#: near-degenerate or inverted orbital pairs would otherwise get huge or negative scales.
DIAGONAL_FLOOR = 0.1

#: Conjugate-gradient iterations per Newton step at most.
MAX_INNER = 20

#: Rounding error of a total energy, relative to it: an energy change below this is
#: noise (~1.5e-12 Ha for NO's -153 Ha), so such a step is judged by its gradient alone.
ENERGY_NOISE = 1e-14

_log = logger("scf").info
_rotated_orbitals = jax.jit(rotated_orbitals)


def rotation_mask(mo_occ, restricted):
    """(nspin, nmo, nmo) bool, True on the free virtual-occupied entries x[a, i]."""
    occupied = np.asarray(mo_occ)[:1 if restricted else 2] > 0
    return ~occupied[:, :, None] & occupied[:, None, :]


@jax.jit
def _gradient_and_diagonal(fock, mo_coeff, mask):
    """dE/dx (nspin, nmo, nmo) and the diagonal Hessian estimate (same shape), Ha / rad
    and Ha / rad^2, from F (2, nao, nao) in the orbitals mo_coeff (2, nao, nmo)."""
    in_mo = jnp.swapaxes(mo_coeff, -1, -2) @ fock @ mo_coeff
    nspin = mask.shape[0]
    gradient = 2.0 * in_mo.sum(axis=0, keepdims=True) if nspin == 1 else 2.0 * in_mo
    level = jnp.diagonal(in_mo, axis1=-2, axis2=-1)
    gap = level[:, :, None] - level[:, None, :]
    diagonal = (2.0 * gap).sum(axis=0, keepdims=True) if nspin == 1 else 2.0 * gap
    return gradient * mask, diagonal


def truncated_cg(matvec, gradient, radius, tolerance):
    """Steihaug's truncated conjugate gradients for min g.s + s.H s / 2, |s| <= radius.

    matvec: v -> H v on flat arrays; gradient g flat. Stops at the boundary, on negative
    curvature (then goes to the boundary along it), or when the residual is below
    ``tolerance``. Returns (s, the predicted change g.s + s.H s / 2).
    """
    step, hstep = np.zeros_like(gradient), np.zeros_like(gradient)
    residual = gradient.copy()
    direction = -residual
    for _ in range(MAX_INNER):
        image = np.asarray(matvec(direction))
        curvature = direction @ image
        alpha = (residual @ residual) / curvature if curvature > 0 else np.inf
        if alpha == np.inf or np.linalg.norm(step + alpha * direction) >= radius:
            # to the boundary: the positive root tau of |step + tau direction| = radius
            a, b = direction @ direction, 2.0 * step @ direction
            c = step @ step - radius ** 2
            tau = (-b + np.sqrt(b * b - 4.0 * a * c)) / (2.0 * a)
            step, hstep = step + tau * direction, hstep + tau * image
            break
        step, hstep = step + alpha * direction, hstep + alpha * image
        new_residual = residual + alpha * image
        if np.linalg.norm(new_residual) < tolerance:
            break
        beta = (new_residual @ new_residual) / (residual @ residual)
        residual, direction = new_residual, -new_residual + beta * direction
    return step, float(gradient @ step + 0.5 * step @ hstep)


def newton_iterate(fock_and_energy, state, *, restricted, conv_tol, conv_tol_grad, max_cycle,
                   verbose=False):
    """Converge ``state`` (an SCFState with orbitals, e.g. the driver's best) by trust-
    region Newton steps; at most ``max_cycle`` energy evaluations. Returns (state,
    whether it met the convergence criteria); the state's ``iteration`` counts the
    evaluations and its orbitals are the rotated (not canonical) ones.
    """
    fock_and_energy = as_pytree_model(fock_and_energy)
    mask = rotation_mask(state.mo_occ, restricted)
    signs = np.ones(2)
    # the Hessian products' Fock builds run in the same compiled step as the trial points
    diis_space = 0 if state.diis is None else int(state.diis.focks.shape[0])
    radius = TRUST_RADIUS[0]
    state = dataclasses.replace(state, iteration=jnp.zeros((), jnp.int32))
    converged = False
    for cycle in range(1, max_cycle + 1):
        gradient, diagonal = map(np.asarray, _gradient_and_diagonal(
            state.fock, state.mo_coeff, jnp.asarray(mask)))
        scale = np.where(mask, 1.0 / np.sqrt(np.maximum(diagonal, DIAGONAL_FLOOR)), 0.0)
        mo_coeff, mo_occ = state.mo_coeff, state.mo_occ
        matvec = lambda v: (scale * finite_difference_hessian_vector(
            fock_and_energy, mo_coeff, mo_occ, signs, mask, scale * v.reshape(mask.shape),
            restricted=restricted, diis_space=diis_space)).ravel()
        scaled_gradient = (scale * gradient).ravel()
        norm = np.linalg.norm(scaled_gradient)
        step, predicted = truncated_cg(matvec, scaled_gradient, radius,
                                       min(0.1, np.sqrt(norm)) * norm)
        kappa = jnp.asarray(signs[:, None, None] * (scale * step.reshape(mask.shape)))
        new_coeff = _rotated_orbitals(mo_coeff, kappa)
        update = (state.fock, state.diis, state.mo_energy, new_coeff, mo_occ,
                  density_from_orbitals(new_coeff, mo_occ))
        trial = _evaluated_state_jit(fock_and_energy, state, update, restricted=restricted)
        actual = float(trial.energy_change)
        ratio = actual / predicted if predicted < 0 else 0.0
        noise = abs(actual) < ENERGY_NOISE * abs(float(trial.energy))
        accepted = (ratio > 0.01 or abs(actual) < 0.1 * conv_tol
                    or (noise and float(trial.gradient_norm) < float(state.gradient_norm)))
        if verbose:
            _log(f"newton={cycle:3d} E(electronic)= {float(trial.energy):.12f}  dE= {actual: .3e}"
                 f"  |g|= {float(trial.gradient_norm):.3e}  radius= {radius:.2e}"
                 f"{'' if accepted else '  rejected'}")
        if ratio < 0.25:
            radius = max(0.25 * np.linalg.norm(step), TRUST_RADIUS[2])
        elif ratio > 0.75 and np.linalg.norm(step) > 0.99 * radius:
            radius = min(2.0 * radius, TRUST_RADIUS[1])
        if accepted:
            state = dataclasses.replace(trial, iteration=jnp.asarray(cycle, jnp.int32))
            converged = bool(_is_converged(0.0 if noise else actual,
                                           float(trial.gradient_norm), conv_tol, conv_tol_grad))
            if converged:
                break
        else:
            state = dataclasses.replace(state, iteration=jnp.asarray(cycle, jnp.int32))
    return state, converged


def descend_from(fock_and_energy, mo_coeff, mo_occ, *, restricted, conv_tol, conv_tol_grad,
                 max_cycle):
    """Minimise E from the orbitals mo_coeff (2, nao, nmo) with occupations mo_occ (2, nmo)
    by :func:`newton_iterate`: every accepted step lowers the energy, so, started below a
    saddle point on a line of descent, it cannot climb back to it, as DIIS (which seeks
    any stationary point) may. Returns (state, whether it converged)."""
    fock_and_energy = as_pytree_model(fock_and_energy)
    start = empty_state(jnp.zeros(mo_coeff.shape[:1] + mo_coeff.shape[1:2] * 2), mo_coeff.shape[-1], 0)
    update = (start.fock, None, start.mo_energy, mo_coeff, mo_occ,
              density_from_orbitals(mo_coeff, mo_occ))
    state = _evaluated_state_jit(fock_and_energy, start, update, restricted=restricted)
    return newton_iterate(fock_and_energy, state, restricted=restricted, conv_tol=conv_tol,
                          conv_tol_grad=conv_tol_grad, max_cycle=max_cycle)
