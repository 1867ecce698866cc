"""The chemical frozen core: how many doubly occupied core orbitals each atom brings.

The counts are PySCF's ``pyscf.data.elements.chemcore_atm`` for H-Kr (PySCF 2.14),
copied here: a closed shell is frozen once the valence shell has p electrons, so Li and
Be keep their 1s correlated while B-Mg freeze it, Al-Zn freeze 1s2s2p and Ga-Kr also
3s3p. Core orbitals of each spin are the lowest ``ncore`` orbitals of the reference,
as PySCF's ``frozen=n``.
"""

# Atomic number -> frozen spatial orbitals; index 0 unused.
_CHEMCORE = (0,
             0, 0,                                           # H, He
             0, 0, 1, 1, 1, 1, 1, 1,                         # Li-Ne
             1, 1, 5, 5, 5, 5, 5, 5,                         # Na-Ar
             5, 5,                                           # K, Ca
             5, 5, 5, 5, 5, 5, 5, 5, 5, 5,                   # Sc-Zn
             9, 9, 9, 9, 9, 9)                               # Ga-Kr
MAX_Z = len(_CHEMCORE) - 1


def chemcore(atomic_numbers) -> int:
    """Frozen spatial core orbitals of a molecule (all-electron basis), PySCF's count."""
    total = 0
    for z in atomic_numbers:
        z = int(z)
        if not 1 <= z <= MAX_Z:
            raise ValueError(f"frozen core is tabulated for H-Kr (Z <= {MAX_Z}), not Z = {z}")
        total += _CHEMCORE[z]
    return total
