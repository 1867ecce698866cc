"""The user-facing calculation: ``dftjax.scf(molecule, basis=..., xc=...)``.

Builds the basis, computes the integrals, forms the superposition-of-atomic-densities
guess and runs the SCF; returns an :class:`SCFCalculation` holding the SCF result plus
what was computed along the way (dipole, timings, basis). Atomic units throughout.
"""

import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._cache import release_compiled_code
from .compile_clock import CompileClock
from .basis import BasisSet, build_basis
from .integrals.one_electron import one_electron_from_pairs, pair_data
from .integrals.two_electron import (electron_repulsion_from_pairs, expand_pair_matrix,
                                     pair_matrix_block, pair_matrix_from_pairs)
from .molecule import Molecule
from .grid import build_grid
from .scf import SCFResult, hf_fock_and_energy, run_scf, sad_density
from .scf.kohn_sham import ks_fock_and_energy, ks_xc_energy
from .xc import Functional, get_functional
from .xc.blocked import XCGrid, can_pad, xc_grid
from .eri_choice import choose_eri, density_fitted_integrals
from .integrals.density_fitting import atom_eri_blocks
from .log import verbose_logging
from .threads import with_callers_settings
from .tracing import traced
from .scf.density_fit import df_fock_and_energy
from .scf.energy import on_the_ladder, padded_size
from .scf.ladder import prepare_scf
from .scf.stability import StabilityReport, analyse, follow_instabilities



@dataclass(frozen=True)
class Integrals:
    """Integrals of one molecule in one basis (Hartree atomic units, PySCF AO order).

    overlap, kinetic, nuclear : (nao, nao); dipole : (3, nao, nao) = <i|r|j> about the
    origin.
    eri_pairs : the exact ERIs as the symmetric matrix of canonical AO pairs (npair,
    npair), npair = nao (nao + 1) / 2
    (:func:`~dftjax.integrals.two_electron.pair_matrix_from_pairs`): what the SCF takes J
    and K from. ``eri`` (nao, nao, nao, nao) = (ij|kl), the full tensor, is expanded from
    it on first use and kept (4x its size: benzene/def2-SVP 1.35 GB, ~1 s; the SCF never
    reads it, correlated methods and users do). None with density fitting.
    eri_long_range : erf-attenuated ERIs (nao,)*4, only for range-separated functionals.
    df, df_long_range : with density fitting (then eri and eri_pairs are None), the fitted
    tensors B (nao, nao, naux), (ij|kl) ~ sum_P B_ijP B_klP
    (:mod:`dftjax.integrals.density_fitting`).
    """

    overlap: jnp.ndarray
    kinetic: jnp.ndarray
    nuclear: jnp.ndarray
    dipole: jnp.ndarray
    eri_pairs: jnp.ndarray = None
    eri_long_range: jnp.ndarray = None
    df: jnp.ndarray = None
    df_long_range: jnp.ndarray = None
    #: the full tensor when already made (traced integrals make it at once); else None
    #: until ``eri`` is read
    _eri: jnp.ndarray = field(default=None, repr=False)

    @property
    def h_core(self):
        return self.kinetic + self.nuclear

    @property
    def exact(self) -> bool:
        """Whether the two-electron integrals are exact (else density fitted)."""
        return self.eri_pairs is not None or self._eri is not None

    @property
    def eri(self):
        """(ij|kl) (nao,)*4, or None with density fitting; expanded from ``eri_pairs`` on
        first use and kept."""
        if self._eri is None and self.eri_pairs is not None:
            object.__setattr__(self, "_eri", expand_pair_matrix(self.overlap.shape[-1],
                                                                self.eri_pairs))
        return self._eri


def compute_integrals(molecule: Molecule, basis: BasisSet, coordinates=None,
                      omega: float = 0.0) -> Integrals:
    """All integrals HF needs; ``coordinates`` (Bohr) default to the molecule's.

    ``omega`` > 0 also computes the long-range ERIs erf(omega r12)/r12 (``eri_long_range``)
    from the same pair data. The full ERI tensor is made when first read
    (:attr:`Integrals.eri`), except for traced coordinates (inside jit or grad), where it
    is made here so that no tracer outlives its trace.
    """
    coords = molecule.coordinates if coordinates is None else coordinates
    if not traced(coords):  # NumPy: jnp.asarray compiles a copy
        coords = np.asarray(coords, np.float64)
    data = pair_data(basis, coords, molecule.atomic_numbers.astype(float), coords)
    overlap, kinetic, dipole, nuclear = one_electron_from_pairs(basis, data)
    pairs = [d[:3] for d in data]
    eri_pairs = pair_matrix_from_pairs(basis, pairs)
    eri = expand_pair_matrix(basis.nao, eri_pairs) if traced(coords) else None
    eri_long_range = electron_repulsion_from_pairs(basis, pairs, omega) if omega > 0.0 else None
    return Integrals(overlap, kinetic, nuclear, dipole, eri_pairs=eri_pairs,
                     eri_long_range=eri_long_range, _eri=eri)


def _atom_integrals_fn(molecule: Molecule, basis: BasisSet, ints: Integrals):
    """Integrals of each isolated neutral atom, for the SAD guess, cut from the molecule's.

    An atom's overlap, kinetic and two-electron integrals are the diagonal blocks of the
    molecular ones; only its nuclear attraction differs (its own nucleus alone), which
    the same compiled pair kernels give with the other charges set to zero. So the guess
    compiles no new integral code.
    """
    ranges = basis.atom_ao_ranges()
    overlap, kinetic = np.asarray(ints.overlap), np.asarray(ints.kinetic)
    eri_pairs = None if ints.eri_pairs is None else np.asarray(ints.eri_pairs)
    coords = np.asarray(molecule.coordinates, np.float64)  # (jnp.asarray compiles a copy)

    def atom_integrals(symbol):
        atom = molecule.symbols.index(symbol)
        start, stop = ranges[atom]
        block = slice(start, stop)
        charges = np.zeros(molecule.natom)
        charges[atom] = molecule.atomic_numbers[atom]
        own_nucleus = np.asarray(one_electron_from_pairs(basis, pair_data(basis, coords, charges, coords))[3])
        return {"S": overlap[block, block], "T": kinetic[block, block],
                "V": own_nucleus[block, block],
                "eri": pair_matrix_block(eri_pairs, start, stop) if eri_pairs is not None
                else atom_eri_blocks(ints.df, start, stop),  # density fitted
                "nelectron": int(molecule.atomic_numbers[atom])}

    return atom_integrals


@dataclass(frozen=True)
class SCFCalculation:
    """A finished SCF: the :class:`~dftjax.scf.SCFResult` fields plus context.

    Attributes beyond the SCF result: ``molecule``, ``basis``, ``xc``, ``integrals``,
    ``dipole`` ((3,) a.u., about the origin as PySCF), ``timings`` (seconds: per stage
    ``integrals``, ``guess``, ``grid``, ``scf``, then ``total``, of which ``compile`` is
    the wall time during which lowering, XLA compilation or a persistent-cache load was
    under way in some thread, and ``run`` is the rest: a warm call has ``compile`` ~ 0),
    ``compilations`` (XLA compilations and cache loads during the call; 0 for a new
    geometry of a molecule already run), ``cache_hits`` (of those, loads from the
    persistent cache: all of them in a new process for a size compiled before),
    ``eri_method`` ("exact" or "density-fit"), ``auxbasis`` (the fitting set's name, None
    when exact), ``naux``, ``memory_estimate`` (estimated peak bytes of the chosen path),
    ``model`` (the energy model the SCF solved), ``stability`` (a
    :class:`~dftjax.scf.stability.StabilityReport`: checked, stable, rounds, lowest eigenvalue).
    Every field of the SCF result (``energy``, ``converged``, ``iterations``,
    ``mo_energy``, ``mo_coeff``, ``mo_occ``, ``density_matrix``, ...) reads through.
    """

    result: SCFResult
    molecule: Molecule
    basis: BasisSet
    xc: str
    integrals: Integrals
    dipole: np.ndarray
    timings: dict
    functional: Functional = None
    grid: object = None
    xc_energy: float = 0.0
    grid_level: int = 3
    xc_params: object = None
    eri_method: str = "exact"
    auxbasis: str = None
    naux: int = 0
    memory_estimate: int = 0
    compilations: int = 0
    cache_hits: int = 0
    model: object = None
    stability: StabilityReport = StabilityReport()

    def __getattr__(self, name):
        return getattr(self.result, name)

    @property
    def nao(self) -> int:
        return self.basis.nao

    @property
    def e_nuc(self) -> float:
        return float(self.result.nuclear_repulsion)


def sad_guess(molecule: Molecule, basis: BasisSet, ints: Integrals):
    """Superposition-of-atomic-densities guess, spin densities (2, nao, nao), from the
    molecule's own integrals (no new integral code is compiled)."""
    return sad_density(basis.atom_ao_ranges(), molecule.symbols,
                       _atom_integrals_fn(molecule, basis, ints))


def model_xc_grid(molecule: Molecule, basis: BasisSet, functional: Functional, grid,
                  ao_memory=None, ladder=True, density_fitted=False):
    """The Kohn-Sham model's :class:`~dftjax.xc.blocked.XCGrid` on ``grid`` (a
    :class:`~dftjax.grid.Grid`): blocks, and AO values kept up to ``ao_memory`` bytes.
    ``ladder``: laid out for the basis size on the SCF's ladder
    (:func:`~dftjax.scf.energy.on_the_ladder`; ``density_fitted``: a density-fitted
    model's). Needs no integrals."""
    options = {} if ao_memory is None else {"ao_memory": ao_memory}
    if ladder:
        options["pad_to"] = padded_size(basis.nao, density_fitted)
    return xc_grid(basis, grid, np.asarray(molecule.coordinates, np.float64),
                   deriv=0 if functional.family == "lda" else 1,
                   precompute_nra="nra" in functional.needs, **options)


def energy_model(molecule: Molecule, basis: BasisSet, ints: Integrals, functional: Functional,
                 grid, restricted: bool, xc_params=None, ao_memory=None, ladder=True, ao=None):
    """The SCF's :class:`~dftjax.scf.energy.EnergyModel` from computed integrals: HF or
    Kohn-Sham, exact or density-fitted (``ints.exact``), the AO values on ``grid``
    (a :class:`~dftjax.grid.Grid`, unused for HF) kept up to ``ao_memory`` bytes.
    ``ladder``: the model will be padded onto the ladder of basis sizes
    (:func:`~dftjax.scf.energy.on_the_ladder`), so its grid is laid out for that size.
    ``ao``: that XC grid already made (:func:`model_xc_grid`)."""
    n_occupied = max(molecule.nalpha, molecule.nbeta)
    if functional.name == "hf":
        if ints.exact:
            return hf_fock_and_energy(ints.h_core, _eri_unless_padded(ints, ladder),
                                      eri_pairs=ints.eri_pairs, exchange_matrix_too=False)
        return df_fock_and_energy(ints.h_core, ints.df, n_occupied)
    if ao is None:
        ao = model_xc_grid(molecule, basis, functional, grid, ao_memory, ladder, not ints.exact)
    if ints.exact:
        eri = _eri_unless_padded(ints, ladder and isinstance(ao, XCGrid) and can_pad(ao))
        return ks_fock_and_energy(functional, ints.h_core, eri, ao, restricted=restricted,
                                  eri_long_range=ints.eri_long_range, xc_params=xc_params,
                                  eri_pairs=ints.eri_pairs)
    return df_fock_and_energy(ints.h_core, ints.df, n_occupied, functional, ao,
                              factor_long_range=ints.df_long_range, xc_params=xc_params,
                              restricted=restricted)


def _eri_unless_padded(ints: Integrals, padded: bool):
    """The full tensor for a model that runs as it is (made then: ``Integrals.eri``); None
    for one that :func:`~dftjax.scf.energy.on_the_ladder` will pad (``padded``, concrete
    integrals), which takes J and K from the pair matrix alone."""
    return None if padded and not traced(ints.eri_pairs) else ints.eri


def scf(molecule: Molecule, basis="def2-svp", xc="hf", conv_tol: float = 1e-9,
        unrestricted=None, max_cycle: int = 100, cartesian: bool = False,
        conv_tol_grad=None, verbose: bool = False, guess: str = "sad",
        grid_level: int = 3, xc_params=None, density_fit=None,
        auxbasis=None, stability=None) -> SCFCalculation:
    """Run a self-consistent field calculation: Hartree-Fock or Kohn-Sham.

    Parameters
    ----------
    molecule : Molecule
    basis : str or dict, basis-set-exchange name(s), case-insensitive
    xc : "hf", a functional name as PySCF/libxc spell it ("b3lyp", "pbe", "r2scan", ...),
        or a :class:`dftjax.xc.Functional` (user-defined and neural functionals)
    grid_level : 0..9, PySCF's grid levels (Kohn-Sham only); default 3 as PySCF
    xc_params : parameters for the functional (default: its own)
    conv_tol : energy convergence threshold (Ha); the orbital-gradient threshold defaults
        to sqrt(conv_tol), as PySCF
    unrestricted : None picks restricted for singlets and unrestricted otherwise;
        True forces UHF; False forces RHF (singlets only)
    guess : "sad" (superposition of atomic densities) or "core"
    density_fit : True fits J and K (RI-JK) in an auxiliary basis, False uses exact
        four-index ERIs, None (default) chooses by size: exact while the nao^4 tensor is
        small next to the machine's memory (see :mod:`dftjax.memory`); ``eri_method`` on
        the result says which ran. A MemoryError is raised before the run when the chosen
        path's estimated peak memory exceeds what is available.
    auxbasis : fitting basis: None for PySCF's default (def2-universal-jkfit for def2-*,
        cc-pVXZ-JKFIT for cc-pVXZ, J-fit sets for non-hybrid functionals, even-tempered
        functions otherwise; see :mod:`dftjax.basis.auxiliary`), a basis-set-exchange name,
        "etb", or {element: name}; giving one implies density_fit unless it is False
    verbose : log the SCF's progress (INFO, logger "dftjax.scf"; on stderr when logging is
        not configured: :mod:`dftjax.log`)
    stability : check the converged state for internal instabilities (negative orbital
        Hessian eigenvalues) and follow them to a stable state (:mod:`dftjax.scf.stability`);
        None (default) checks unrestricted (open-shell) runs only
    """
    functional, unrestricted = _check_request(molecule, xc, unrestricted, guess)
    release_compiled_code()  # a no-op unless the process nears the memory-mapping cap
    stages = _Stages()
    with verbose_logging(verbose), stages.stopped_on_error():
        with stages("integrals"):
            basis_set = build_basis(molecule, basis, cartesian=cartesian)
        with stages("grid", functional.name != "hf"):
            grid = _molecular_grid(molecule, functional, grid_level)
        with stages("integrals"):
            eri = choose_eri(molecule, basis_set, basis, functional, density_fit, auxbasis,
                             0 if grid is None else int(grid.weights.shape[0]), verbose)
        # The XC grid's blocks and AO values need no integrals: they are made (on a first
        # run, compiled) in a thread while the integrals compile and run. On 2 cores,
        # which the integral kernels mostly keep busy, a first pyridine/6-31G* B3LYP run
        # gains ~1 s of its ~2.6 s grid stage; with more cores, all of it. The SCF's
        # programs need only the grid and the integrals' shapes: they start compiling
        # then too (_prepare_scf_programs).
        programs = partial(_prepare_scf_programs, molecule, basis_set, functional, grid,
                           not unrestricted, xc_params, eri)
        if grid is None:
            programs()
        with _beside(grid is not None and not traced(molecule.coordinates), _xc_grid_then,
                     programs, molecule, basis_set, functional, grid, eri.ao_memory, True,
                     eri.method != "exact") as xc_grid_made:
            with stages("integrals"):
                ints = chosen_integrals(molecule, basis_set, functional, eri)
            with stages("guess"):
                density = sad_guess(molecule, basis_set, ints) if guess == "sad" else None
            with stages("grid", functional.name != "hf"):
                model = energy_model(molecule, basis_set, ints, functional, grid,
                                     not unrestricted, xc_params, eri.ao_memory,
                                     ao=xc_grid_made())
                jax.block_until_ready(model.params)
        with stages("scf"):
            result, report, laddered = _solve(
                model, ints, molecule, unrestricted, density, stability,
                dict(conv_tol=conv_tol, conv_tol_grad=conv_tol_grad, max_cycle=max_cycle,
                     verbose=verbose))
        return _calculation(result, report, molecule, basis_set, functional, ints, model,
                            laddered, grid, grid_level, eri, stages)


def _xc_grid_then(programs, *args):
    """:func:`model_xc_grid` of ``args``, then ``programs(xc_grid)``; returns the grid."""
    made = model_xc_grid(*args)
    programs(made)
    return made


def _prepare_scf_programs(molecule, basis_set, functional, grid, restricted, xc_params, eri,
                          xc_grid=None):
    """Start compiling the SCF's per-cycle programs (:func:`~dftjax.scf.ladder.prepare_scf`)
    for a run with exact ERIs, before its integrals exist: the model is built as
    :func:`energy_model` builds it, from stand-in integrals (zeros, and the pair matrix's
    shape alone) and ``xc_grid`` (Kohn-Sham), then padded onto the ladder. Not for
    density fitting, range-separated functionals or traced coordinates (their models
    take other routes); a stand-in that cannot be built is skipped (preparing only saves
    time: the run compiles what it needs)."""
    if (eri.method != "exact" or functional.hf_long_range or traced(molecule.coordinates)
            or (functional.name != "hf" and not (isinstance(xc_grid, XCGrid)
                                                  and can_pad(xc_grid)))):
        return
    nao = basis_set.nao
    npair = nao * (nao + 1) // 2
    zeros = np.zeros((nao, nao))
    stand_in = Integrals(zeros, zeros, zeros, None,
                         eri_pairs=jax.ShapeDtypeStruct((npair, npair), jnp.float64))
    try:
        model = energy_model(molecule, basis_set, stand_in, functional, grid, restricted,
                             xc_params, ao=xc_grid)
        prepare_scf(on_the_ladder(model, nao), molecule.nalpha, molecule.nbeta, restricted)
    except Exception as error:  # noqa: BLE001 (an optimisation: never fail the run)
        logging.getLogger("dftjax.scf").debug("SCF programs not prepared: %r", error)


@contextlib.contextmanager
def _beside(start, function, *args):
    """When ``start``, ``function(*args)`` started now in a thread of its own; yields a
    function that returns its result (and raises its exception), or None when not started
    (the caller then does without, or does the work itself)."""
    if not start:
        yield lambda: None
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dftjax-beside") as pool:
        yield pool.submit(with_callers_settings(function), *args).result


def _check_request(molecule, xc, unrestricted, guess):
    """The functional and whether the SCF is unrestricted; ValueError/TypeError for bad input."""
    if not isinstance(molecule, Molecule):
        raise TypeError(f"molecule must be a dftjax.Molecule, not {type(molecule).__name__}")
    if molecule.nelectron < 1:
        # A Molecule may be bare nuclei (their repulsion is still defined); an SCF is not.
        raise ValueError(f"charge {molecule.charge} leaves no electrons: there is no SCF "
                         "to solve")
    functional = xc if isinstance(xc, Functional) else get_functional(str(xc))
    if unrestricted is None:
        unrestricted = molecule.multiplicity != 1
    if not unrestricted and molecule.multiplicity != 1:
        raise ValueError(f"restricted SCF needs multiplicity 1, got {molecule.multiplicity}")
    if guess not in ("sad", "core"):
        raise ValueError(f"unknown guess '{guess}': use 'sad' or 'core'")
    return functional, unrestricted


class _Stages:
    """Wall seconds per stage of :func:`scf`, summed over the blocks of each name, and the
    compile/run split of the whole (:class:`~dftjax.compile_clock.CompileClock`)."""

    ORDER = ("integrals", "guess", "grid", "scf")

    def __init__(self):
        self.seconds = {}
        self.clock = CompileClock().start()
        self.start = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name, timed=True):
        tick = time.perf_counter()
        yield
        if timed:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - tick

    def timings(self):
        """The ``timings`` dict of :class:`SCFCalculation`; stops the clock."""
        timings = {name: self.seconds[name] for name in self.ORDER if name in self.seconds}
        timings["total"] = time.perf_counter() - self.start
        self.clock.stop()
        # wall time during which something compiled (compilations side by side in
        # threads count once), so compile + run = total
        timings["compile"] = min(self.clock.compile_seconds, timings["total"])
        timings["run"] = timings["total"] - timings["compile"]
        return timings

    @contextlib.contextmanager
    def stopped_on_error(self):
        """Stop the compile clock if the block raises (:meth:`timings` stops it otherwise)."""
        try:
            yield
        except BaseException:
            self.clock.stop()
            raise


def _molecular_grid(molecule, functional, grid_level):
    """The Kohn-Sham integration grid (None for Hartree-Fock)."""
    return None if functional.name == "hf" else build_grid(molecule, level=grid_level)


def chosen_integrals(molecule, basis_set, functional, eri) -> Integrals:
    """Exact or density-fitted integrals, as ``eri`` (an :class:`~dftjax.eri_choice.ERIChoice`)
    chose, with the long-range ones a range-separated functional needs; computed, not queued."""
    omega = functional.omega if functional.hf_long_range else 0.0
    if eri.method == "exact":
        ints = compute_integrals(molecule, basis_set, omega=omega)
    else:
        overlap, kinetic, nuclear, dipole_ints, factor, factor_lr, _ = density_fitted_integrals(
            molecule, basis_set, eri.auxbasis, omega)
        ints = Integrals(overlap, kinetic, nuclear, dipole_ints, df=factor,
                         df_long_range=factor_lr)
    jax.block_until_ready((ints.eri_pairs, ints.df))
    return ints


def _solve(model, ints, molecule, unrestricted, density, stability, options):
    """The SCF from ``density`` (None: core guess), then (``stability``, by default for
    unrestricted runs) the stability check and the instabilities followed; (result,
    report, the model on the ladder: a :class:`~dftjax.scf.energy.PaddedModel` built once
    here for the SCF, its reruns, the stability check and the final XC energy, or
    ``model`` when it does not pad)."""
    model = on_the_ladder(model, ints.overlap.shape[-1])
    solve = partial(run_scf, model, ints.overlap, ints.h_core, molecule.nuclear_repulsion(),
                    molecule.nalpha, molecule.nbeta, restricted=not unrestricted, **options)
    result = solve(D0=density)
    report = StabilityReport()
    if stability or (stability is None and unrestricted):
        result, report = follow_instabilities(model, result, lambda guess: solve(D0=guess))
    return result, report, model


def _calculation(result, report, molecule, basis_set, functional, ints, model, laddered,
                 grid, grid_level, eri, stages) -> SCFCalculation:
    """The :class:`SCFCalculation` of a finished SCF: its dipole and XC energy (from
    ``laddered``, the model the SCF ran on) added."""
    dipole = np.asarray(result.dipole_moment(ints.dipole, molecule.atomic_numbers,
                                             molecule.coordinates))
    pure_hf = functional.name == "hf"
    e_xc = 0.0
    if result.xc_energy is not None:  # from the SCF's last step, at its final density
        e_xc = float(result.xc_energy)
    elif not pure_hf:
        density = result.density_matrix if not result.restricted else \
            0.5 * np.stack([np.asarray(result.density_matrix)] * 2)
        e_xc = float(ks_xc_energy(laddered, density))
    return SCFCalculation(result, molecule, basis_set, functional.name, ints, dipole,
                          stages.timings(), functional, grid, e_xc, grid_level,
                          None if pure_hf else model.params["xc"], eri.method,
                          eri.auxbasis_name, eri.naux, eri.peak_bytes, stages.clock.compilations,
                          stages.clock.cache_hits, model, report)


def stability(calculation: SCFCalculation, external: bool = False):
    """The lowest orbital-Hessian eigenpair of a finished calculation, a
    :class:`~dftjax.scf.stability.StabilityAnalysis` (``eigenvalue`` Ha/rad^2, ``vector``,
    ``stable``): UHF/UKS -> UHF/UKS for unrestricted results, RHF/RKS -> RHF/RKS for
    restricted ones, or with ``external=True`` RHF/RKS -> UHF/UKS."""
    if not isinstance(calculation, SCFCalculation):
        raise TypeError(f"stability needs a dftjax.SCFCalculation, not {type(calculation).__name__}")
    return analyse(calculation.model, calculation.result, external=external)
