"""The frozen-core table against PySCF's chemcore_atm (PySCF 2.14, copied values)."""

import pytest

from dftjax.correlated import chemcore

# pyscf.data.elements.chemcore_atm at these atomic numbers.
PYSCF = {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 8: 1, 10: 1, 11: 1, 12: 1, 13: 5, 18: 5, 19: 5, 20: 5,
         21: 5, 30: 5, 31: 9, 36: 9}


@pytest.mark.parametrize("z,count", sorted(PYSCF.items()))
def test_single_atoms(z, count):
    assert chemcore([z]) == count


def test_molecule_sums_its_atoms():
    assert chemcore([8, 1, 1]) == 1
    assert chemcore([7, 8]) == 2
    assert chemcore([17, 6, 1, 1, 1]) == 6


def test_beyond_krypton_is_refused():
    with pytest.raises(ValueError, match="H-Kr"):
        chemcore([37])
