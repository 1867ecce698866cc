"""``run_scf``: the SCF from a guess to a result, along two ladders.

The retry ladder: the requested (damping, level shift) first, then each rung of
:data:`~dftjax.scf.driver.RETRY_LADDER` from the guess, each attempt an
:func:`~dftjax.scf.driver.iterate` of at most ``max_cycle`` cycles; if none converges,
second-order steps (:mod:`dftjax.scf.second_order`) from the best state so far.

The size ladder: a model that can pad (``EnergyModel.pad``: HF and Kohn-Sham, exact or
density-fitted, when the Kohn-Sham AO values on the grid are kept) is
solved on :func:`padded_size` basis functions, so molecules on the same rung share every
compiled SCF program; the result is cut back to the real basis.

This module sits above the driver, the stability analysis and the second-order rung
(each of which builds on :mod:`dftjax.scf.driver`), so that none imports another in a
circle.
"""

import dataclasses
import math
import warnings
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.scf.driver import (RETRY_LADDER, SCFNotConvergedWarning, _final_step, _host_step,
                               _stored_aufbau_update, _stored_evaluated_state, empty_state,
                               orbital_update_on_host, start_update,
                               _log, as_pytree_model, core_density, iterate, make_settings)
from dftjax.scf.energy import (  # noqa: F401 (padded_size: the ladder's sizes, public here)
    HOST_GATHER_NAO, PaddedModel, _stored_exchange_gather, as_device, on_the_ladder,
    pad_matrix, padded_size)
from dftjax.scf.occupations import aufbau_occupations
from dftjax.scf.orthogonalize import orthogonalizer
from dftjax.scf.result import SCFResult, spin_square
from dftjax.scf.second_order import newton_iterate
from dftjax.tracing import traced


def run_scf(fock_and_energy: Callable, S, h_core, e_nuc, nalpha, nbeta, restricted, D0,
            conv_tol=1e-9, conv_tol_grad=None, max_cycle=100, diis_space=8,
            level_shift=0.0, damping=0.0, verbose=False, retry=True,
            lindep_threshold=1e-8, occupations=aufbau_occupations, second_order=True):
    """Solve the SCF equations for an energy model; returns an ``SCFResult``.

    fock_and_energy(D (2, nao, nao)) -> (F (2, nao, nao), E_electronic), e.g.
    ``hf_fock_and_energy(h_core, eri)``; an ``EnergyModel`` or other pytree keeps its
    arrays traced, so new geometries reuse the compiled step.
    S, h_core (nao, nao); e_nuc nuclear repulsion (Ha); nalpha, nbeta electron counts;
    D0 the guess, (2, nao, nao) spin densities or (nao, nao) total (split in halves);
    None takes the core guess from h_core (a fallback: prefer ``sad_density``).
    conv_tol_grad defaults to sqrt(conv_tol), as PySCF. diis_space=0 switches DIIS off.
    ``max_cycle`` bounds each attempt: if max_cycle cycles do not converge and ``retry``,
    the ladder RETRY_LADDER of (damping, level shift) restarts from D0, each rung with
    max_cycle cycles of its own (an attempt with a next rung leaves early once it has
    stalled, :data:`~dftjax.scf.driver.STALL_WINDOW`); if none converges and
    ``second_order``, the last rung (:mod:`dftjax.scf.second_order`) takes trust-region
    Newton steps on the orbital rotations from the best state so far, at most max_cycle
    energy evaluations (so at most 5 max_cycle in all); ``converged_settings`` then reads "second-order". The result's
    ``iterations`` sums the cycles of all attempts and ``attempts`` counts them. A result
    that still has not converged is returned with converged=False and one
    :class:`SCFNotConvergedWarning`.
    """
    if restricted and nalpha != nbeta:
        raise ValueError(f"restricted SCF needs nalpha == nbeta, got {nalpha} and {nbeta}")
    if conv_tol_grad is None:
        conv_tol_grad = math.sqrt(conv_tol)
    nao = np.shape(S)[-1]
    if D0 is not None:
        D0 = D0 if traced(D0) else np.asarray(D0, np.float64)
        if D0.ndim == 2:
            D0 = np.stack([0.5 * D0, 0.5 * D0]) if isinstance(D0, np.ndarray) else \
                jnp.stack([0.5 * D0, 0.5 * D0])
    fock_and_energy, S, h_core, D0 = pad_problem(fock_and_energy, S, h_core, D0)
    overlap = as_device(S)
    X, n_dropped = orthogonalizer(overlap, lindep_threshold)
    if D0 is None:
        D0 = core_density(h_core, X, nalpha, nbeta)
    density = jnp.asarray(D0, jnp.float64)
    if verbose and n_dropped:
        _log(f"SCF: dropped {n_dropped} near linearly dependent basis directions "
             f"(overlap eigenvalues < {lindep_threshold:g}); canonical orthogonalisation")

    attempts = [(damping, level_shift)]
    if retry:
        attempts += [pair for pair in RETRY_LADDER if pair != (damping, level_shift)]
    options = dict(restricted=restricted, occupations=occupations, conv_tol=conv_tol,
                   conv_tol_grad=conv_tol_grad, max_cycle=max_cycle, diis_space=diis_space,
                   verbose=verbose)
    iterations = 0
    best = None
    for attempt, (attempt_damping, attempt_shift) in enumerate(attempts, start=1):
        if attempt > 1 and verbose:
            _log(f"SCF not converged; retrying from the guess with damping={attempt_damping}"
                 f" level_shift={attempt_shift}")
        settings = make_settings(nalpha, nbeta, attempt_damping, attempt_shift)
        # the second-order rung runs only from integer occupations, which only aufbau
        # occupations promise before the attempt: with others the last one runs its course
        next_rung = attempt < len(attempts) or (
            retry and second_order and occupations is aufbau_occupations)
        state, converged = iterate(fock_and_energy, overlap, X, density, settings,
                                   stop_stalled=next_rung, **options)
        iterations += int(state.iteration)
        if converged:
            best = state
            break
        if best is None or float(state.gradient_norm) < float(best.gradient_norm):
            best = state
    used = (float(attempt_damping), float(attempt_shift))
    if (not converged and retry and second_order and np.isfinite(float(best.energy))
            and _integer_occupations(best.mo_occ)):
        if verbose:
            _log("SCF not converged; retrying with second-order (trust-region Newton) steps "
                 f"from the best state so far (|g|={float(best.gradient_norm):.3e})")
        attempt += 1
        state, converged = newton_iterate(
            fock_and_energy, best, restricted=restricted, conv_tol=conv_tol,
            conv_tol_grad=conv_tol_grad, max_cycle=max_cycle, verbose=verbose)
        step = lambda state, settings: _host_step(
            as_pytree_model(fock_and_energy), state, overlap, X, settings,
            restricted=restricted, occupations=occupations)
        final, converged = _final_step(step, state, make_settings(nalpha, nbeta), converged,
                                       conv_tol, conv_tol_grad, newton=True)
        iterations += int(state.iteration)
        used = "second-order"
        if converged or float(final.gradient_norm) < float(best.gradient_norm):
            best = final
    if not converged:
        warnings.warn(
            f"SCF NOT CONVERGED after {iterations} iterations in {attempt} attempts of at most "
            f"{max_cycle}: dE={float(best.energy_change):.3e}, |g|={float(best.gradient_norm):.3e}",
            SCFNotConvergedWarning, stacklevel=2)
    result = _make_result(best, overlap, e_nuc, restricted, converged, iterations, n_dropped,
                          attempt, getattr(fock_and_energy, "reports_xc", False))
    if overlap.shape[-1] > nao:
        result = unpad_result(result, nao, nao - n_dropped)
    return dataclasses.replace(result, converged_settings=used if converged else None)


def prepare_scf(model, nalpha, nbeta, restricted, diis_space=8):
    """Start compiling, in a thread beside the caller (:meth:`StoredKernel.prepare
    <dftjax.stored_programs.StoredKernel.prepare>`), the programs that :func:`run_scf` of
    a :class:`~dftjax.scf.energy.PaddedModel` like ``model`` runs every cycle: the energy
    model's evaluation and, where it is compiled (off a CPU:
    :func:`~dftjax.scf.driver.orbital_update_on_host`), the aufbau orbital update; and
    before them the exchange matrices' gather that padding the real model runs (beyond
    :data:`~dftjax.scf.energy.HOST_GATHER_NAO` AOs). Returns at once.

    ``model`` needs only the right structure and shapes: :func:`dftjax.scf` builds a
    stand-in from the XC grid and the pair matrix's shape (a ``jax.ShapeDtypeStruct``)
    before the integrals exist, so that a first run compiles these programs while the
    integrals are computed (C4H4NH/def2-SVP B3LYP on 2 cores: ~1 s of a ~17 s first
    run). The programs are those of a basis without linear dependencies (nmo = nao);
    where the run's differ, the preparation was only wasted work. A no-op for a model
    that is not padded or has no stable key (a user's functional)."""
    if not isinstance(model, PaddedModel):
        return
    size = model.size
    params = model.model.params
    for name in params:  # the exchange matrices' gathers, which padding the real model
        # runs first (beyond HOST_GATHER_NAO AOs, a program of their own)
        if name.endswith("_exchange") and size > HOST_GATHER_NAO:
            _stored_exchange_gather.prepare(params[name.removesuffix("_exchange") + "_pairs"],
                                            size)
    density = np.zeros((2, size, size))
    empty = empty_state(density, size, diis_space, xp=np)
    _stored_evaluated_state.prepare(model.model, empty, start_update(empty), restricted)
    if not orbital_update_on_host():
        square = np.zeros((size, size))
        _stored_aufbau_update.prepare(empty, square, square, make_settings(nalpha, nbeta),
                                      restricted)


def _integer_occupations(mo_occ):
    """Whether every spin orbital is empty or full: the second-order rung rotates a
    single determinant."""
    occupations = np.asarray(mo_occ)
    return bool(np.all((occupations == 0.0) | (occupations == 1.0)))


def pad_problem(fock_and_energy, overlap, h_core, density):
    """The SCF inputs on :func:`padded_size` basis functions, when the model is a
    :class:`~dftjax.scf.energy.PaddedModel` (built once by
    :func:`~dftjax.scf.energy.on_the_ladder`, as :func:`dftjax.scf` does for the SCF,
    its reruns and what follows) or can pad (``EnergyModel.pad``), and nothing is traced;
    else unchanged.

    The extra AOs are orthonormal (overlap 1 on their diagonal, 0 with the real ones)
    and decoupled in the model, with a large diagonal h_core, so each is an orbital of
    its own, above every real one, never occupied: every real quantity is unchanged, to
    the last bit (block-diagonal matrices stay block-diagonal through eigh and the
    products). Returns (model, overlap, h_core, density (2, size, size) or None).
    """
    if traced((overlap, h_core, density)):
        return fock_and_energy, overlap, h_core, density
    padded = on_the_ladder(fock_and_energy, np.shape(overlap)[-1])
    if not isinstance(padded, PaddedModel):
        return fock_and_energy, overlap, h_core, density
    model, size = padded.model, padded.size
    if density is not None:
        density = pad_matrix(density, size)
    return model, pad_matrix(overlap, size, 1.0), model.params["h_core"], density


def unpad_result(result, nao, nmo):
    """A result of the padded problem (:func:`pad_problem`) on the real ``nao`` AOs and
    their ``nmo`` orbitals (the padding orbitals are the last ones)."""
    ao = (slice(None),) * (np.ndim(result.mo_coeff) - 2) + (slice(0, nao), slice(0, nmo))
    mo = (slice(None),) * (np.ndim(result.mo_energy) - 1) + (slice(0, nmo),)
    square = (slice(None),) * (np.ndim(result.density_matrix) - 2) + (slice(0, nao),) * 2
    cut = lambda array, index: jax.device_put(np.asarray(array)[index])
    return dataclasses.replace(
        result, mo_energy=cut(result.mo_energy, mo), mo_coeff=cut(result.mo_coeff, ao),
        mo_occ=cut(result.mo_occ, mo), density_matrix=cut(result.density_matrix, square))


def _restricted_arrays(mo_energy, mo_coeff, mo_occ, density):
    """The restricted result's orbitals (alpha = beta), occupations 0/2, total density;
    on the host (the state is concrete), so that nothing compiles per basis size."""
    mo_energy, mo_coeff, mo_occ, density = (np.asarray(x) for x in (mo_energy, mo_coeff,
                                                                     mo_occ, density))
    return jax.device_put((mo_energy[0], mo_coeff[0], 2.0 * mo_occ[0], density.sum(axis=0)))


def _make_result(state, overlap, e_nuc, restricted, converged, iterations, n_dropped,
                 attempts=1, reports_xc=False):
    e_nuc = np.asarray(e_nuc, np.float64)
    if restricted:
        mo_energy, mo_coeff, mo_occ, density = _restricted_arrays(
            state.mo_energy, state.mo_coeff, state.mo_occ, state.density)
        s2, multiplicity = np.zeros(()), np.ones(())
    else:
        s2, multiplicity = spin_square(state.density, overlap)
        mo_energy, mo_coeff, mo_occ, density = (
            state.mo_energy, state.mo_coeff, state.mo_occ, state.density)
    return SCFResult(
        energy=np.asarray(state.energy) + e_nuc, electronic_energy=state.energy, nuclear_repulsion=e_nuc,
        mo_energy=mo_energy, mo_coeff=mo_coeff, mo_occ=mo_occ, density_matrix=density,
        gradient_norm=state.gradient_norm, s2=s2, multiplicity=multiplicity,
        converged=converged, iterations=iterations, restricted=restricted, n_dropped=n_dropped,
        attempts=attempts, xc_energy=state.xc_energy if reports_xc else None)
