"""The self-consistent field loop: one pure jitted step, a host driver around it.

One SCF cycle (``scf_step``) takes the state (D, F(D), E(D), DIIS history, ...)
to the next: DIIS-extrapolate F, damp it, level-shift the virtual space,
diagonalise in the orthogonal basis, occupy the orbitals, and evaluate the energy
model at the new density. It is a pure function of pytrees, so the host loop ``iterate`` (logging,
convergence checks; :func:`dftjax.scf.ladder.run_scf` runs it along the retry ladder) and
a ``lax.while_loop`` (``scf_solve``) can call the same code.

Arrays: spin density and Fock matrices (2, nao, nao) [alpha, beta]; orbitals
(2, nao, nmo) with X (nao, nmo) the orthogonaliser. Restricted runs carry
D_alpha = D_beta and diagonalise once. Energies in Hartree.

Convergence as PySCF's hf.kernel: |E_n - E_(n-1)| < conv_tol and |g| < conv_tol_grad,
with g the occupied-virtual block of F in the current orbitals (times 2 for
restricted); then one more undamped, unshifted diagonalisation, whose result must
pass 10 conv_tol or 3 conv_tol_grad.
"""

import dataclasses
from functools import partial
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.grid.screening import bucket
from dftjax.log import logger
from dftjax.stored_programs import StoredKernel
from dftjax.tracing import traced
from dftjax.scf.diis import (DIISState, commutator_error, diis_extrapolate, diis_init, diis_update,
                             host_diis_extrapolate, host_diis_update)
from dftjax.scf.occupations import aufbau_occupations, host_aufbau_occupations

# (damping, level shift in Ha) tried in turn, from the initial guess, when the
# requested settings do not converge within max_cycle; each attempt has max_cycle cycles.
# After them, run_scf's last rung takes second-order steps (dftjax.scf.second_order).
RETRY_LADDER = ((0.5, 0.0), (0.0, 0.5), (0.5, 0.5))

STALL_WINDOW = 25
"""Cycles in which an attempt that has a next rung must at least halve its best orbital
gradient so far or move its energy by :data:`STALL_ENERGY`; one that does neither is
circling a point it cannot reach and gives way to the next rung instead of running to
max_cycle. Seen with the neural functionals in def2-TZVP: DIIS circles |g| ~ 5e-4 on
CH3CN, C3H8 and CH3OCH3, the energy within 1e-6 Ha, until max_cycle on every first-order
rung, before the second-order rung converges (a low-density cutoff of 1e-8 changes
nothing there). An attempt that is exploring is left alone: HCO/STO-3G, density-fitted
UHF, wanders at |g| ~ 1e-2 for 60 cycles, its energy moving by 1e-2 Ha, then converges."""

STALL_ENERGY = 1e-5
"""Hartree: the spread of the energy over :data:`STALL_WINDOW` cycles below which an
attempt that does not halve |g| counts as stalled."""


class SCFNotConvergedWarning(RuntimeWarning):
    """Warned once by :func:`dftjax.scf.ladder.run_scf` when no attempt of the retry
    ladder converged (the result still comes back, with ``converged=False``); a program
    that reports non-convergence itself (the command line) can filter this category."""


@dataclasses.dataclass(frozen=True)
class SCFState:
    density: jnp.ndarray        # (2, nao, nao), the current density D
    fock: jnp.ndarray           # (2, nao, nao), F(D) from the energy model
    energy: jnp.ndarray         # E(D), electronic (Ha)
    energy_change: jnp.ndarray  # E(D) minus the previous energy (Ha)
    gradient_norm: jnp.ndarray  # |g| for D in the orbitals that made it
    fock_used: jnp.ndarray      # (2, nao, nao), the Fock matrix last diagonalised (before shift)
    mo_energy: jnp.ndarray      # (2, nmo)
    mo_coeff: jnp.ndarray       # (2, nao, nmo)
    mo_occ: jnp.ndarray         # (2, nmo), per spin orbital, in [0, 1]
    diis: Optional[DIISState]   # None when DIIS is off
    iteration: jnp.ndarray      # int scalar
    xc_energy: jnp.ndarray      # E_xc(D), the XC part of energy (Ha); 0 when the model
    #                             does not report it (EnergyModel.fock_energy_and_xc)


@dataclasses.dataclass(frozen=True)
class SCFSettings:
    """The traced knobs of a cycle: changing them does not recompile."""

    nalpha: jnp.ndarray
    nbeta: jnp.ndarray
    damping: jnp.ndarray        # F <- (1 - damping) F + damping F_previous
    level_shift: jnp.ndarray    # Ha added to the virtual orbital energies
    use_diis: jnp.ndarray       # bool


jax.tree_util.register_dataclass(
    SCFState,
    data_fields=[f.name for f in dataclasses.fields(SCFState)], meta_fields=[])
jax.tree_util.register_dataclass(
    SCFSettings,
    data_fields=[f.name for f in dataclasses.fields(SCFSettings)], meta_fields=[])


def make_settings(nalpha, nbeta, damping=0.0, level_shift=0.0, use_diis=True):
    def scalar(value, dtype):  # NumPy when concrete: jnp.asarray compiles a conversion
        return jnp.asarray(value, dtype) if traced(value) else \
            np.asarray(value, dtype)

    return SCFSettings(
        nalpha=scalar(nalpha, np.float64), nbeta=scalar(nbeta, np.float64),
        damping=scalar(damping, np.float64), level_shift=scalar(level_shift, np.float64),
        use_diis=scalar(use_diis, bool))


def density_from_orbitals(mo_coeff, mo_occ, xp=jnp):
    """D_s = C_s n_s C_s^T; (2, nao, nmo), (2, nmo) -> (2, nao, nao). ``xp=numpy`` for
    host arrays (nothing compiled)."""
    return xp.einsum("sim,sm,sjm->sij", mo_coeff, mo_occ, mo_coeff)


def diagonalize(fock, X, restricted, xp=jnp):
    """Solve F C = S C e through X^T F X; (2, nao, nao) -> (2, nmo), (2, nao, nmo).
    ``xp=np`` for host arrays."""
    if restricted:
        energies, vectors = xp.linalg.eigh(X.T @ fock[0] @ X)
        return xp.stack([energies, energies]), xp.stack([X @ vectors] * 2)
    energies, vectors = xp.linalg.eigh(X.T @ fock @ X)
    return energies, X @ vectors


@partial(jax.jit, static_argnames=("occupations",))
def core_density(h_core, X, nalpha, nbeta, occupations=aufbau_occupations):
    """Spin densities (2, nao, nao) from the orbitals of the core Hamiltonian, occupied by
    ``occupations`` (default aufbau)."""
    h_core = jnp.asarray(h_core, jnp.float64)
    mo_energy, mo_coeff = diagonalize(jnp.stack([h_core, h_core]), X, restricted=True)
    return density_from_orbitals(mo_coeff, occupations(mo_energy, nalpha, nbeta))


def orbital_gradient_norm(fock, mo_coeff, mo_occ, restricted):
    """PySCF's |g|: the norm of F's virtual-occupied block in the given orbitals.

    Restricted: 2 C_vir^T F C_occ (the gradient w.r.t. real orbital rotations);
    unrestricted: the alpha and beta blocks C_vir^T F_s C_occ together.
    """
    in_mo = jnp.swapaxes(mo_coeff, -1, -2) @ fock @ mo_coeff
    occupied = mo_occ > 0
    block = jnp.where(~occupied[:, :, None] & occupied[:, None, :], in_mo, 0.0)
    if restricted:
        return 2.0 * jnp.linalg.norm(block[0])
    return jnp.linalg.norm(block)


def fock_energy_and_xc(fock_and_energy, density):
    """(F, E, E_xc) of a model at ``density``: E_xc from the model's
    ``fock_energy_and_xc`` (:class:`~dftjax.scf.energy.EnergyModel`), 0 for other callables."""
    with_xc = getattr(fock_and_energy, "fock_energy_and_xc", None)
    if with_xc is not None:
        return with_xc(density)
    fock, energy = fock_and_energy(density)
    return fock, energy, jnp.zeros_like(energy)


def scf_init(fock_and_energy, density, nmo, diis_space, factor=None, restricted=False):
    """The state at the guess density (2, nao, nao), before any cycle. ``factor``
    (2, nao, k) with density[s] = factor[s] factor[s]^T, if given, goes to a model's
    ``fock_and_energy_from_factor``."""
    if factor is None:
        fock, energy, xc_energy = fock_energy_and_xc(fock_and_energy, density)
    else:
        fock, energy = fock_and_energy.fock_and_energy_from_factor(density, factor, restricted)
        xc_energy = jnp.zeros_like(energy)
    return dataclasses.replace(empty_state(density, nmo, diis_space), fock=fock, energy=energy,
                               fock_used=fock, xc_energy=xc_energy)


def empty_state(density, nmo, diis_space, xp=jnp):
    """A state at ``density`` before any evaluation: zero Fock matrix, energy and orbitals,
    infinite changes, an empty DIIS history. ``xp=np`` makes the new arrays on the host
    (the host loop: nothing to compile)."""
    nao = density.shape[-1]
    zeros = xp.zeros(density.shape)
    infinite = xp.full((), xp.inf, dtype=xp.float64)  # not weakly typed: as a step leaves it
    return SCFState(
        density=density, fock=zeros, energy=xp.zeros(()), energy_change=infinite,
        gradient_norm=infinite, fock_used=zeros, mo_energy=xp.zeros((2, nmo)),
        mo_coeff=xp.zeros((2, nao, nmo)), mo_occ=xp.zeros((2, nmo)),
        diis=diis_init(diis_space, nao, nmo, xp) if diis_space > 0 else None,
        iteration=xp.zeros((), xp.int32), xc_energy=xp.zeros(()))


def evaluate_model(fock_and_energy, density, mo_coeff, mo_occ, restricted):
    """(F, E, E_xc) at a density made from orbitals (E_xc as :func:`fock_energy_and_xc`).
    A model with a cheaper route from the orbitals (density fitting builds K from the
    occupied ones) gets them; it must return what ``fock_and_energy(density)`` would, and
    E_xc is 0."""
    from_orbitals = getattr(fock_and_energy, "fock_and_energy_from_orbitals", None)
    if from_orbitals is not None:
        fock, energy = from_orbitals(density, mo_coeff, mo_occ, restricted)
        return fock, energy, jnp.zeros_like(energy)
    return fock_energy_and_xc(fock_and_energy, density)


def scf_step(fock_and_energy, state, overlap, X, settings, *, restricted, occupations):
    """One SCF cycle. fock_and_energy(D) -> (F, E); occupations(mo_energy, na, nb) -> (2, nmo).

    DIIS starts at the second cycle, as in PySCF: the guess density need not be
    idempotent, so its commutator is no error measure. The cycle is
    :func:`orbital_update` then :func:`evaluated_state`, which the host loop compiles
    apart (see :func:`_host_step`).
    """
    update = orbital_update(state, overlap, X, settings, restricted=restricted,
                            occupations=occupations)
    return evaluated_state(fock_and_energy, state, update, restricted=restricted)


def orbital_update(state, overlap, X, settings, *, restricted, occupations):
    """The first half of a cycle: DIIS, damping, level shift, diagonalisation, occupation.

    Returns (the Fock matrix diagonalised (before shift), DIIS history, mo_energy,
    mo_coeff, mo_occ, new density).
    """
    fock = state.fock
    diis = state.diis
    if diis is not None:
        active = settings.use_diis & (state.iteration >= 1)
        error = commutator_error(fock, state.density, overlap, X)
        pushed = diis_update(diis, fock, error)
        diis = jax.tree_util.tree_map(lambda new, old: jnp.where(active, new, old), pushed, diis)
        fock = jnp.where(active, diis_extrapolate(diis), fock)
    fock = (1.0 - settings.damping) * fock + settings.damping * state.fock_used
    # Level shift: F + shift (S - S D_s S) raises the virtual space (PySCF's hf.level_shift).
    virtual_projector = overlap - overlap @ state.density @ overlap
    mo_energy, mo_coeff = diagonalize(fock + settings.level_shift * virtual_projector, X, restricted)
    mo_occ = occupations(mo_energy, settings.nalpha, settings.nbeta)
    return fock, diis, mo_energy, mo_coeff, mo_occ, density_from_orbitals(mo_coeff, mo_occ)


def host_orbital_update(state, overlap, X, settings, restricted):
    """:func:`orbital_update` with aufbau occupations in NumPy, for the host loop on a CPU
    (:func:`orbital_update_on_host`): the same formulas on host arrays, nothing to compile
    (the compiled update took ~1 s to compile per basis size; this runs in milliseconds:
    the DIIS system's and each spin's eigenproblem, and a few nao^3 products). ``state``
    is left as it was."""
    fock, density, fock_used = (np.asarray(x) for x in (state.fock, state.density,
                                                         state.fock_used))
    overlap, X = np.asarray(overlap), np.asarray(X)
    diis = state.diis
    if diis is not None and bool(settings.use_diis) and int(state.iteration) >= 1:
        diis = host_diis_update(diis, fock, commutator_error(fock, density, overlap, X, xp=np))
        fock = host_diis_extrapolate(diis)
    damping = float(settings.damping)
    fock = (1.0 - damping) * fock + damping * fock_used
    shifted = fock + float(settings.level_shift) * (overlap - overlap @ density @ overlap)
    mo_energy, mo_coeff = diagonalize(shifted, X, restricted, xp=np)
    mo_occ = host_aufbau_occupations(mo_energy, settings.nalpha, settings.nbeta)
    return (fock, diis, mo_energy, mo_coeff, mo_occ,
            density_from_orbitals(mo_coeff, mo_occ, xp=np))


def orbital_update_on_host() -> bool:
    """Whether the host loop's aufbau orbital update runs in NumPy
    (:func:`host_orbital_update`): on a CPU backend, where its few small products and
    eighs cost less than compiling them; elsewhere it is a stored program."""
    return jax.default_backend() == "cpu"


def evaluated_state(fock_and_energy, state, update, *, restricted):
    """The second half of a cycle: the energy model at the new density of ``update``
    (:func:`orbital_update`), and the next state."""
    fock, diis, mo_energy, mo_coeff, mo_occ, density = update
    new_fock, energy, xc_energy = evaluate_model(fock_and_energy, density, mo_coeff, mo_occ,
                                                 restricted)
    return SCFState(
        density=density, fock=new_fock, energy=energy, energy_change=energy - state.energy,
        gradient_norm=orbital_gradient_norm(new_fock, mo_coeff, mo_occ, restricted),
        fock_used=fock, mo_energy=mo_energy, mo_coeff=mo_coeff, mo_occ=mo_occ, diis=diis,
        iteration=state.iteration + 1, xc_energy=xc_energy)


_scf_init_jit = jax.jit(scf_init, static_argnames=("nmo", "diis_space", "restricted"))
_orbital_update_jit = jax.jit(orbital_update, static_argnames=("restricted", "occupations"))


def _evaluated_state_positional(fock_and_energy, state, update, restricted):
    return evaluated_state(fock_and_energy, state, update, restricted=restricted)


#: :func:`evaluated_state`, stored on disk for models whose static parts have a stable
#: description (dftjax's own energy functions and built-in functionals:
#: :func:`~dftjax.stored_programs.describe`); any other model takes the plain jit
_stored_evaluated_state = StoredKernel(_evaluated_state_positional, static_argnums=(3,))


def _evaluated_state_jit(fock_and_energy, state, update, *, restricted):
    return _stored_evaluated_state(fock_and_energy, state, update, restricted)


def _aufbau_orbital_update(state, overlap, X, settings, restricted):
    return orbital_update(state, overlap, X, settings, restricted=restricted,
                          occupations=aufbau_occupations)


#: :func:`orbital_update` with aufbau occupations, stored on disk (it holds no function
#: but the aufbau rule): a later process loads it without tracing or lowering
_stored_aufbau_update = StoredKernel(_aufbau_orbital_update, static_argnums=(4,))


def _starts_from_orbitals(fock_and_energy) -> bool:
    """Whether the model has an orbital route (density fitting), which
    :func:`_host_start` starts through :func:`scf_init`."""
    return getattr(fock_and_energy, "fock_and_energy_from_orbitals", None) is not None


def start_update(empty):
    """The orbital update (:func:`orbital_update`'s tuple) that evaluates the model at the
    density of ``empty`` (:func:`empty_state`): how the host loop starts, through the
    program of its cycles."""
    return (empty.fock_used, empty.diis, empty.mo_energy, empty.mo_coeff, empty.mo_occ,
            empty.density)


def _host_start(fock_and_energy, density, nmo, diis_space, restricted):
    """:func:`scf_init` for the host loop. A model that takes the density alone is
    evaluated by the program of :func:`_host_step` (compiled once for both); one with an
    orbital route (density fitting) starts through :func:`scf_init` and its factor. The
    state it returns has the shapes and dtypes of ``empty_state(density, nmo,
    diis_space)``: what :func:`iterate` prepares the orbital update for."""
    if _starts_from_orbitals(fock_and_energy):
        return _scf_init_jit(fock_and_energy, density, nmo=nmo, diis_space=diis_space,
                             factor=density_factor(fock_and_energy, density),
                             restricted=restricted)
    empty = empty_state(density, nmo, diis_space, xp=np)
    update = start_update(empty)
    state = _evaluated_state_jit(fock_and_energy, empty, update, restricted=restricted)
    return dataclasses.replace(state, energy_change=empty.energy_change,
                               gradient_norm=empty.gradient_norm, fock_used=state.fock,
                               iteration=empty.iteration)


def _host_step(fock_and_energy, state, overlap, X, settings, *, restricted, occupations):
    """:func:`scf_step` as two parts: the orbital update (in NumPy on a CPU,
    :func:`host_orbital_update`; else compiled) and the energy model's compiled
    evaluation, shared with the start."""
    if occupations is aufbau_occupations and orbital_update_on_host():
        update = host_orbital_update(state, overlap, X, settings, restricted)
    elif occupations is aufbau_occupations:
        update = _stored_aufbau_update(state, overlap, X, settings, restricted)
    else:
        update = _orbital_update_jit(state, overlap, X, settings, restricted=restricted,
                                     occupations=occupations)
    return _evaluated_state_jit(fock_and_energy, state, update, restricted=restricted)

#: Eigenvalues of a guess density below this fraction of the largest are dropped from
#: its factor (their K contribution is below ~1e-13 of the total).
FACTOR_CUTOFF = 1e-13


def density_factor(fock_and_energy, density):
    """V (2, nao, k) with density[s] = V[s] V[s]^T, from the eigenvectors of positive
    eigenvalues, k the most of either spin rounded up (few shapes); None when the model
    has no use for it, the density is traced or not positive semidefinite, or the factor
    would not be narrower than the density itself."""
    if getattr(fock_and_energy, "fock_and_energy_from_factor", None) is None or \
            traced(density):
        return None
    values, vectors = np.linalg.eigh(np.asarray(density))
    top = max(float(values.max()), 0.0)
    if top == 0.0 or values.min() < -1e-10 * top:
        return None
    keep = max(int(np.sum(values[s] > FACTOR_CUTOFF * top)) for s in range(values.shape[0]))
    ncol = min(bucket(keep), density.shape[-1])
    if 2 * ncol > density.shape[-1]:
        return None  # hardly cheaper than the density route
    values, vectors = values[:, -ncol:], vectors[:, :, -ncol:]
    weights = np.sqrt(np.where(values > FACTOR_CUTOFF * top, values, 0.0))
    return jnp.asarray(vectors * weights[:, None, :])


def as_pytree_model(fock_and_energy):
    """Make a callable a jit argument: pytrees (``EnergyModel``, ``Partial``) pass as they
    are, with traced arrays; a plain function is wrapped, its captured arrays then
    compile in as constants."""
    leaves = jax.tree_util.tree_leaves(fock_and_energy)
    if len(leaves) == 1 and leaves[0] is fock_and_energy:
        return jax.tree_util.Partial(fock_and_energy)
    return fock_and_energy


_log = logger("scf").info  # progress, only when verbose (dftjax.log)


# The convergence tests take (energy change, |g|) as traced arrays (scf_solve) or as host
# floats (iterate: no device work, so nothing compiles for them).
def _is_converged(energy_change, gradient_norm, conv_tol, conv_tol_grad):
    return (abs(energy_change) < conv_tol) & (gradient_norm < conv_tol_grad)


def _final_check(energy_change, gradient_norm, conv_tol, conv_tol_grad):
    """PySCF's conv_check on the extra diagonalisation: looser, and either test suffices."""
    return (abs(energy_change) < 10 * conv_tol) | (gradient_norm < 3 * conv_tol_grad)


def _host_checks(state):
    """(energy change, |g|) of a state as Python floats."""
    return float(state.energy_change), float(state.gradient_norm)


def _plain(settings, keep_shift=False):
    """The settings of the final diagonalisation: no DIIS, damping or level shift (the
    level shift kept if ``keep_shift``)."""
    level_shift = settings.level_shift if keep_shift else np.zeros(())
    return dataclasses.replace(settings, damping=np.zeros(()), level_shift=level_shift,
                               use_diis=np.asarray(False))


@jax.jit
def _unshifted_energies(state):
    """The state with mo_energy the Rayleigh quotients c^T F c (Ha, (2, nmo)) of its
    orbitals in the unshifted Fock matrix it diagonalised (``fock_used``)."""
    energies = jnp.einsum("sip,sij,sjp->sp", state.mo_coeff, state.fock_used, state.mo_coeff)
    return dataclasses.replace(state, mo_energy=energies)


def canonical_state(state):
    """``state`` (converged, concrete) with orbitals that diagonalise its Fock matrix
    within the occupied and within the virtual space of each spin (occupied first, each
    space by increasing energy) and ``mo_energy`` their eigenvalues (Ha, (2, nmo)).

    At convergence F commutes with D, so these are eigenvectors of F spanning the same
    occupied space: the unmodified diagonalisation without aufbau's reordering, for a
    state whose occupied orbitals are not the lowest ones (see :func:`_final_step`).
    """
    fock, mo_coeff, mo_occ = (np.asarray(x) for x in (state.fock, state.mo_coeff, state.mo_occ))
    energies, coeffs, occs = [], [], []
    for f, c, n in zip(fock, mo_coeff, mo_occ):
        f_mo = c.T @ f @ c
        spin_energies, spin_coeffs = [], []
        for space in (n > 0.5, n <= 0.5):
            e, u = np.linalg.eigh(f_mo[np.ix_(space, space)])
            spin_energies.append(e)
            spin_coeffs.append(c[:, space] @ u)
        energies.append(np.concatenate(spin_energies))
        coeffs.append(np.concatenate(spin_coeffs, axis=1))
        occs.append(np.concatenate([n[n > 0.5], n[n <= 0.5]]))
    return dataclasses.replace(state, mo_energy=jax.device_put(np.stack(energies)),
                               mo_coeff=jax.device_put(np.stack(coeffs)),
                               mo_occ=jax.device_put(np.stack(occs)))


def _final_step(step, state, settings, converged, conv_tol, conv_tol_grad, newton=False):
    """The extra diagonalisation after the cycles; returns (final state, whether the run
    converged: ``converged`` and the final state passes :func:`_final_check`).

    Normally it is unmodified (no DIIS, damping or shift) and occupied by aufbau. A
    level-shifted run can converge to a state whose occupied orbitals are not the lowest
    ones (NO with LDA: the singly occupied pi* lies ~5 mHa above the empty one, so no
    aufbau state is self-consistent and unshifted cycles swap the two for ever). If the
    unmodified step leaves that state, the step is redone with the shift kept: at
    convergence F commutes with D, so F + shift (S - S D S) has the same eigenvectors
    and the same occupied space; the orbital energies returned are those of F. A state
    that second-order steps converged (``newton``: no shift to keep; they minimise the
    energy of the occupied space they were given) is returned canonicalised instead
    (:func:`canonical_state`).
    """
    final = step(state, _plain(settings))
    passed = bool(_final_check(*_host_checks(final), conv_tol, conv_tol_grad))
    if converged and not passed and (newton or float(settings.level_shift) > 0.0):
        final = (canonical_state(state) if newton else
                 _unshifted_energies(step(state, _plain(settings, keep_shift=True))))
        passed = bool(_final_check(*_host_checks(final), conv_tol, conv_tol_grad))
    return final, converged and passed


def stalled(gradient_norms, energies, window=STALL_WINDOW, spread=STALL_ENERGY):
    """Whether the best of the last ``window`` orbital gradients is not below half the best
    before them while those cycles' energies (Ha) lie within ``spread``
    (:data:`STALL_WINDOW`)."""
    if len(gradient_norms) <= window:
        return False
    recent = energies[-window:]
    return (min(gradient_norms[-window:]) > 0.5 * min(gradient_norms[:-window])
            and max(recent) - min(recent) < spread)


def iterate(fock_and_energy, overlap, X, density, settings, *, restricted, occupations,
            conv_tol, conv_tol_grad, max_cycle, diis_space, verbose=False, stop_stalled=False):
    """Cycle from ``density`` on the host until converged or max_cycle; returns (state, converged).

    ``stop_stalled`` (for an attempt that has a next rung) also ends the cycles once they
    have :func:`stalled`.

    After convergence one more cycle without DIIS, damping or level shift gives the
    final orbitals (PySCF's conv_check); it always runs, so the orbitals returned
    are eigenvectors of an unmodified Fock matrix (to convergence; a level-shifted
    state that is not aufbau keeps its shift there, see :func:`_final_step`).
    """
    fock_and_energy = as_pytree_model(fock_and_energy)
    if (occupations is aufbau_occupations and not _starts_from_orbitals(fock_and_energy)
            and not orbital_update_on_host()):
        # a first run compiles the orbital update beside the model's first evaluation
        _stored_aufbau_update.prepare(empty_state(density, X.shape[1], diis_space, xp=np),
                                      overlap, X, settings, restricted)
    state = _host_start(fock_and_energy, density, X.shape[1], diis_space, restricted)
    if verbose:
        _log(f"SCF init E(electronic)= {float(state.energy):.12f}")
    step = lambda state, settings: _host_step(
        fock_and_energy, state, overlap, X, settings, restricted=restricted, occupations=occupations)
    converged, norms, energies = False, [], []
    for _ in range(max_cycle):
        state = step(state, settings)
        if verbose:
            _log(f"cycle={int(state.iteration):3d} E(electronic)= {float(state.energy):.12f}"
                 f"  dE= {float(state.energy_change): .3e}  |g|= {float(state.gradient_norm):.3e}")
        converged = bool(_is_converged(*_host_checks(state), conv_tol, conv_tol_grad))
        if converged:
            break
        norms.append(float(state.gradient_norm))
        energies.append(float(state.energy))
        if stop_stalled and stalled(norms, energies):
            if verbose:
                _log(f"SCF stalled: |g| not halved and E within {STALL_ENERGY:g} Ha in "
                     f"{STALL_WINDOW} cycles (best |g| {min(norms):.3e}); leaving this attempt")
            break
    final, converged = _final_step(step, state, settings, converged, conv_tol, conv_tol_grad)
    final = dataclasses.replace(final, iteration=state.iteration)
    if verbose:
        _log(f"final     E(electronic)= {float(final.energy):.12f}"
             f"  dE= {float(final.energy_change): .3e}  |g|= {float(final.gradient_norm):.3e}")
    return final, converged


def scf_solve(fock_and_energy, overlap, X, density, settings, *, restricted, occupations,
              conv_tol, conv_tol_grad, max_cycle, diis_space):
    """``iterate`` as one traceable function (jit, vmap): a lax.while_loop over the same
    ``scf_step`` and the same final step (a level-shifted state that is not aufbau keeps
    its shift), no logging, no retries. Returns (final state, converged as a bool array)."""
    step = lambda state, settings: scf_step(
        fock_and_energy, state, overlap, X, settings, restricted=restricted, occupations=occupations)
    state = jax.lax.while_loop(
        lambda state: (state.iteration < max_cycle) & ~_is_converged(
            state.energy_change, state.gradient_norm, conv_tol, conv_tol_grad),
        lambda state: step(state, settings),
        scf_init(fock_and_energy, density, X.shape[1], diis_space))
    looped = _is_converged(state.energy_change, state.gradient_norm, conv_tol, conv_tol_grad)
    plain = step(state, _plain(settings))
    passed = _final_check(plain.energy_change, plain.gradient_norm, conv_tol, conv_tol_grad)
    # As _final_step: a converged level-shifted state that is not aufbau keeps its shift.
    # Without a shift (known when tracing) the branch is left out: it is another Fock
    # build to compile (water/STO-3G B3LYP's SCFFunction: ~a quarter of the forward's).
    if not traced(settings.level_shift) and not np.any(settings.level_shift > 0.0):
        final = plain
    else:
        final = jax.lax.cond(
            looped & ~passed & (settings.level_shift > 0.0),
            lambda: _unshifted_energies(step(state, _plain(settings, keep_shift=True))),
            lambda: plain)
    final = dataclasses.replace(final, iteration=state.iteration)
    converged = looped & _final_check(final.energy_change, final.gradient_norm, conv_tol,
                                      conv_tol_grad)
    return final, converged
