"""Analytic first derivatives of a converged SCF energy: forces, field, functional parameters.

At convergence E is stationary in the orbitals, so no orbital response is needed
(docs/design.md §9). With D_s the spin densities and W the energy-weighted density
W = sum_s sum_i n_si eps_si C_si C_si^T, the derivative with respect to any parameter
theta of the integrals, the grid or the functional is that of the Lagrangian

    L(theta) = E[D; theta] + E_nuc(theta) - tr(W S(theta))

at fixed D and W. Every term is a JAX function of the coordinates (one-electron
integrals, nuclear repulsion, grid points and Becke weights, AO values on the grid), so
autodiff gives Hellmann-Feynman, Pulay and grid-response terms. The terms are pulled
back separately, each by programs that a new molecule mostly finds compiled already:

* the two-electron energy onto the Hermite pair data (p, P, E) of each pair class: the
  memory-lean pullback of :mod:`dftjax.integrals.eri_derivatives` (exact ERIs) or a
  vector-Jacobian product of the fitted integrals (below);
* the one-electron matrices onto the pair classes' blocks (the assembly's transpose),
  and blocks and pair data together onto the coordinates, one stored program per pair
  class (:func:`~dftjax.integrals.one_electron.pair_data_pullback`); E_nuc in NumPy;
* the XC energy: the SCF's own, :func:`dftjax.xc.blocked.xc_energy_blocked` on the SCF's
  screened blocks, with the AO values evaluated from the traced atom positions and grid
  points (:meth:`~dftjax.xc.blocked.XCGrid.at_geometry`), differentiated as one program
  per molecule (:func:`_xc_gradient`).

As one program, NH3/def2-SVP PBE's forces compiled for 52 s cold (25 s of it the one
jitted Lagrangian, 13 s the ERI chunks' pullbacks); split so, with the XC term compiled
in a thread beside the others, 17 s.

With density fitting the two-electron energy is a function of the three-centre integrals
T = (ij|P) and the metric M = (P|Q) through (ij|kl) ~ T M^-1 T^T. At fixed D its partial
derivatives are closed forms (:func:`_df_cotangents`), so the coordinate derivative is one
vector-Jacobian product of T(R) and M(R), the auxiliary functions moving with their atoms
(PySCF's ``auxbasis_response``); no Jacobian larger than T is ever formed.

Units: Hartree, Bohr; the gradient is dE/dR (PySCF's sign convention), natom x 3.
A uniform electric field F enters as h -> h + F . <i|r|j> and E_nuc -> E_nuc - F . sum Z R,
so dE/dF = -dipole.
"""

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._cache import on_release, release_compiled_code
from .grid.molecular import grid_points, grid_spec
from .basis.auxiliary import build_auxbasis, resolve_auxbasis
from .integrals.density_fitting import (choose_decomposition, coulomb_metric,
                                        inverse_cholesky_whitener, three_center_tensor)
from .integrals.eri_derivatives import pair_cotangents
from .integrals.one_electron import (assembly_cotangents, hermite_pairs, one_electron_matrices,
                                     pair_data_pullback)
from .xc.blocked import xc_energy_blocked
from .threads import with_callers_settings
from .xc.nra import neighbour_list

_WRT = ("coordinates", "field", "xc_params")


def spin_densities(calc):
    """Spin density matrices (2, nao, nao) of a finished SCF."""
    d = jnp.asarray(calc.density_matrix)
    return 0.5 * jnp.stack([d, d]) if calc.restricted else d


def energy_weighted_density(calc):
    """W = sum_i n_i eps_i C_i C_i^T summed over spins, (nao, nao) in Ha."""
    c, e, n = (np.asarray(x) for x in (calc.mo_coeff, calc.mo_energy, calc.mo_occ))
    if calc.restricted:
        c, e, n = c[None], e[None], n[None]
    return jnp.asarray(np.einsum("sim,sm,sjm->ij", c, n * e, c))


def _exchange_fractions(calc):
    """(a, b): full-range and long-range exact-exchange fractions of the SCF's model."""
    if calc.xc == "hf":
        return 1.0, 0.0
    return calc.functional.hf_full, calc.functional.hf_long_range


def _two_electron_cotangents(calc, density):
    """d E / d(ij|kl) for the full-range and (if any) long-range ERIs at fixed D.

    E_2 = 1/2 (D|D) - a/2 sum_s (D_s D_s exchange) is linear in the ERIs, so its
    cotangent is a product of densities (:func:`_eri_cotangent`), with the exchange
    fractions of the functional the SCF used (HF: a = 1).
    """
    a_full, a_long = _exchange_fractions(calc)
    return _eri_cotangent(density, a_full), (_eri_cotangent(density, a_long, exchange_only=True)
                                             if a_long != 0.0 else None)


@partial(jax.jit, static_argnames=("exchange_only",))
def _eri_cotangent(density, exchange_fraction, exchange_only=False):
    """dE/d(ij|kl) of E = 1/2 sum (ij|kl) Dt_ij Dt_kl - a/2 sum_s (ij|kl) D_s,ik D_s,jl."""
    total = density.sum(axis=0)
    exchange = jnp.einsum("sik,sjl->ijkl", density, density)
    out = -0.5 * exchange_fraction * exchange
    if not exchange_only:
        out = out + 0.5 * jnp.einsum("ij,kl->ijkl", total, total)
    return out


def _exact_cotangents(calc, density, coords):
    """Per pair class, dE/d(pair data) of the exact-ERI energy (full range, long range)."""
    eri_ct, eri_lr_ct = _two_electron_cotangents(calc, density)
    pairs = hermite_pairs(calc.basis, coords)
    pair_ct = pair_cotangents(calc.basis, pairs, eri_ct)
    del eri_ct
    pair_ct_lr = (pair_cotangents(calc.basis, pairs, eri_lr_ct, calc.functional.omega)
                  if eri_lr_ct is not None else None)
    return pair_ct, pair_ct_lr


def auxiliary_basis(calc):
    """The auxiliary :class:`~dftjax.basis.BasisSet` a density-fitted SCF used, rebuilt
    from its name (``calc.auxbasis``: one set's name, or "X:name, Y:name" per element)."""
    name = calc.auxbasis
    if ":" in name:
        name = dict(item.split(":", 1) for item in name.split(", "))
    choice = resolve_auxbasis(calc.molecule, calc.basis.name, name, calc.functional)
    return build_auxbasis(calc.molecule, choice, cartesian=calc.basis.cartesian)


def occupied_factors(calc):
    """V (2, nao, k) with the SCF's spin densities D_s = V_s V_s^T (k occupied columns)."""
    c, n = np.asarray(calc.mo_coeff), np.asarray(calc.mo_occ)
    if calc.restricted:
        c, n = np.stack([c, c]), np.stack([n, n]) / 2.0
    k = int(np.max(np.count_nonzero(n > 0.0, axis=1)))
    order = np.argsort(-n, axis=1, kind="stable")[:, :k]  # occupied columns first
    cols = np.take_along_axis(c, order[:, None, :], axis=2)
    return jnp.asarray(cols * np.sqrt(np.take_along_axis(n, order, axis=1))[:, None, :])


@jax.jit
def _df_cotangents(factor, whitener, density, vectors, exchange_fraction):
    """dE/dT (nao, nao, naux) and dE/dM (naux, naux) of the density-fitted two-electron
    energy at fixed spin densities (2, nao, nao) = V V^T, V ``vectors`` (2, nao, k).

    With C = T M^-1 = B W^T (B the fitted tensor, W W^T = M^-1), g = C . D_total:
      E_J = 1/2 g^T M g:           dE_J/dT_ijP = D_ij g_P,   dE_J/dM = -1/2 g g^T;
      E_K = -a/2 sum_s sum_PQ M^-1_PQ tr(T_P D_s T_Q D_s), with Y_s,P = V_s^T C_P V_s:
      dE_K/dT_P = -a sum_s V_s Y_s,P V_s^T,   dE_K/dM_PQ = a/2 sum_s tr(Y_s,P Y_s,Q).
    Memory: two tensors the size of B; the orbital side has k columns only.
    """
    gamma = jnp.einsum("ijr,ij->r", factor, density.sum(axis=0))
    g = whitener @ gamma
    t_ct = jnp.einsum("ij,p->ijp", density.sum(axis=0), g)
    m_ct = -0.5 * jnp.outer(g, g)
    for s in range(2):
        v = vectors[s]
        x = jnp.einsum("io,ijr,jq->oqr", v, factor, v)   # V^T B_R V
        y = x @ whitener.T                                # V^T C_P V
        t_ct = t_ct - exchange_fraction * jnp.einsum("io,oqp,jq->ijp", v, y, v)
        flat = y.reshape(-1, y.shape[-1])
        m_ct = m_ct + 0.5 * exchange_fraction * flat.T @ flat
    return t_ct, m_ct


def _fitted_cotangents(calc, aux, coords):
    """(dE/dT, dE/dM) of the density-fitted energy; rejects a singular metric."""
    a_full, _ = _exchange_fractions(calc)
    metric = coulomb_metric(calc.basis, aux, coords)
    if choose_decomposition(metric) != "cholesky":
        raise ValueError(f"the Coulomb metric of auxiliary basis {calc.auxbasis} is singular "
                         "here; density-fitted gradients need a positive definite metric")
    return _df_cotangents(calc.integrals.df, inverse_cholesky_whitener(metric),
                          spin_densities(calc), occupied_factors(calc), a_full)


def _scf_xc_grid(calc):
    """The SCF's :class:`~dftjax.xc.blocked.XCGrid` (blocks, AO plan), its kept AO values
    dropped: the Lagrangian evaluates them at the traced geometry. For NN-NRA the SCF kept
    only the descriptor's precomputed kernel, fixed to its points; the gradient needs R
    differentiable in the points, so the neighbour list of the SCF's grid is built here."""
    xcg = dataclasses.replace(calc.model.params["xc_grid"], ao=None, nra_kernel=None)
    if "nra" in calc.functional.needs and xcg.neighbours is None:
        xcg = dataclasses.replace(xcg, neighbours=jax.device_put(
            neighbour_list(np.asarray(calc.grid.coords), np.asarray(calc.grid.atom))))
    return xcg


def _one_electron_gradient(calc, density, weighted, pair_ct):
    """dL/dR (natom, 3), NumPy, of the one-electron terms tr(h D) - tr(W S), the nuclear
    repulsion, and the ERI energy through the pair data (``pair_ct``: per pair class the
    cotangents (dp, dP, dE) of :func:`~dftjax.integrals.one_electron.hermite_pairs`).

    The one-electron integrals are linear in the pair classes' blocks, so the matrices'
    cotangents (-W for S; D for T and V) go back onto the blocks by the assembly's
    transpose, and each class's blocks and pair data onto the coordinates by its own
    stored program (:func:`~dftjax.integrals.one_electron.pair_data_pullback`): the
    nuclei are both the basis centres and the point charges of V.
    """
    coords = np.asarray(calc.molecule.coordinates, dtype=np.float64)
    charges = np.asarray(calc.molecule.atomic_numbers, dtype=np.float64)
    total = np.asarray(density).sum(axis=0)
    zero = np.zeros_like(total)
    # (overlap, kinetic, dipole x, y, z, nuclear) as pair_data's blocks; no field.
    blocks_ct = assembly_cotangents(calc.basis, np.stack([-np.asarray(weighted), total,
                                                          zero, zero, zero, total]))
    cotangents = [None if block is None else (*pairs, block)
                  for pairs, block in zip(pair_ct, blocks_ct)]
    d_centres, d_charges = pair_data_pullback(calc.basis, coords, charges, coords, cotangents)
    return d_centres + d_charges + nuclear_repulsion_gradient(charges, coords)


def nuclear_repulsion_gradient(charges, coords):
    """dE_nuc/dR (natom, 3) in Ha/Bohr of point nuclei ``charges`` (natom,) at ``coords``
    (natom, 3), Bohr: -sum_b Z_a Z_b (R_a - R_b) / |R_a - R_b|^3."""
    diff = coords[:, None, :] - coords[None, :, :]
    distance = np.linalg.norm(diff, axis=-1)
    np.fill_diagonal(distance, np.inf)
    return -np.einsum("ab,abx->ax", np.outer(charges, charges) / distance ** 3, diff)


def _sum_pair_cotangents(*terms):
    """Per pair class, the sum of the (dp, dP, dE) cotangents of ``terms`` (None skipped)."""
    terms = [t for t in terms if t is not None]
    return [tuple(sum(np.asarray(part[i]) for part in parts) for i in range(3))
            for parts in zip(*terms)]


_programs = {}
on_release(_programs.clear)  # dropped with the rest when the process nears its mapping cap


def _program(key, make):
    """The jitted program under ``key``, made by ``make()`` the first time."""
    if key not in _programs:
        _programs[key] = make()
    return _programs[key]


def _fitted_pullback(calc, aux, coords, t_ct, m_ct):
    """(per pair class (dp, dP, dE), dR (natom, 3)) of <T, dE/dT> + <M, dE/dM>: the
    density-fitted ERI energy's cotangents (:func:`_df_cotangents`) pulled back through
    the three-centre integrals T(pairs, R) and the metric M(R), whose auxiliary
    functions move with their atoms (PySCF's ``auxbasis_response``)."""
    basis = calc.basis

    def make():
        def energy(pairs, coords, t_ct, m_ct):
            return (jnp.vdot(three_center_tensor(basis, aux, pairs, coords), t_ct)
                    + jnp.vdot(coulomb_metric(basis, aux, coords), m_ct))
        return jax.jit(jax.grad(energy, argnums=(0, 1)))

    pairs = [tuple(jnp.asarray(x) for x in p) for p in hermite_pairs(basis, coords)]
    d_pairs, d_coords = _program(("df", basis, aux), make)(pairs, coords, t_ct, m_ct)
    return d_pairs, np.asarray(d_coords)


def _xc_gradient(calc, density):
    """(dE_xc/dR (natom, 3), dE_xc/dparams) at fixed density, grid response included: the
    SCF's own XC energy on its screened blocks, the AO values, points and Becke weights
    evaluated at the traced geometry. One program per molecule, basis, functional and
    grid level (the one-electron and ERI terms are programs of their own, shared across
    molecules)."""
    mol, functional = calc.molecule, calc.functional

    def make():
        spec = grid_spec(mol.symbols, calc.grid_level)

        def energy(coords, xc_params, density, xcg):
            moved = xcg.at_geometry(coords, grid_points(spec, coords))
            return xc_energy_blocked(functional, xc_params, moved, density)
        return jax.jit(jax.grad(energy, argnums=(0, 1)))

    key = ("xc", calc.basis, functional, calc.grid_level, mol.symbols)
    d_coords, d_params = _program(key, make)(jnp.asarray(mol.coordinates), calc.xc_params,
                                             density, _scf_xc_grid(calc))
    return np.asarray(d_coords), d_params


def gradient(calc, wrt="coordinates"):
    """First derivatives of the converged total energy (no orbital response needed).

    Parameters
    ----------
    calc : SCFCalculation from :func:`dftjax.scf` (Hartree-Fock or Kohn-Sham, restricted
        or unrestricted, exact or density-fitted ERIs; density-fitted range-separated
        hybrids raise ValueError)
    wrt : "coordinates" (default), "field", "xc_params", or a tuple of these

    Returns
    -------
    coordinates: dE/dR, numpy (natom, 3) in Ha/Bohr (grid response included for DFT);
    field: dE/dF (3,) in a.u. (= -dipole); xc_params: a pytree like the functional's
    parameters. A tuple ``wrt`` gives a dict keyed by name.
    """
    names = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    for name in names:
        if name not in _WRT:
            raise ValueError(f"unknown gradient '{name}': choose from {', '.join(_WRT)}")
    if not calc.converged:
        import warnings
        warnings.warn("gradient of an unconverged SCF: the result is not the derivative of "
                      "the energy", RuntimeWarning, stacklevel=2)
    if "xc_params" in names and calc.xc == "hf":
        raise ValueError("Hartree-Fock has no functional parameters")
    if ("coordinates" in names and calc.eri_method == "density-fit"
            and _exchange_fractions(calc)[1] != 0.0):
        raise ValueError(f"density-fitted gradients of range-separated functionals "
                         f"({calc.xc}) are not implemented; use density_fit=False")
    release_compiled_code()  # a no-op unless the process nears the memory-mapping cap
    density = spin_densities(calc)
    coords = jnp.asarray(calc.molecule.coordinates)
    out = {}
    if calc.xc != "hf" and ("coordinates" in names or "xc_params" in names):
        # The XC term compiles (once per molecule) in a thread beside the other terms.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dftjax-xc") as pool:
            xc = pool.submit(with_callers_settings(_xc_gradient), calc, density)
            out.update(_non_xc_terms(calc, names, density, coords))
            d_xc, params = xc.result()
        out["xc_params"] = jax.tree_util.tree_map(np.asarray, params)
        if "coordinates" in names:
            out["coordinates"] = out["coordinates"] + d_xc
    else:
        out.update(_non_xc_terms(calc, names, density, coords))
    return out[wrt] if isinstance(wrt, str) else {name: out[name] for name in names}


def _non_xc_terms(calc, names, density, coords):
    """{"coordinates": dL/dR without E_xc, "field": dL/dF} for those in ``names``."""
    out = {}
    if "coordinates" in names:
        if calc.eri_method == "density-fit":
            aux = auxiliary_basis(calc)
            pair_ct, d_coords = _fitted_pullback(calc, aux, coords,
                                                 *_fitted_cotangents(calc, aux, coords))
        else:
            pair_ct, d_coords = _sum_pair_cotangents(*_exact_cotangents(calc, density, coords)), 0.0
        out["coordinates"] = d_coords + _one_electron_gradient(
            calc, density, energy_weighted_density(calc), pair_ct)
    if "field" in names:
        # dE/dF = tr(<r> D) - sum_A Z_A R_A: only h and E_nuc depend on the field.
        dipole = one_electron_matrices(calc.basis, np.asarray(coords))[2]
        out["field"] = (np.einsum("xij,ij->x", dipole, np.asarray(density).sum(axis=0))
                        - np.asarray(calc.molecule.atomic_numbers, float) @ np.asarray(coords))
    return out
