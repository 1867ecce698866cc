"""Second derivatives of the energy with respect to nuclear positions, and harmonic
vibrational frequencies.

:func:`hessian` differentiates the analytic gradient (:func:`dftjax.gradient`) by central
differences: column k of H is (g(R + h e_k) - g(R - h e_k)) / 2h, symmetrised. That
costs 6 N SCF + gradient evaluations (N atoms), all reusing the same compiled code (a
displaced geometry never recompiles); with h = 5e-3 Bohr the O(h^2) error is ~1e-6 of
H, far below 1 cm^-1 in the frequencies. (An analytic Hessian by automatic
differentiation would need forward-mode rules for the SCF fixed point and the ERIs,
which dftjax defines only in reverse mode; ``jax.jacrev`` of the implicit SCF gives
other second derivatives, e.g. polarisabilities, see :mod:`dftjax.differentiable`.)

:func:`harmonic_frequencies` mass-weights H, projects out rigid translations and
rotations (as pyscf.hessian.thermo.harmonic_analysis does) and returns wavenumbers in
cm^-1 (imaginary modes as negative numbers).
"""

import numpy as np

from .elements import ATOMIC_MASSES

# Hartree / (Bohr^2 amu) -> cm^-1: sqrt(Eh / (a0^2 u)) / (2 pi c), with the CODATA 2014
# values PySCF uses (its Bohr radius is dftjax.elements.BOHR_TO_ANGSTROM).
_HARTREE_J = 4.359744650e-18
_BOHR_M = 0.52917721092e-10
_AMU_KG = 1.660539040e-27
_LIGHT_SPEED = 299792458.0
AU_TO_WAVENUMBER = np.sqrt(_HARTREE_J / (_BOHR_M**2 * _AMU_KG)) / (2 * np.pi * _LIGHT_SPEED) / 100


def hessian(molecule, basis="def2-svp", xc="hf", *, step=5e-3, conv_tol=1e-11, **scf_options):
    """Cartesian Hessian d^2E/dR dR (3N, 3N) in Ha/Bohr^2 at ``molecule``'s geometry.

    Central differences of analytic gradients with displacement ``step`` (Bohr); the SCF
    at each displaced geometry is converged to ``conv_tol`` (tight, since the difference
    of two gradients divides by 2 step). ``scf_options`` go to :func:`dftjax.scf`.
    """
    from .api import scf
    from .gradients import gradient

    coordinates = np.asarray(molecule.coordinates, dtype=float)
    columns = []
    for index in range(coordinates.size):
        pair = []
        for sign in (1.0, -1.0):
            shifted = coordinates.ravel().copy()
            shifted[index] += sign * step
            calc = scf(molecule.with_coordinates(shifted.reshape(-1, 3)), basis, xc=xc,
                       conv_tol=conv_tol, **scf_options)
            if not calc.converged:
                raise RuntimeError(f"SCF not converged at displacement {index} ({sign:+g} step)")
            pair.append(np.asarray(gradient(calc)).ravel())
        columns.append((pair[0] - pair[1]) / (2.0 * step))
    h = np.array(columns)
    return 0.5 * (h + h.T)


def harmonic_frequencies(hessian_matrix, molecule, masses=None):
    """Harmonic wavenumbers (cm^-1), ascending, without the rigid-body modes.

    hessian_matrix (3N, 3N) in Ha/Bohr^2; masses (N,) in amu, default the standard
    atomic weights (as PySCF). Translations and rotations (5 for a linear molecule) are
    projected out; imaginary frequencies come back negative.
    """
    coordinates = np.asarray(molecule.coordinates, dtype=float)
    masses = (np.array([ATOMIC_MASSES[z] for z in molecule.atomic_numbers])
              if masses is None else np.asarray(masses, dtype=float))
    natom = len(masses)
    weights = np.repeat(masses**-0.5, 3)
    mass_weighted = np.asarray(hessian_matrix) * weights[:, None] * weights[None, :]
    centred = coordinates - masses @ coordinates / masses.sum()
    rigid = []
    for axis in np.eye(3):
        rigid.append((np.tile(axis, (natom, 1)) * np.sqrt(masses)[:, None]).ravel())
        rigid.append((np.cross(centred, axis) * np.sqrt(masses)[:, None]).ravel())
    u, s, _ = np.linalg.svd(np.array(rigid).T, full_matrices=False)
    rigid_space = u[:, s > 1e-6 * s.max()]
    projector = np.eye(3 * natom) - rigid_space @ rigid_space.T
    eigenvalues = np.linalg.eigvalsh(projector @ mass_weighted @ projector)
    internal = np.sort(eigenvalues[np.argsort(np.abs(eigenvalues))[rigid_space.shape[1]:]])
    return np.sign(internal) * np.sqrt(np.abs(internal)) * AU_TO_WAVENUMBER
