"""(T) in non-canonical orbitals (dftjax/correlated/triples.py).

The energy of the relaxed density depends on (T)'s first-order non-canonical form: rotating
the occupied orbitals among themselves by an angle theta must change E(T) only at
second order. Without the off-diagonal Fock term the change would be first order.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.linalg import expm

import dftjax
from dftjax.correlated.driver import CCSD_PROBLEM
from dftjax.correlated.solver import SolverConfig, solve_amplitudes
from dftjax.correlated import equations
from dftjax.correlated.spin_orbitals import fock_blocks, integral_blocks, spin_stack
from dftjax.correlated.triples import triples_energy
from dftjax.scf.energy import hf_fock


def rotate(params, t, u):
    """Occupied indices of every tensor transformed by u (o, o): x'_i = sum_j x_j u_ji."""
    f, v = params["f"], params["v"]
    rot = {"oo": u.T @ f["oo"] @ u, "ov": u.T @ f["ov"], "vv": f["vv"]}
    spec = {"oooo": "ai,bj,ck,dl,abcd->ijkl", "ooov": "ai,bj,ck,abcx->ijkx",
            "oovv": "ai,bj,abxy->ijxy", "ovov": "ai,ck,axcy->ixky", "ovvv": "ai,axyz->ixyz"}
    new_v = {name: jnp.einsum(expr, *[u] * (len(expr.split(",")) - 1), v[name])
             for name, expr in spec.items()}
    new_v["vvvv"] = v["vvvv"]
    t1, t2 = t
    return {"f": rot, "v": new_v}, (u.T @ t1, jnp.einsum("ai,bj,abxy->ijxy", u, u, t2))


@pytest.mark.slow
def test_occupied_rotation_changes_triples_at_second_order():
    mol = dftjax.Molecule(["O", "H", "H"], [[0, 0, 0.1173], [0, 0.7572, -0.4692],
                                           [0, -0.7572, -0.4692]])
    hf = dftjax.scf(mol, "6-31g", conv_tol=1e-12, conv_tol_grad=1e-9)
    c = jnp.asarray(hf.mo_coeff)
    nocc = mol.nalpha
    occ, vir = spin_stack(c[:, :nocc], c[:, :nocc]), spin_stack(c[:, nocc:], c[:, nocc:])
    d = jnp.asarray(hf.density_matrix)
    fock = hf_fock(0.5 * jnp.stack([d, d]), {"h_core": hf.integrals.h_core,
                                             "eri": hf.integrals.eri})
    params = {"f": fock_blocks(fock, occ, vir), "v": integral_blocks(hf.integrals.eri, occ, vir)}
    d1, d2 = equations.denominators(params)
    t, converged, _ = solve_amplitudes(CCSD_PROBLEM, SolverConfig(conv_tol=1e-12,
                                                                  conv_tol_residual=1e-10),
                                       params, (jnp.zeros_like(d1), params["v"]["oovv"] / d2))
    assert converged
    e0 = float(triples_energy(t[0], t[1], params))
    generator = np.random.default_rng(0).normal(size=(2 * nocc, 2 * nocc))
    generator[:nocc, nocc:] = generator[nocc:, :nocc] = 0.0  # keep spins apart
    generator = jnp.asarray(generator - generator.T)
    changes = []
    for theta in (1e-3, 2e-3):
        rotated, t_rot = rotate(params, t, expm(theta * generator))
        changes.append(float(triples_energy(t_rot[0], t_rot[1], rotated)) - e0)
    # Quadratic: doubling theta quadruples the change (a first-order change would double).
    assert abs(changes[1] / changes[0] - 4.0) < 0.1, changes
    assert abs(changes[0]) < 1e-7 * abs(e0) / 1e-3
