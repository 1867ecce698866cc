"""Compile ahead of time: ``dftjax warmup --basis B --xc F`` fills the persistent cache.

dftjax compiles one program per angular-momentum class of integrals, with array lengths
padded to buckets (powers of two), and one SCF step per rung of the ladder of basis
sizes (:func:`dftjax.scf.ladder.padded_size`; HF and Kohn-Sham, exact or density-fitted,
with the Kohn-Sham grid's shapes on ladders too); all of them go to
JAX's persistent compilation cache (:mod:`dftjax._cache`). A molecule whose classes and
buckets an earlier run compiled loads them from disk instead of compiling. ``warmup``
runs the SCF (and optionally the gradient) on a few small molecules of increasing size,
built in below, or on geometries given, so that a benchmark, a training run or a user's
first calculation starts warm. Geometry does not enter the compiled code (coordinates
are traced), so any geometry of the same molecule, and molecules of similar size and
composition, reuse it.
"""

import numpy as np

from .api import scf
from .basis import build_basis
from .compile_clock import CompileClock
from .molecule import Molecule

# Angstrom. Closed-shell molecules of increasing size, covering H, C, N, O.
MOLECULES = {
    "water": (("O", "H", "H"), ((0.0, 0.0, 0.1173), (0.0, 0.7572, -0.4692),
                                (0.0, -0.7572, -0.4692))),
    "ammonia": (("N", "H", "H", "H"), ((0.0, 0.0, 0.1162), (0.0, 0.9397, -0.2711),
                                       (0.8138, -0.4699, -0.2711), (-0.8138, -0.4699, -0.2711))),
    "methanol": (("C", "O", "H", "H", "H", "H"),
                 ((-0.0469, 0.6621, 0.0), (-0.0469, -0.7570, 0.0), (-1.0898, 0.9787, 0.0),
                  (0.4366, 1.0816, 0.8899), (0.4366, 1.0816, -0.8899), (0.8523, -1.0864, 0.0))),
    "ethanol": (("C", "C", "O", "H", "H", "H", "H", "H", "H"),
                ((1.1879, -0.3829, 0.0), (0.0, 0.5526, 0.0), (-1.1867, -0.2472, 0.0),
                 (-1.9237, 0.3850, 0.0), (2.1181, 0.1881, 0.0), (1.1484, -1.0200, 0.8829),
                 (1.1484, -1.0200, -0.8829), (0.0405, 1.1962, 0.8829), (0.0405, 1.1962, -0.8829))),
    # D6h, C-C 1.397, C-H 1.084: the integral buckets of molecules of ~100 basis functions
    # (after this set, new molecules of 64-94 functions in 6-31G*, B3LYP, ran in 7.3-9.5 s
    # instead of 12.6-16.3 s on an empty cache; 2 cores)
    "benzene": (("C",) * 6 + ("H",) * 6,
                tuple((r * np.cos(k * np.pi / 3), r * np.sin(k * np.pi / 3), 0.0)
                      for r in (1.397, 2.481) for k in range(6))),
}


def builtin_molecules():
    """The built-in warm-up set, smallest first: {name: Molecule}."""
    return {name: Molecule(symbols, np.array(coords)) for name, (symbols, coords) in MOLECULES.items()}


def warmup(basis, xc="hf", molecules=None, max_nao=None, gradient=False, report=None, **options):
    """Run (and so compile and cache) the SCF for each molecule; returns one row per run.

    molecules: {name: Molecule} (default :func:`builtin_molecules`); max_nao skips those
    with more basis functions; gradient also runs :func:`dftjax.gradient`. ``report(row)``
    is called after each molecule. Rows: name, nao, seconds, compile_seconds,
    compilations, cache_hits. Further options go to :func:`dftjax.scf`.
    """
    from .gradients import gradient as nuclear_gradient

    molecules = builtin_molecules() if molecules is None else molecules
    rows = []
    for name, molecule in molecules.items():
        nao = build_basis(molecule, basis, cartesian=options.get("cartesian", False)).nao
        if max_nao is not None and nao > max_nao:
            continue
        with CompileClock() as clock:
            result = scf(molecule, basis=basis, xc=xc, **options)
            if gradient and result.converged:
                np.asarray(nuclear_gradient(result))
        row = {"name": name, "nao": nao, "seconds": clock.seconds,
               "compile_seconds": clock.compile_seconds, "compilations": clock.compilations,
               "cache_hits": clock.cache_hits}
        rows.append(row)
        if report is not None:
            report(row)
    return rows
