"""Memory estimates for the two electron-repulsion paths, and the choice between them.

dftjax keeps its large arrays in memory: the exact path the four-index tensor (ij|kl)
(nao^4 doubles, and a second one for range-separated functionals), the density-fitted
path the three-index tensor B (nao^2 naux doubles, two for range-separated functionals).
:func:`estimate` states the peak bytes of either path (integrals being built, the SCF's
intermediates, the XC grid's AO values) before anything large is allocated, and
:func:`check_fits` raises a MemoryError naming the sizes instead of letting the process
run out of memory.

The automatic choice (:func:`choose_method`): exact ERIs, as PySCF uses by default and
which carry no fitting error (density fitting with a JK-fit set costs ~1e-5 Ha per atom),
as long as the exact path's peak stays within ``EXACT_FRACTION`` of the machine's physical
memory and ``EXACT_CAP`` bytes; density fitting above that. With 16 GiB or more this is
exact up to about 130 basis functions (115 for range-separated functionals: two tensors),
which is also about where the exact path's N^4 integral time (seconds at 100 functions,
x16 at 200) stops being cheap next to density fitting's N^2 naux. The rule depends on
the physical memory, not on what happens to be free, so the same input gives the same
method on the same machine; only when the exact path would not fit the memory available
at the time does the automatic choice fall back to density fitting.
"""

import os

GIB = 1024**3
EXACT_FRACTION = 0.25
EXACT_CAP = 4 * GIB
#: Python, JAX and XLA runtime, compiled code, small arrays.
BASELINE = 0.5 * GIB
DOUBLE = 8


def physical_memory() -> int:
    """Bytes of physical memory (os.sysconf), or 0 if unknown."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def available_memory() -> int:
    """Bytes available now: /proc/meminfo's MemAvailable, else physical memory."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return physical_memory()


def exact_bytes(nao: int, long_range: bool = False) -> int:
    """Peak bytes of the exact path: while a tensor is assembled the canonical-pair
    matrix (npair^2), one gathered copy (nao^2 npair) and the tensor (nao^4) coexist; a
    range-separated functional builds its second tensor next to the first."""
    npair = nao * (nao + 1) // 2
    tensor = nao**4 * DOUBLE
    assembly = (npair * npair + nao * nao * npair) * DOUBLE + tensor
    return int(assembly + (tensor if long_range else 0))


def density_fit_bytes(nao: int, naux: int, long_range: bool = False) -> int:
    """Peak bytes of the density-fitted path: the fitted tensor B (nao^2 naux) is unpacked
    from the whitened unique-pair rows (nao(nao+1)/2 naux), which exist next to it for a
    moment; the SCF runs on a copy of B padded onto its ladder
    (:func:`dftjax.scf.energy.padded_size`, auxiliary functions on ``bucket(naux, 4)``),
    kept beside B. A range-separated functional keeps a second B and its copy."""
    from .grid.screening import bucket
    from .scf.energy import padded_size

    npair = nao * (nao + 1) // 2
    factor = nao * nao * naux * DOUBLE
    size = padded_size(nao, density_fitted=True)
    padded = size * size * bucket(naux, 4) * DOUBLE
    peak = max(factor + npair * naux * DOUBLE, factor + padded)
    return int(peak + ((factor + padded) if long_range else 0))


def grid_bytes(nao: int, npts: int, ncomp: int, kept_ao_limit: int = None) -> int:
    """AO values on the grid (at most ``kept_ao_limit``, by default the XC grid's default:
    above it they are recomputed per block) plus per-point features and potentials."""
    if npts == 0:
        return 0
    if kept_ao_limit is None:
        kept_ao_limit = DEFAULT_AO_MEMORY
    return int(min(ncomp * npts * nao * DOUBLE, kept_ao_limit) + 64 * npts * DOUBLE)


def estimate(method: str, nao: int, naux: int = 0, long_range: bool = False, npts: int = 0,
             ncomp: int = 4, kept_ao_limit: int = None) -> int:
    """Estimated peak bytes of a calculation by ``method`` ("exact" or "density-fit"),
    keeping at most ``kept_ao_limit`` bytes of AO values (None: the XC grid's default)."""
    if method == "exact":
        integrals = exact_bytes(nao, long_range)
    else:
        integrals = density_fit_bytes(nao, naux, long_range)
    return int(BASELINE + integrals + grid_bytes(nao, npts, ncomp, kept_ao_limit))


DEFAULT_AO_MEMORY = 2 * 1024**3
"""Bytes of AO values an XC grid (:class:`dftjax.xc.blocked.XCGrid`) keeps between SCF
steps when no budget is given; above, it re-evaluates them."""

#: The XC grid keeps its AO values (instead of evaluating them twice per SCF step, which
#: costs about as much as the rest of the XC work) in at most this fraction of the
#: physical memory, and only within KEPT_AO_AVAILABLE of what is available beside the
#: calculation's other arrays.
KEPT_AO_FRACTION = 0.3
KEPT_AO_AVAILABLE = 0.8


def kept_ao_budget(other_bytes: int, available: int = None, physical: int = None) -> int:
    """Bytes of AO values an SCF may keep next to ``other_bytes`` of other arrays."""
    available = available_memory() if available is None else available
    physical = physical_memory() if physical is None else physical
    if not available or not physical:
        return DEFAULT_AO_MEMORY
    return int(max(0.0, min(KEPT_AO_FRACTION * physical, KEPT_AO_AVAILABLE * available - other_bytes)))


def choose_method(nao: int, long_range: bool = False, physical: int = None) -> str:
    """"exact" while the exact path's peak is small next to the machine, else "density-fit"."""
    physical = physical_memory() if physical is None else physical
    limit = min(EXACT_FRACTION * physical, EXACT_CAP) if physical else EXACT_CAP
    return "exact" if exact_bytes(nao, long_range) <= limit else "density-fit"


def format_bytes(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= 0.1 * GIB else f"{n / 1024**2:.0f} MiB"


def check_fits(method: str, peak: int, nao: int, naux: int = 0, available: int = None) -> None:
    """Raise MemoryError when ``peak`` bytes exceed the memory available now."""
    if method == "exact":
        what = (f"exact ERIs for {nao} basis functions need about {format_bytes(peak)} "
                f"(the (ij|kl) tensor alone is {format_bytes(nao**4 * DOUBLE)})")
        advice = "use density_fit=True (--density-fit), a smaller basis, or a machine with more memory"
    else:
        what = (f"density fitting for {nao} basis functions and {naux} auxiliary functions "
                f"needs about {format_bytes(peak)} (the fitted tensor alone is "
                f"{format_bytes(nao * nao * naux * DOUBLE)})")
        advice = "use a smaller basis or auxiliary basis, fewer atoms, or a machine with more memory"
    check_available(peak, what, advice, available)


def check_available(need: int, what: str, advice: str, available: int = None) -> None:
    """Raise MemoryError "``what``, but only ... is available; ``advice``" when ``need``
    bytes exceed the memory available now (unknown: no check)."""
    available = available_memory() if available is None else available
    if not available or need <= available:
        return
    raise MemoryError(f"{what}, but only {format_bytes(available)} is available; {advice}")
