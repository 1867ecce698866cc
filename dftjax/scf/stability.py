"""SCF stability analysis: is a converged determinant a minimum of its energy?

A converged SCF is a stationary point of E(D) under orbital rotations; it is a local
minimum only if the orbital Hessian has no negative eigenvalue. Open-shell molecules
often converge to saddle points (e.g. UHF O2/STO-3G, 1.5 mHa above the stable state).

Rotations: C_s -> C_s exp(K_s), with K_s antisymmetric and only its virtual-occupied block
kappa_s (nmo, nmo, zero elsewhere) free; D_s(kappa) = C_s exp(K_s) n_s exp(-K_s) C_s^T. The
Hessian is d^2 E(D(kappa)) / d kappa^2 at kappa = 0, applied to vectors by central
differences of the orbital gradient at rotated orbitals, two builds of the model's own
Fock matrix (:func:`~dftjax.scf.rotations.finite_difference_hessian_vector`; ~1e-9
relative to forward-over-reverse autodiff of E(D), which compiles a program of its own,
~4 s, and runs ~1.5x slower), or, for the external (RHF -> UHF) rotations, whose spin
densities a restricted model's Fock build cannot take, by that autodiff. Either way Coulomb, exact
exchange and the XC kernel all come from the model that made the Fock matrix, nothing is
written out by hand. Its lowest eigenvalues come from Davidson iterations on these
products.

Cases (``x`` the free parameters, kappa_s = sign_s x):
  unrestricted  x (2, nmo, nmo), signs (1, 1): UHF -> UHF, UKS -> UKS
  restricted    x (1, nmo, nmo), signs (1, 1): RHF -> RHF, RKS -> RKS (singlet rotations)
  external      x (1, nmo, nmo), signs (1, -1): RHF -> UHF, RKS -> UKS (triplet rotations)
Eigenvalues are of d^2E/dkappa^2 (Hartree per rad^2) with this parametrisation: for
a single spin orbital pair about 2 (e_a - e_i), for restricted ones 4 (e_a - e_i).

When an eigenvalue is negative, ``follow_instabilities`` rotates the orbitals along its
eigenvector to the lowest energy on that line, re-converges the SCF from there and checks
again, a bounded number of rounds.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.scf.driver import as_pytree_model, density_from_orbitals
from dftjax.scf.energy import (PAD_LIMIT, PADDING_ENERGY, PaddedModel, is_density_fitted,
                               on_the_ladder)
from dftjax.scf.rotations import (_energy_along, _hessian_vector, _kappa,
                                  finite_difference_hessian_vector, rotated_orbitals)
from dftjax.scf.second_order import descend_from
from dftjax.tracing import traced

#: An eigenvalue below this (Ha / rad^2) counts as an instability (PySCF's threshold);
#: exact zero modes (rotating an atom's broken-symmetry density) stay above it.
INSTABILITY_THRESHOLD = -1e-5

#: Rotation angles (rad, times the unit eigenvector) tried along an unstable direction.
LINE_SEARCH_STEPS = tuple(0.05 * 2.0 ** k for k in range(7))


@dataclasses.dataclass(frozen=True)
class StabilityAnalysis:
    """Lowest orbital-Hessian eigenvalue (Ha / rad^2) and its eigenvector.

    kind: "unrestricted", "restricted" or "external"; vector (1 or 2, nmo, nmo), the
    virtual-occupied rotation parameters x (see the module docstring), unit norm.
    """

    kind: str
    eigenvalue: float
    vector: np.ndarray

    @property
    def stable(self) -> bool:
        return self.eigenvalue >= INSTABILITY_THRESHOLD


@dataclasses.dataclass(frozen=True)
class StabilityReport:
    """What the SCF's stability check found: ``checked`` whether it ran; ``stable``
    whether the final state has no negative internal eigenvalue; ``rounds`` how many
    unstable directions were followed; ``lowest_eigenvalue`` of the final state's internal
    Hessian (Ha / rad^2; NaN when not checked)."""

    checked: bool = False
    stable: bool = True
    rounds: int = 0
    lowest_eigenvalue: float = float("nan")

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def spin_orbitals(result):
    """(mo_energy (2, nmo), mo_coeff (2, nao, nmo), mo_occ (2, nmo) in [0, 1]) of a result."""
    if result.restricted:
        stack = lambda x: jnp.stack([x, x])
        return stack(result.mo_energy), stack(result.mo_coeff), stack(0.5 * result.mo_occ)
    return result.mo_energy, result.mo_coeff, result.mo_occ


def _on_the_ladder(model, result):
    """(model, mo_energy, mo_coeff, mo_occ, nao, nmo) of a result, on the padded basis of
    :func:`~dftjax.scf.energy.padded_size` as the SCF ran, when ``model`` is a
    :class:`~dftjax.scf.energy.PaddedModel` (the SCF's own, built once) or pads
    (``EnergyModel.pad``; a model already on its rung too, for the padded model's
    pytree) up to :data:`~dftjax.scf.energy.PAD_LIMIT` AOs (any size, density-fitted):
    the analysis then compiles once per rung. The padding orbitals are unit vectors on the
    padding AOs, empty, at :data:`~dftjax.scf.energy.PADDING_ENERGY`; the analysis never
    rotates them (they are decoupled, so no real rotation couples to them). nao, nmo: the
    real sizes."""
    mo_energy, mo_coeff, mo_occ = spin_orbitals(result)
    nao, nmo = np.shape(mo_coeff)[-2:]
    if not isinstance(model, PaddedModel) and (
            (nao > PAD_LIMIT and not is_density_fitted(model)) or traced(mo_coeff)):
        return model, mo_energy, mo_coeff, mo_occ, nao, nmo
    padded = on_the_ladder(model, nao)
    if not isinstance(padded, PaddedModel):
        return model, mo_energy, mo_coeff, mo_occ, nao, nmo
    size = padded.size
    extra = size - nao
    coeff = np.zeros((2, size, nmo + extra))
    coeff[:, :nao, :nmo] = np.asarray(mo_coeff)
    coeff[:, nao:, nmo:] = np.eye(extra)
    energy = np.full((2, nmo + extra), PADDING_ENERGY)
    energy[:, :nmo] = np.asarray(mo_energy)
    occ = np.zeros((2, nmo + extra))
    occ[:, :nmo] = np.asarray(mo_occ)
    return (padded.model, *(jax.device_put(x) for x in (energy, coeff, occ)), nao, nmo)


def davidson_lowest(matvec: Callable, diagonal: np.ndarray, nguess: int = 4, tol: float = 1e-6,
                    max_iter: int = 100):
    """Lowest eigenpair of a symmetric operator by Davidson iterations (Davidson, J. Comput.
    Phys. 17, 87 (1975)). matvec: array -> array of ``diagonal``'s shape; ``diagonal`` its
    (approximate) diagonal, for the preconditioner, with np.inf on entries outside the
    space. Starts from unit vectors at the ``nguess`` smallest diagonal entries; stops when
    the residual norm is below ``tol``. Returns (eigenvalue, unit eigenvector)."""
    free = np.isfinite(diagonal)
    order = np.argsort(np.where(free, diagonal, np.inf), axis=None)[:min(nguess, int(free.sum()))]
    basis, images, new = [], [], []
    for index in order:
        vector = np.zeros(diagonal.shape)
        vector.flat[index] = 1.0
        new.append(vector)
    for _ in range(max_iter):
        size = len(basis)
        for vector in new:
            for b in basis:
                vector = vector - np.vdot(b, vector) * b
            norm = np.linalg.norm(vector)
            if norm > 1e-8:
                basis.append(vector / norm)
                images.append(np.asarray(matvec(basis[-1])))
        if len(basis) == size:  # the correction lies in the subspace: nothing more to gain
            break
        subspace = np.array([[np.vdot(b, a) for a in images] for b in basis])
        values, vectors = np.linalg.eigh(0.5 * (subspace + subspace.T))
        theta, y = values[0], vectors[:, 0]
        ritz = sum(c * b for c, b in zip(y, basis))
        residual = sum(c * a for c, a in zip(y, images)) - theta * ritz
        if np.linalg.norm(residual) < tol or len(basis) >= free.sum():
            break
        shift = diagonal - theta
        shift = np.where(np.abs(shift) < 1e-8, 1e-8, shift)
        new = [np.where(free, residual / shift, 0.0)]
    return float(theta), ritz / np.linalg.norm(ritz)


def analyse(model, result, external: bool = False, tol: float = 1e-6) -> StabilityAnalysis:
    """Lowest orbital-Hessian eigenpair of a converged SCF ``result`` (an SCFResult) of
    the energy model ``model`` (the ``fock_and_energy`` the SCF ran with).

    Unrestricted results get the UHF -> UHF analysis; restricted ones the RHF -> RHF
    (singlet) one, or with ``external`` the RHF -> UHF (triplet) one.
    """
    if external and not result.restricted:
        raise ValueError("the external (RHF -> UHF) analysis needs a restricted result")
    model, mo_energy, mo_coeff, mo_occ, _, nmo = _on_the_ladder(model, result)
    kind = "unrestricted" if not result.restricted else "external" if external else "restricted"
    signs = np.array([1.0, -1.0]) if external else np.ones(2)
    nspin = 1 if result.restricted else 2
    occ = np.asarray(mo_occ)[:nspin] > 0
    mask = (~occ[:, :, None]) & occ[:, None, :]          # (nspin, vir, occ)
    mask[:, nmo:] = False  # padding orbitals (if any) stay put
    energies = np.asarray(mo_energy)[:nspin]
    gap = energies[:, :, None] - energies[:, None, :]
    diagonal = np.where(mask, 2.0 * (3 - nspin) * gap, np.inf)  # 4 gap restricted, 2 gap per spin
    if not mask.any():  # nothing to rotate (e.g. H in a minimal basis)
        return StabilityAnalysis(kind, float("inf"), np.zeros(mask.shape))
    model = as_pytree_model(model)
    mask_array = jnp.asarray(mask, jnp.float64)
    if external or traced(mo_coeff):
        matvec = lambda x: _hessian_vector(model, mo_coeff, mo_occ, signs, mask_array,
                                           jnp.asarray(x))
    else:
        matvec = lambda x: finite_difference_hessian_vector(
            model, mo_coeff, mo_occ, signs, mask_array, x, restricted=bool(result.restricted))
    value, vector = davidson_lowest(matvec, diagonal, tol=tol)
    return StabilityAnalysis(kind, value, vector[:, :nmo, :nmo])


@dataclasses.dataclass(frozen=True)
class Rotation:
    """The lowest-energy point on an unstable line, on the padded basis the analysis ran
    on: the model, orbitals (2, nao_padded, nmo_padded) rotated there, occupations, the
    real nao and the energy there (Ha, electronic)."""

    model: object
    mo_coeff: jnp.ndarray
    mo_occ: jnp.ndarray
    nao: int
    energy: float

    def density(self):
        """Spin densities (2, nao, nao) at the rotated orbitals, unpadded."""
        return density_from_orbitals(self.mo_coeff, self.mo_occ)[:, :self.nao, :self.nao]


def best_rotation(model, result, analysis: StabilityAnalysis) -> Rotation:
    """The rotation t * analysis.vector, t in LINE_SEARCH_STEPS (rad), of lowest energy."""
    model, _, mo_coeff, mo_occ, nao, nmo = _on_the_ladder(model, result)
    signs = np.array([1.0, -1.0]) if analysis.kind == "external" else np.ones(2)
    model = as_pytree_model(model)
    vector = np.zeros(analysis.vector.shape[:1] + mo_occ.shape[-1:] * 2)
    vector[:, :nmo, :nmo] = analysis.vector
    vector = jnp.asarray(vector)
    energies = [float(_energy_along(model, mo_coeff, mo_occ, signs, t * vector))
                for t in LINE_SEARCH_STEPS]
    best = LINE_SEARCH_STEPS[int(np.argmin(energies))]
    coeff = rotated_orbitals(mo_coeff, _kappa(best * vector, signs))
    return Rotation(model, coeff, mo_occ, nao, min(energies))


#: The descent that takes over when DIIS from the rotated orbitals goes back to the
#: saddle point; the SCF then re-converges from where it stops. Converged as tightly as
#: an SCF: along soft modes (a radical's degenerate pi orbitals on an anisotropic grid,
#: e.g. OH) the way down is only ~1e-7 Ha deep, and a looser descent stops before it.
DESCENT = dict(conv_tol=1e-10, conv_tol_grad=1e-5, max_cycle=50)


def _lower(candidate, result):
    return bool(candidate.converged) and float(candidate.energy) < float(result.energy) - 1e-10


def follow_instabilities(model, result, rerun: Callable, max_rounds: int = 4):
    """Check ``result`` for internal instabilities and follow them to a stable state.

    ``rerun(D0)`` runs the same SCF from spin densities D0 (2, nao, nao) and returns an
    SCFResult. Each round: the lowest eigenpair; if unstable, the lowest-energy rotation
    along it, and a new SCF from there. DIIS seeks any stationary point and may go back
    to the saddle point it started next to (the ethoxy radical with B3LYP); if the new
    SCF is not lower, trust-region Newton steps, which only go downhill, descend from the
    rotated orbitals (:func:`~dftjax.scf.second_order.descend_from`) and the SCF starts
    again from where they stop. A round is kept only when it converges lower. At most
    ``max_rounds`` rounds. Returns (result, StabilityReport); the result's ``iterations``
    include the re-converging SCF cycles and the Newton steps.
    """
    iterations = result.iterations
    rounds = 0
    analysis = analyse(model, result)
    while not analysis.stable and rounds < max_rounds:
        rotation = best_rotation(model, result, analysis)
        candidate = rerun(rotation.density())
        iterations += candidate.iterations
        rounds += 1
        if not _lower(candidate, result):
            state, _ = descend_from(rotation.model, rotation.mo_coeff, rotation.mo_occ,
                                    restricted=bool(result.restricted), **DESCENT)
            candidate = rerun(np.asarray(state.density)[:, :rotation.nao, :rotation.nao])
            iterations += int(state.iteration) + candidate.iterations
        if not _lower(candidate, result):
            break
        result = candidate
        analysis = analyse(model, result)
    report = StabilityReport(checked=True, stable=analysis.stable, rounds=rounds,
                             lowest_eigenvalue=analysis.eigenvalue)
    return dataclasses.replace(result, iterations=iterations), report
