"""Host-side integral plans: shell pairs and quartets grouped by angular-momentum class.

A plan depends only on the basis structure (which shells, which atoms), never on the
geometry, so it is built once per basis and a new geometry reuses it (and the compiled
kernels). Everything here is NumPy.

Shell pairs (a, b) are stored in canonical orientation l_a >= l_b (ties: larger shell
index first) and grouped by class (l_a, l_b). Their primitive pairs are listed
contiguously, pair after pair. Quartets (ab|cd) of unique shell pairs are grouped by
(class_ab, class_cd) with class_ab >= class_cd; items are primitive quartets, sorted by
quartet.
"""

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np


@dataclass(frozen=True, eq=False)
class PairClass:
    """All shell pairs of one angular-momentum class (la, lb), la >= lb.

    shell_a, shell_b : (npair,) shell indices; pair_start : (npair + 1,) offsets into the
    primitive-pair arrays; prim_* : (nprim_pair,) exponent of a, exponent of b,
    coefficient product, atom of a, atom of b, and the pair each primitive pair belongs to.
    """

    la: int
    lb: int
    shell_a: np.ndarray
    shell_b: np.ndarray
    pair_start: np.ndarray
    prim_alpha: np.ndarray
    prim_beta: np.ndarray
    prim_coef: np.ndarray
    prim_atom_a: np.ndarray
    prim_atom_b: np.ndarray
    prim_pair: np.ndarray

    @property
    def npair(self) -> int:
        return len(self.shell_a)

    @property
    def nprim_pair(self) -> int:
        return len(self.prim_alpha)


@dataclass(frozen=True, eq=False)
class QuartetClass:
    """All unique shell quartets (ab|cd) with ab in pair class ``bra`` and cd in ``ket``.

    pair_ab, pair_cd : (nquartet,) pair indices within their classes.
    start_ab, count_ab, start_cd, count_cd : (nquartet,) each quartet's primitive pairs,
    ranges in their classes' primitive-pair arrays.
    item_ab, item_cd : (nitem,) primitive-pair indices within their classes;
    item_quartet : (nitem,) the quartet of each item (sorted). The items (every primitive
    quartet: 22 million for benzene/6-31G*) are built when first asked for; concrete
    integrals never ask, as screening builds the surviving ones directly
    (:func:`dftjax.integrals.two_electron.screened_chunks`).
    """

    bra: int
    ket: int
    pair_ab: np.ndarray
    pair_cd: np.ndarray
    start_ab: np.ndarray
    count_ab: np.ndarray
    start_cd: np.ndarray
    count_cd: np.ndarray

    @property
    def nitem(self) -> int:
        """Number of primitive quartets (items) of the class."""
        return int(np.dot(self.count_ab, self.count_cd))

    @cached_property
    def _items(self):
        return _expand_items(self.start_ab, self.count_ab, self.start_cd, self.count_cd)

    @property
    def item_ab(self) -> np.ndarray:
        return self._items[0]

    @property
    def item_cd(self) -> np.ndarray:
        return self._items[1]

    @property
    def item_quartet(self) -> np.ndarray:
        return self._items[2]


def chunk_size_for(work_per_row: int, budget: int = 1 << 22, smallest: int = 64,
                   largest: int = 1 << 16) -> int:
    """A power-of-two chunk size so that one chunk does about ``budget`` units of work."""
    size = max(smallest, min(largest, budget // max(1, work_per_row)))
    return 1 << int(np.floor(np.log2(size)))


def bucket(n: int, smallest: int = 64) -> int:
    """The padded size for ``n`` items: the next power of two, at least ``smallest``."""
    return max(smallest, 1 << int(np.ceil(np.log2(max(n, 1)))))


@dataclass(frozen=True, eq=False)
class PaddedPairClass:
    """A pair class's primitive-pair arrays padded to a bucketed length (kernel inputs).

    Padding has coefficient 0, exponents 1, atom 0 and shell pair ``npair_bucket``
    (dropped by the kernel's segment sum).
    """

    npair_bucket: int
    alpha: np.ndarray
    beta: np.ndarray
    coef: np.ndarray
    atom_a: np.ndarray
    atom_b: np.ndarray
    prim_pair: np.ndarray


def _pair_class(basis, la: int, lb: int) -> PairClass:
    shells_a = np.nonzero(basis.shell_l == la)[0]
    shells_b = np.nonzero(basis.shell_l == lb)[0]
    a, b = np.meshgrid(shells_a, shells_b, indexing="ij")
    a, b = a.ravel(), b.ravel()
    if la == lb:
        keep = a >= b
        a, b = a[keep], b[keep]
    nprim = basis.shell_nprim[a] * basis.shell_nprim[b]
    start = np.concatenate([[0], np.cumsum(nprim)])
    alpha, beta, coef, pair = [], [], [], []
    for k, (sa, sb) in enumerate(zip(a, b)):
        ea, eb = basis.exponents[sa], basis.exponents[sb]
        ca, cb = basis.coefficients[sa], basis.coefficients[sb]
        alpha.append(np.repeat(ea, len(eb)))
        beta.append(np.tile(eb, len(ea)))
        coef.append(np.outer(ca, cb).ravel())
        pair.append(np.full(len(ea) * len(eb), k))
    cat = lambda xs, dtype: np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)
    pair = cat(pair, np.int64)
    return PairClass(
        la=la,
        lb=lb,
        shell_a=a,
        shell_b=b,
        pair_start=start,
        prim_alpha=cat(alpha, np.float64),
        prim_beta=cat(beta, np.float64),
        prim_coef=cat(coef, np.float64),
        prim_atom_a=basis.shell_atom[a][pair] if len(pair) else pair,
        prim_atom_b=basis.shell_atom[b][pair] if len(pair) else pair,
        prim_pair=pair,
    )


def _expand_items(start_ab, count_ab, start_cd, count_cd):
    """Primitive-quartet items (int32) of quartets given by their primitive-pair ranges:
    per quartet, every primitive pair of ab with every one of cd, cd fastest."""
    rows = expand_ranges(start_ab, count_ab)  # (quartet, primitive of ab) rows
    quartet = np.repeat(np.arange(len(count_ab), dtype=np.int32), count_ab)
    item_cd = expand_ranges(np.repeat(start_cd, count_ab), np.repeat(count_cd, count_ab))
    per_row = np.repeat(count_cd, count_ab)
    return np.repeat(rows, per_row), item_cd, np.repeat(quartet, per_row)


def expand_ranges(start, count):
    """The integers of the ranges [start, start + count), concatenated (int32)."""
    count = np.asarray(count, np.int64)
    total = int(count.sum())
    if total == 0:
        return np.zeros(0, np.int32)
    # a running count with a jump at each range's first element
    steps = np.ones(total, np.int32)
    nonempty = count > 0
    first = (np.cumsum(count) - count)[nonempty]
    begin = np.asarray(start, np.int64)[nonempty]
    end_of_previous = np.concatenate([[0], (begin + count[nonempty] - 1)[:-1]])
    steps[first] = begin - end_of_previous
    steps[0] = begin[0]
    return np.cumsum(steps, dtype=np.int32)


def _quartet_class(pairs: tuple, bra: int, ket: int) -> QuartetClass:
    pa, pc = pairs[bra], pairs[ket]
    ab, cd = np.meshgrid(np.arange(pa.npair), np.arange(pc.npair), indexing="ij")
    ab, cd = ab.ravel(), cd.ravel()
    if bra == ket:
        keep = ab >= cd
        ab, cd = ab[keep], cd[keep]
    return QuartetClass(bra=bra, ket=ket, pair_ab=ab, pair_cd=cd,
                        start_ab=pa.pair_start[ab], count_ab=np.diff(pa.pair_start)[ab],
                        start_cd=pc.pair_start[cd], count_cd=np.diff(pc.pair_start)[cd])


@lru_cache(maxsize=32)
def pair_plan(basis) -> tuple:
    """Pair classes of ``basis``, ordered (0,0), (1,0), (1,1), (2,0), ..."""
    ls = sorted(set(int(l) for l in basis.shell_l))
    return tuple(_pair_class(basis, la, lb) for la in ls for lb in ls if lb <= la)


@lru_cache(maxsize=8)
def quartet_plan(basis) -> tuple:
    """Quartet classes of ``basis`` (class_ab >= class_cd in :func:`pair_plan` order)."""
    pairs = pair_plan(basis)
    return tuple(_quartet_class(pairs, i, j) for i in range(len(pairs)) for j in range(i + 1))


@lru_cache(maxsize=64)
def _padded_pair_classes(basis) -> tuple:
    out = []
    for pc in pair_plan(basis):
        size = bucket(pc.nprim_pair)
        npair_bucket = bucket(pc.npair, smallest=16)

        def pad(array, fill, dtype):
            padded = np.full(size, fill, dtype=dtype)
            padded[: len(array)] = array
            return padded

        out.append(PaddedPairClass(
            npair_bucket=npair_bucket,
            alpha=pad(pc.prim_alpha, 1.0, np.float64),
            beta=pad(pc.prim_beta, 1.0, np.float64),
            coef=pad(pc.prim_coef, 0.0, np.float64),
            atom_a=pad(pc.prim_atom_a, 0, np.int32),
            atom_b=pad(pc.prim_atom_b, 0, np.int32),
            prim_pair=pad(pc.prim_pair, npair_bucket, np.int32),
        ))
    return tuple(out)


def padded_pair_class(basis, index: int) -> PaddedPairClass:
    """Padded kernel inputs of pair class ``index`` of :func:`pair_plan`."""
    return _padded_pair_classes(basis)[index]
