"""The result of an SCF calculation, and properties computed from it.

Shapes follow PySCF: restricted results have mo_energy (nmo,), mo_coeff
(nao, nmo), mo_occ (nmo,) in {0, 2} and density_matrix (nao, nao), the total
density; unrestricted ones stack [alpha, beta]: (2, nmo), (2, nao, nmo), (2, nmo)
and (2, nao, nao). nmo < nao when near linear dependencies were dropped.
Energies in Hartree, dipoles in atomic units (e Bohr).
"""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.tracing import traced


@dataclasses.dataclass(frozen=True)
class SCFResult:
    energy: jnp.ndarray              # total energy, electronic + nuclear repulsion (Ha)
    electronic_energy: jnp.ndarray   # (Ha)
    nuclear_repulsion: jnp.ndarray   # (Ha)
    mo_energy: jnp.ndarray
    mo_coeff: jnp.ndarray
    mo_occ: jnp.ndarray
    density_matrix: jnp.ndarray
    gradient_norm: jnp.ndarray       # PySCF's |g|, the occupied-virtual Fock block norm
    s2: jnp.ndarray                  # <S^2> of the determinant (0 for restricted)
    multiplicity: jnp.ndarray        # 2S+1 with S(S+1) = <S^2>, as PySCF's spin_square
    converged: bool
    iterations: int                  # SCF cycles, summed over retries
    restricted: bool
    n_dropped: int                   # basis directions removed as linearly dependent
    # (damping, level shift in Ha) of the SCF attempt that converged: the requested ones or
    # a rung of the driver's RETRY_LADDER; "second-order" when the ladder's last rung
    # (trust-region Newton, dftjax.scf.second_order) did; None when no attempt converged
    converged_settings: tuple = None
    attempts: int = 1                # SCF attempts run (1 + rungs of the ladder tried)
    # E_xc of the final density (Ha), the XC part of electronic_energy, from the SCF's last
    # step; None when the model does not report it (Hartree-Fock, density fitting)
    xc_energy: jnp.ndarray = None

    @property
    def density_total(self):
        """Total density matrix (nao, nao)."""
        return self.density_matrix if self.restricted else self.density_matrix.sum(axis=0)

    def dipole_moment(self, dipole_ints, charges, coords):
        """Dipole moment (3,) in a.u. about the origin; see ``dipole_moment``."""
        return dipole_moment(dipole_ints, self.density_total, charges, coords)


jax.tree_util.register_dataclass(
    SCFResult,
    data_fields=["energy", "electronic_energy", "nuclear_repulsion", "mo_energy", "mo_coeff",
                 "mo_occ", "density_matrix", "gradient_norm", "s2", "multiplicity", "xc_energy"],
    meta_fields=["converged", "iterations", "restricted", "n_dropped", "converged_settings",
                 "attempts"],
)


def dipole_moment(dipole_ints, density_total, charges, coords):
    """mu = sum_A Z_A R_A - tr(D r), (3,) in e Bohr, about the origin (0, 0, 0).

    dipole_ints (3, nao, nao) = <i|r|j> with origin (0, 0, 0); density_total
    (nao, nao); charges (natm,); coords (natm, 3) in Bohr. The electrons count
    negative, as in PySCF's dip_moment (which reports Debye by default). Traced
    arguments (derivatives) take one compiled program; concrete ones are summed in NumPy,
    which compiles nothing for a new basis size.
    """
    args = (dipole_ints, density_total, charges, coords)
    if traced(args):
        return _dipole_program(*args)
    return _dipole(np, *(np.asarray(x) for x in args))


def _dipole(xp, dipole_ints, density_total, charges, coords):
    electronic = xp.einsum("xij,ji->x", dipole_ints, density_total)
    nuclear = xp.einsum("a,ax->x", xp.asarray(charges, dtype=xp.float64), coords)
    return nuclear - electronic


_dipole_program = jax.jit(partial(_dipole, jnp))


@jax.jit
def spin_square(density, overlap):
    """<S^2> and 2S+1 of a single determinant with spin densities (2, nao, nao).

    <S^2> = (N_a - N_b)^2 / 4 + (N_a + N_b) / 2 - tr(D_a S D_b S) (Szabo & Ostlund,
    eq. 2.271), and 2S+1 from S(S+1) = <S^2>, as PySCF's uhf.spin_square.
    """
    n_alpha = jnp.vdot(density[0], overlap)
    n_beta = jnp.vdot(density[1], overlap)
    overlap_ab = jnp.trace(density[0] @ overlap @ density[1] @ overlap)
    s2 = 0.25 * (n_alpha - n_beta) ** 2 + 0.5 * (n_alpha + n_beta) - overlap_ab
    return s2, 2.0 * jnp.sqrt(s2 + 0.25)
