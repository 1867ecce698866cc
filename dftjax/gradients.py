"""Analytic first derivatives of a converged SCF energy: forces, field, functional parameters.

At convergence E is stationary in the orbitals, so no orbital response is needed
(DESIGN.md §9). With D_s the spin densities and W the energy-weighted density
W = sum_s sum_i n_si eps_si C_si C_si^T, the derivative with respect to any parameter
theta of the integrals, the grid or the functional is that of the Lagrangian

    L(theta) = E[D; theta] + E_nuc(theta) - tr(W S(theta))

at fixed D and W. Every term is a JAX function of the coordinates (one-electron
integrals, nuclear repulsion, grid points and Becke weights, AO values on the grid), so
autodiff gives Hellmann-Feynman, Pulay and grid-response terms at once; the ERIs, whose
plain autodiff would keep every chunk alive, go through the memory-lean pullback of
:mod:`dftjax.integrals.eri_derivatives`.

Units: Hartree, Bohr; the gradient is dE/dR (PySCF's sign convention), natom x 3.
A uniform electric field F enters as h -> h + F . <i|r|j> and E_nuc -> E_nuc - F . sum Z R,
so dE/dF = -dipole.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._cache import release_compiled_code
from .grid.ao_values import ao_values
from .grid.molecular import grid_points, grid_spec
from .integrals.eri_derivatives import pair_cotangents
from .integrals.one_electron import one_electron_from_pairs, pair_data
from .molecule import nuclear_repulsion_energy
from .xc.features import xc_energy
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


def _two_electron_cotangents(calc, density):
    """d E / d(ij|kl) for the full-range and (if any) long-range ERIs at fixed D.

    E_2 = 1/2 (D|D) - a/2 sum_s (D_s D_s exchange) is linear in the ERIs, so its
    cotangent is a product of densities (:func:`_eri_cotangent`), with the exchange
    fractions of the functional the SCF used (HF: a = 1).
    """
    functional = calc.functional
    a_full = 1.0 if calc.xc == "hf" else functional.hf_full
    a_long = 0.0 if calc.xc == "hf" else functional.hf_long_range
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


def _make_lagrangian(calc):
    """L(coords, field, xc_params, pair_ct) without the ERI terms, plus the data it needs."""
    mol, basis, functional = calc.molecule, calc.basis, calc.functional
    charges = jnp.asarray(mol.atomic_numbers, jnp.float64)
    pure_hf = calc.xc == "hf"
    spec = None if pure_hf else grid_spec(mol.symbols, calc.grid_level)
    deriv = 0 if pure_hf or functional.family == "lda" else 1

    def lagrangian(coords, field, xc_params, density, weighted, pair_ct, pair_ct_lr, neighbours):
        data = pair_data(basis, coords, charges, coords)
        overlap, kinetic, dipole, nuclear = one_electron_from_pairs(basis, data)
        h_core = kinetic + nuclear + jnp.einsum("x,xij->ij", field, dipole)
        total = density.sum(axis=0)
        energy = (jnp.vdot(h_core, total) - jnp.vdot(weighted, overlap)
                  + nuclear_repulsion_energy(charges, coords) - jnp.dot(field, charges @ coords))
        # Chain rule into the pair data: sum <pairs(coords), dE/dpairs>.
        for (p, centre, e), (dp, dc, de) in zip([d[:3] for d in data], pair_ct):
            energy = energy + jnp.vdot(p, dp) + jnp.vdot(centre, dc) + jnp.vdot(e, de)
        if pair_ct_lr is not None:
            for (p, centre, e), (dp, dc, de) in zip([d[:3] for d in data], pair_ct_lr):
                energy = energy + jnp.vdot(p, dp) + jnp.vdot(centre, dc) + jnp.vdot(e, de)
        if not pure_hf:
            grid = grid_points(spec, coords)
            ao = ao_values(basis, coords, grid.coords, deriv=deriv)
            energy = energy + xc_energy(functional, xc_params, ao, grid.weights, density,
                                        grid.coords, neighbours)
        return energy

    return lagrangian


_grad_cache = {}


def _lagrangian_grad(calc):
    """jit(grad(L)) for this molecule's structure, cached by (basis, functional, grid)."""
    key = (calc.basis, calc.functional if calc.xc != "hf" else "hf", calc.grid_level,
           calc.molecule.symbols, calc.molecule.charge)
    if key not in _grad_cache:
        _grad_cache[key] = jax.jit(jax.grad(_make_lagrangian(calc), argnums=(0, 1, 2)))
    return _grad_cache[key]


def gradient(calc, wrt="coordinates"):
    """First derivatives of the converged total energy (no orbital response needed).

    Parameters
    ----------
    calc : SCFCalculation from :func:`dftjax.scf` (Hartree-Fock or Kohn-Sham, restricted
        or unrestricted, exact ERIs)
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
    if getattr(calc.integrals, "eri", None) is None:
        raise NotImplementedError("analytic gradients need exact ERIs; density-fitted gradients "
                                  "are not implemented yet (run with density_fit=False)")
    if not calc.converged:
        import warnings
        warnings.warn("gradient of an unconverged SCF: the result is not the derivative of "
                      "the energy", RuntimeWarning, stacklevel=2)
    if "xc_params" in names and calc.xc == "hf":
        raise ValueError("Hartree-Fock has no functional parameters")
    release_compiled_code()  # a no-op unless the process nears the memory-mapping cap
    density = spin_densities(calc)
    weighted = energy_weighted_density(calc)
    coords = jnp.asarray(calc.molecule.coordinates)
    field = jnp.zeros(3)
    xc_params = calc.xc_params if calc.xc != "hf" else None
    if "coordinates" in names:
        from .integrals.one_electron import hermite_pairs
        eri_ct, eri_lr_ct = _two_electron_cotangents(calc, density)
        pairs = hermite_pairs(calc.basis, coords)
        pair_ct = pair_cotangents(calc.basis, pairs, eri_ct)
        del eri_ct
        pair_ct_lr = (pair_cotangents(calc.basis, pairs, eri_lr_ct, calc.functional.omega)
                      if eri_lr_ct is not None else None)
    else:
        zeros = lambda: [tuple(jnp.zeros_like(x) for x in d[:3])
                         for d in pair_data(calc.basis, coords)]
        pair_ct = zeros()
        pair_ct_lr = None
    neighbours = None
    if calc.xc != "hf" and "nra" in calc.functional.needs:  # NN-NRA: pairs at this geometry
        grid = grid_points(grid_spec(calc.molecule.symbols, calc.grid_level), coords)
        neighbours = neighbour_list(np.asarray(grid.coords), np.asarray(grid.atom))
    d_coords, d_field, d_params = _lagrangian_grad(calc)(
        coords, field, xc_params, density, weighted, pair_ct, pair_ct_lr, neighbours)
    out = {"coordinates": np.asarray(d_coords), "field": np.asarray(d_field),
           "xc_params": jax.tree_util.tree_map(np.asarray, d_params)}
    return out[wrt] if isinstance(wrt, str) else {name: out[name] for name in names}
