"""MP2, CCSD and CCSD(T) on a Hartree-Fock reference, and their relaxed densities.

``run(molecule, basis=..., method="ccsd(t)")`` runs the SCF (RHF for singlets, UHF
otherwise), transforms the exact AO integrals to molecular orbitals and solves the
amplitude equations: spin-adapted in spatial orbitals for RHF references
(:mod:`dftjax.correlated.closed_shell`), in spin orbitals otherwise
(:mod:`dftjax.correlated.equations`, :mod:`dftjax.correlated.triples`). With
``relaxed_density=True`` the whole chain

    h_core -> converged HF density D* (implicit SCF derivative, dftjax.scf.implicit)
           -> orbitals spanning D* -> Fock matrix, integrals -> amplitudes (implicit,
              :mod:`dftjax.correlated.solver`) -> E

is differentiated in reverse mode, and dE/dh_core is the relaxed (orbital-response
included) one-particle density in the AO basis: the derivative of the energy with
respect to any one-electron perturbation V is tr(P V), so dipoles and densities on
points follow from it.

Orbital choice (why the derivative is safe). The correlated energy is written as a
function of the reference density D, not of canonical orbitals: occupied orbitals are
D S C0_occ and virtual ones (1 - D S) C0_vir, Cholesky-orthonormalised, with C0 the
converged canonical orbitals held constant. The MP2 and CCSD equations carry the full
Fock matrix (non-canonical form) and are invariant to occupied-occupied and
virtual-virtual rotations, so only D matters; (T) uses its first-order non-canonical
form (:mod:`dftjax.correlated.triples`), exact in value and first derivative at the
canonical point. With a frozen core, the core-active partition is not rotation
invariant: the core is taken as the first-order solution of f_core,active = 0 (a
Jacobi rotation with the core-valence gap as denominator), the canonical condition.
Nothing diagonalises in the differentiated path, so degenerate orbitals (NH3, NO, atoms)
are harmless.
"""

import dataclasses
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ..api import SCFCalculation, scf
from ..grid.ao_values import ao_values
from ..memory import available_memory, format_bytes
from ..molecule import Molecule
from ..scf.energy import hf_fock, hf_fock_and_energy
from ..scf.implicit import SolveConfig, converged_scf
from . import closed_shell, equations
from .frozen_core import chemcore
from .solver import AmplitudeProblem, SolverConfig, solve_amplitudes
from .spin_orbitals import ALL_BLOCKS, fock_blocks, integral_blocks, integral_bytes, spin_stack
from .triples import triples_energy

METHODS = ("mp2", "ccsd", "ccsd(t)")

MP2_PROBLEM = AmplitudeProblem(equations.mp2_residual, equations.mp2_denominators,
                               equations.mp2_energy, equations.antisymmetrize)
CCSD_PROBLEM = AmplitudeProblem(equations.ccsd_residual, equations.denominators,
                                equations.ccsd_energy, equations.ccsd_project)
# The closed-shell equations share the Fock-block layout, hence the denominators.
CLOSED_MP2_PROBLEM = AmplitudeProblem(closed_shell.mp2_residual, equations.mp2_denominators,
                                      closed_shell.mp2_energy, closed_shell.symmetrize)
CLOSED_CCSD_PROBLEM = AmplitudeProblem(closed_shell.ccsd_residual, equations.denominators,
                                       closed_shell.ccsd_energy, closed_shell.ccsd_project)

# Reverse mode keeps the forward arrays and their cotangents: about 3 times the
# energy's peak (measured: H2O/cc-pVTZ peaked at 11.3 GB against 3.85 GB estimated for
# the energy).
RELAXED_FACTOR = 3.0


@dataclasses.dataclass(frozen=True)
class CorrelatedResult:
    """A correlated calculation. Energies in Hartree, dipoles in e Bohr about the origin.

    energy : total energy of ``method``; scf_energy; correlation_energy = energy - scf_energy
    components : correlation energy parts, e.g. {"ccsd": ..., "(t)": ...}
    converged : SCF, amplitudes (and, with the relaxed density, Lambda equations) all
        converged; iterations : amplitude iterations (DIIS steps; MP2 needs one or two)
    ncore : frozen spatial core orbitals per spin
    density : relaxed AO density matrix (nao, nao), total over spins, or None
    dipole : relaxed dipole (3,) with nuclei, or None
    scf : the reference :class:`~dftjax.api.SCFCalculation`
    """

    method: str
    energy: float
    scf_energy: float
    correlation_energy: float
    components: dict
    converged: bool
    iterations: int
    ncore: int
    scf: SCFCalculation
    density: np.ndarray = None
    dipole: np.ndarray = None
    timings: dict = None

    def density_on_points(self, points):
        """Relaxed electron density (npts,) at ``points`` (npts, 3) Bohr."""
        if self.density is None:
            raise ValueError("no relaxed density: run with relaxed_density=True")
        mol = self.scf.molecule
        phi = ao_values(self.scf.basis, jnp.asarray(mol.coordinates), jnp.asarray(points))[0]
        return np.asarray(jnp.einsum("pi,ij,pj->p", phi, self.density, phi))


def _orthonormalize(orbitals, overlap):
    """C L^-T with C^T S C = L L^T (Cholesky: differentiable at any point)."""
    chol = jnp.linalg.cholesky(orbitals.T @ overlap @ orbitals)
    return jax.scipy.linalg.solve_triangular(chol, orbitals.T, lower=True).T


def orbitals_from_density(density, overlap, mo_coeff, nocc):
    """[(occupied (nao, n_s), virtual (nao, nmo - n_s)) for each spin] spanning D_s.

    density (2, nao, nao) idempotent spin densities (D S D = D); mo_coeff (2, nao, nmo)
    reference orbitals (occupied first), projected onto D's occupied space and its
    complement: at D = C0 n C0^T they are C0 itself.
    """
    out = []
    for s, n in enumerate(nocc):
        ds = density[s] @ overlap
        occ = ds @ mo_coeff[s][:, :n]
        vir = mo_coeff[s][:, n:] - ds @ mo_coeff[s][:, n:]
        out.append((_orthonormalize(occ, overlap), _orthonormalize(vir, overlap)))
    return out


def freeze_core(occupied, fock, ncore):
    """Active occupied orbitals (nao, n - ncore) after decoupling the core.

    One Jacobi step x_ac = f_ac / (f_cc - f_aa) rotates the lowest ``ncore`` orbitals so
    that f_core,active = 0 to first order (exact value and derivative where it is
    already ~0, i.e. at the SCF solution); U = 1 + K + K^2/2 is orthogonal to that order.
    """
    f = occupied.T @ fock @ occupied
    e = jnp.diag(f)
    x = f[ncore:, :ncore] / (e[None, :ncore] - e[ncore:, None])
    n = f.shape[0]
    k = jnp.zeros((n, n)).at[ncore:, :ncore].set(x).at[:ncore, ncore:].set(-x.T)
    rotated = occupied @ (jnp.eye(n) + k + 0.5 * k @ k)
    return rotated[:, ncore:]


def _parameters(method, occupied, virtual, fock_ao, eri, spin_adapted):
    """(params, problems, triples, first-order doubles): the Fock and integral blocks and
    the equations of one formulation. occupied, virtual: orbitals per spin."""
    if spin_adapted:  # both spins share the orbitals: spin 0 carries them
        names = ("ovov",) if method == "mp2" else closed_shell.BLOCKS
        params = {"f": closed_shell.fock_blocks(fock_ao[0], occupied[0], virtual[0]),
                  "v": closed_shell.integral_blocks(eri, occupied[0], virtual[0], names)}
        doubles = params["v"]["ovov"].transpose(0, 2, 1, 3)   # (ia|jb) as [i, j, a, b]
        return (params, (CLOSED_MP2_PROBLEM, CLOSED_CCSD_PROBLEM), closed_shell.triples_energy,
                doubles)
    occ, vir = spin_stack(*occupied), spin_stack(*virtual)
    names = ("oovv",) if method == "mp2" else ALL_BLOCKS
    params = {"f": fock_blocks(fock_ao, occ, vir), "v": integral_blocks(eri, occ, vir, names)}
    return params, (MP2_PROBLEM, CCSD_PROBLEM), triples_energy, params["v"]["oovv"]


def correlation_energy(method, orbitals, fock_ao, eri, ncore, config, spin_adapted=False):
    """(E_corr, components, converged, iterations) for the orbitals ``orbitals``.

    orbitals: [(occupied, virtual)] per spin (:func:`orbitals_from_density`); fock_ao
    (2, nao, nao) the reference's Fock matrices; eri (nao,)*4; ncore frozen per spin;
    spin_adapted: closed-shell equations in spatial orbitals (RHF references only, where
    both spins' orbitals are the same), else spin orbitals.
    """
    occupied = [freeze_core(occ, fock_ao[s], ncore) if ncore else occ
                for s, (occ, _) in enumerate(orbitals)]
    params, (mp2, ccsd), triples, doubles = _parameters(
        method, occupied, [vir for _, vir in orbitals], fock_ao, eri, spin_adapted)
    d1, d2 = jax.lax.stop_gradient(equations.denominators(params))
    guess = jax.lax.stop_gradient(doubles) / d2
    if method == "mp2":
        t2, converged, iterations = solve_amplitudes(mp2, config, params, guess)
        energy = mp2.energy(t2, params)
        return energy, {"mp2": energy}, converged, iterations
    t, converged, iterations = solve_amplitudes(ccsd, config, params, (jnp.zeros_like(d1), guess))
    energy = ccsd.energy(t, params)
    if method == "ccsd":
        return energy, {"ccsd": energy}, converged, iterations
    e_t = triples(t[0], t[1], params)
    return energy + e_t, {"ccsd": energy, "(t)": e_t}, converged, iterations


_correlation_energy_jit = jax.jit(correlation_energy, static_argnums=(0, 4, 5, 6))


def _spin_densities(reference):
    d = jnp.asarray(reference.density_matrix)
    return 0.5 * jnp.stack([d, d]) if reference.restricted else d


def _spin_orbitals(reference):
    c = jnp.asarray(reference.mo_coeff)
    return jnp.stack([c, c]) if reference.restricted else c


def _total_energy(h_core, arrays, static):
    """(E_total, (E_scf, components, converged, iterations)) as a function of h_core.

    arrays: the reference's integrals, starting density and nuclear repulsion, passed as
    arguments (not closed over) so that jit does not fold the ERI tensor into constants.
    static: (SolveConfig of the SCF, method, ncore, SolverConfig, spin_adapted), hashable.
    """
    scf_config, method, ncore, config, spin_adapted = static
    model = hf_fock_and_energy(h_core, arrays["eri"], eri_pairs=arrays["eri_pairs"])
    density, _, mo_coeff, _, scf_converged = converged_scf(scf_config, model, arrays["overlap"],
                                                           arrays["guess"])
    fock, e_electronic = model(density)
    orbitals = orbitals_from_density(density, arrays["overlap"], jax.lax.stop_gradient(mo_coeff),
                                     (scf_config.nalpha, scf_config.nbeta))
    e_corr, components, converged, iterations = correlation_energy(
        method, orbitals, fock, arrays["eri"], ncore, config, spin_adapted)
    e_scf = e_electronic + arrays["e_nuc"]
    return e_scf + e_corr, (e_scf, components, converged & scf_converged, iterations)


_total_energy_jit = jax.jit(_total_energy, static_argnums=(2,))
_value_and_grad_jit = jax.jit(jax.value_and_grad(_total_energy, has_aux=True), static_argnums=(2,))


def _energy_inputs(reference, method, ncore, config, scf_conv_tol, scf_conv_tol_grad,
                   spin_adapted):
    ints = reference.integrals
    mol = reference.molecule
    scf_config = SolveConfig(nalpha=mol.nalpha, nbeta=mol.nbeta, restricted=reference.restricted,
                             conv_tol=scf_conv_tol, conv_tol_grad=scf_conv_tol_grad)
    arrays = {"eri": ints.eri, "eri_pairs": ints.eri_pairs, "overlap": ints.overlap,
              "guess": _spin_densities(reference), "e_nuc": jnp.asarray(reference.e_nuc)}
    return arrays, (scf_config, method, ncore, config, spin_adapted)


def energy_function(reference, method, ncore=0, config=SolverConfig(),
                    scf_conv_tol=1e-12, scf_conv_tol_grad=1e-10, spin_adapted=None):
    """h_core (nao, nao) -> (E_total, (E_scf, components, converged, iterations)),
    jitted and differentiable.

    The SCF is re-solved for the given one-electron Hamiltonian (started from the
    reference's density) and differentiated implicitly; so is the amplitude solve.
    ``jax.grad`` of the energy is the relaxed density; a finite field is
    h_core + sum_x F_x r_x. spin_adapted: as :func:`run`.
    """
    arrays, static = _energy_inputs(reference, method, ncore, config, scf_conv_tol,
                                    scf_conv_tol_grad, _spin_adapted(reference, spin_adapted))
    return lambda h_core: _total_energy_jit(h_core, arrays, static)


def memory_estimate(nao, nocc, nvir, relaxed, spin_adapted=False):
    """Estimated peak bytes; nocc, nvir count spatial orbitals when spin_adapted, else
    spin orbitals."""
    estimate = closed_shell.integral_bytes if spin_adapted else integral_bytes
    return estimate(nao, nocc, nvir) * (RELAXED_FACTOR if relaxed else 1.0)


def check_memory(nao, nocc, nvir, relaxed, available=None, spin_adapted=False):
    """Raise MemoryError when the estimated peak exceeds the memory available now."""
    peak = memory_estimate(nao, nocc, nvir, relaxed, spin_adapted)
    available = available_memory() if available is None else available
    if available and peak > available:
        kind = "spatial" if spin_adapted else "spin"
        raise MemoryError(
            f"the correlated calculation ({nocc} occupied and {nvir} virtual {kind} orbitals, "
            f"{nao} basis functions) needs about {format_bytes(peak)} (the vvvv block "
            f"alone is {format_bytes(8 * nvir**4)}), but only {format_bytes(available)} is "
            "available; use a smaller basis, frozen_core=True, or a machine with more memory")


def _spin_adapted(reference, spin_adapted):
    if spin_adapted is None:
        return bool(reference.restricted)
    if spin_adapted and not reference.restricted:
        raise ValueError("spin_adapted=True needs a closed-shell (RHF) reference")
    return bool(spin_adapted)


def run(molecule: Molecule, basis="cc-pvdz", method="ccsd(t)", frozen_core=False,
        relaxed_density=False, conv_tol=1e-10, conv_tol_residual=1e-8, max_cycle=100,
        scf_conv_tol=1e-12, scf_conv_tol_grad=1e-9, unrestricted=None, verbose=False,
        reference: SCFCalculation = None, spin_adapted=None) -> CorrelatedResult:
    """MP2, CCSD or CCSD(T) energy (and relaxed density) of a molecule.

    Parameters
    ----------
    method : "mp2", "ccsd" or "ccsd(t)" (case-insensitive)
    frozen_core : freeze PySCF's chemical core (:mod:`dftjax.correlated.frozen_core`);
        default: all electrons correlated, as PySCF
    relaxed_density : also the relaxed AO density (dE/dh_core) and dipole
    conv_tol : amplitude convergence on the energy change (Ha); conv_tol_residual: on
        the 2-norm of the amplitude step; max_cycle: amplitude iterations
    scf_conv_tol, scf_conv_tol_grad : the HF reference's energy (Ha) and orbital-gradient
        thresholds, tight because correlation energies are first order in the orbitals
        (MP2 of NO/6-31g moves 2e-7 Ha between gradients 1e-7 and 1e-9)
    unrestricted : as :func:`dftjax.scf` (default RHF for singlets, UHF otherwise)
    reference : a finished exact-ERI Hartree-Fock :class:`SCFCalculation` of this
        molecule and basis to reuse (then basis, scf_conv_tol, unrestricted are ignored)
    spin_adapted : closed-shell equations in spatial orbitals (16 times less memory than
        spin orbitals, and much faster); default: for RHF references. False forces the
        spin-orbital equations (the same numbers; kept as a cross-check)

    Non-convergence (SCF, amplitudes or Lambda) gives ``converged=False`` and a
    RuntimeWarning; the numbers of the last iteration are returned.
    """
    method = str(method).lower()
    if method not in METHODS:
        raise ValueError(f"unknown correlated method '{method}': use one of {', '.join(METHODS)}")
    if not isinstance(molecule, Molecule):
        raise TypeError(f"molecule must be a dftjax.Molecule, not {type(molecule).__name__}")
    start = time.perf_counter()
    if reference is None:
        reference = scf(molecule, basis, xc="hf", conv_tol=scf_conv_tol,
                        conv_tol_grad=scf_conv_tol_grad, unrestricted=unrestricted,
                        density_fit=False, verbose=verbose)
    elif reference.xc != "hf" or reference.integrals.eri is None:
        raise ValueError("the reference must be a Hartree-Fock calculation with exact ERIs")
    timings = {"scf": time.perf_counter() - start}
    if reference.n_dropped:
        raise NotImplementedError("correlated methods keep every basis direction; this basis is "
                                  f"nearly linearly dependent ({reference.n_dropped} dropped)")
    if not reference.converged:
        warnings.warn("the Hartree-Fock reference did not converge", RuntimeWarning, stacklevel=2)
    ncore = chemcore(molecule.atomic_numbers) if frozen_core else 0
    if ncore >= molecule.nbeta and ncore:
        raise ValueError(f"frozen core of {ncore} orbitals leaves no correlated beta electrons")
    spin_adapted = _spin_adapted(reference, spin_adapted)
    nao, nmo = reference.nao, reference.mo_coeff.shape[-1]
    nocc = molecule.nalpha + molecule.nbeta - 2 * ncore
    nvir = 2 * nmo - molecule.nalpha - molecule.nbeta
    if spin_adapted:
        nocc, nvir = nocc // 2, nvir // 2
    check_memory(nao, nocc, nvir, relaxed_density, spin_adapted=spin_adapted)
    config = SolverConfig(conv_tol=conv_tol, conv_tol_residual=conv_tol_residual,
                          max_cycle=max_cycle)
    tick = time.perf_counter()
    density = dipole = None
    if relaxed_density:
        arrays, static = _energy_inputs(reference, method, ncore, config, 1e-12, 1e-10,
                                        spin_adapted)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            (energy, (e_scf, components, converged, iterations)), grad = _value_and_grad_jit(
                reference.integrals.h_core, arrays, static)
            jax.effects_barrier()
        for w in caught:
            warnings.warn(w.message, w.category, stacklevel=2)
        converged = bool(converged) and not any(issubclass(w.category, RuntimeWarning)
                                                for w in caught)
        density = np.asarray(0.5 * (grad + grad.T))
        dipole = (molecule.atomic_numbers @ molecule.coordinates
                  - np.einsum("xij,ij->x", np.asarray(reference.integrals.dipole), density))
    else:
        spin_density = _spin_densities(reference)
        fock = hf_fock(spin_density, {"h_core": reference.integrals.h_core,
                                      "eri": reference.integrals.eri})
        coeff = _spin_orbitals(reference)
        orbitals = [(coeff[s][:, :n], coeff[s][:, n:])
                    for s, n in enumerate((molecule.nalpha, molecule.nbeta))]
        e_corr, components, amp_converged, iterations = _correlation_energy_jit(
            method, orbitals, fock, reference.integrals.eri, ncore, config, spin_adapted)
        e_scf = float(reference.energy)
        energy = e_scf + e_corr
        converged = bool(amp_converged)
        converged = converged and bool(reference.converged)
    timings["correlation"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - start
    if not converged:
        warnings.warn(f"{method.upper()} did not converge", RuntimeWarning, stacklevel=2)
    components = {k: float(v) for k, v in components.items()}
    return CorrelatedResult(method, float(energy), float(e_scf), float(energy) - float(e_scf),
                            components, converged, int(iterations), ncore, reference, density,
                            dipole, timings)
