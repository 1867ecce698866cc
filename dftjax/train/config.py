"""A training run from a TOML file (the input of ``dftjax train CONFIG.toml``).

Relative paths are relative to the file. Energies in Hartree, geometries in Angstrom::

    [functional]
    name = "lda"                       # a registry name, or
    # entry_point = "package.module:attr"  a Functional, or a callable returning one,
    #                                      called with the [functional.options] table
    params = "init.npz"                # optional: initial parameters (dftjax.params_io)
    # params_form = "nn-metagga"       with params: the file holds this smaller neural
    #                                    form's weights; the new inputs start at zero
    # random_seed = 0                  a neural form's network freshly initialised from
    #                                    this PRNG seed instead of the published weights

    [functional.prefit]                 # optional: before the first step, fit the initial
    teacher = "r2scan"                 # parameters to a semi-local teacher's energy density
    iterations = 400                   # on the teacher's SCF densities of the samples
    energy_weight = 10.0               # (L-BFGS; dftjax.train.prefit); kept in the output
    # samples = ["h2o", "nh3"]         # directory as prefit.npz and reused; default: all

    [defaults]                          # every sample's settings unless it sets its own
    basis = "sto-3g"
    grid_level = 1                      # also: conv_tol, conv_tol_grad, max_cycle,
                                        # density_fit (true/false; default by size), auxbasis,
                                        # ladder (true: shapes padded, fewer compilations)

    [[samples]]
    name = "h2"
    geometry = "H 0 0 0; H 0 0 0.74"   # XYZ text, or xyz = "h2.xyz", or
                                       # reference = "packaged:h2o" (a dftjax-reference-1
                                       # file's geometry, charge and multiplicity)
    charge = 0
    multiplicity = 1

    [[loss.total_energy]]              # (E - target)^2
    sample = "h2"
    target = -1.17
    [[loss.atomization_energy]]        # (sum n_A E_A - E_mol - target)^2
    molecule = "h2"
    atoms = { h = 2 }
    target = 0.1745                    # or g2 = "H2" (experimental De + atomic spin-orbit
                                       # of that G2 molecule, dftjax.benchmarks)
    [[loss.density]]                   # int (n - n_ref)^2 dr on the sample's grid
    sample = "h2"
    reference = "h2_density.npz"       # "density_matrix" (nao, nao) or (2, nao, nao) in
    basis = "cc-pvdz"                  # this basis (else the file's metadata "basis",
                                       # else the sample's), or "rho" on the sample's grid;
                                       # or a dftjax-reference-1 file (coupled cluster,
                                       # dftjax.correlated.reference_data): a path or
                                       # "packaged:h2o" / "packaged:cc-pvtz/h2o"
    axial_average = true               # optional: both densities averaged about a linear
                                       # molecule's axis (default: for linear molecules
                                       # with a density-matrix reference; see
                                       # dftjax.train.losses.density_error)
    [loss.weights]
    total_energy = 1.0

    [[g2]]                              # molecules of the packaged G2 set (dftjax.benchmarks)
    subset = "g2-1"                    # as samples at their G2 geometries, with their atoms,
    # molecules = ["H2O", "NH3"]       # each with an [[loss.atomization_energy]] entry whose
    # exclude = ["CH2_s1A1d"]          # target is the experimental De + atomic spin-orbit;
                                       # samples named as in the set ("H2O", atoms "H", "O");
                                       # hold out the rest (`dftjax bench g2 --subset g2-2`)

    [optimizer]                         # dftjax.train.make_optimizer's arguments
    name = "adam"
    learning_rate = 1e-3
    clip_norm = 1.0
    freeze = []
    schedule = { kind = "cosine" }

    [train]
    steps = 100
    output = "run"                      # checkpoint.npz, params.npz, record.json
    checkpoint_every = 10
    max_failures = 3
    batch_size = 0                      # items per step; 0 = all
    seed = 0
"""

import dataclasses
import hashlib
import importlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

import jax
import numpy as np

from ..benchmarks.g2 import KCAL_PER_HARTREE, select
from ..correlated.reference_data import packaged_reference, read_reference
from ..memory import format_bytes, kept_ao_budget
from ..molecule import Molecule
from ..params_io import load_pytree, save_pytree
from ..xc import Functional, get_functional
from ..xc.neural import FORMS, init_params, widen_params
from .fit import StepReport
from .prefit import PrefitError, prefit, teacher_points
from .losses import DensityReference, Loss, atomization_energy, density_error, total_energy
from .sample import Sample
from .state import init_state, load_checkpoint, make_optimizer, match_params

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser from PyPI (a dependency there)
    import tomli as tomllib

SAMPLE_SETTINGS = ("basis", "grid_level", "conv_tol", "conv_tol_grad", "max_cycle", "unrestricted",
                   "density_fit", "auxbasis", "ladder")
LOSS_KINDS = ("total_energy", "atomization_energy", "density")
PACKAGED = "packaged:"
GEOMETRY_MATCH_BOHR = 1e-6  # a reference density is only a reference at its own geometry


class ConfigError(ValueError):
    """A training configuration that cannot be used; the message names the problem."""


@dataclasses.dataclass
class TrainingRun:
    """Everything :func:`dftjax.train.fit` needs, read from a configuration."""

    functional: Functional
    samples: dict
    loss: Loss
    optimizer: object
    state: object
    steps: int              # the run's total: the schedule spans it, a resumed run continues to it
    output: Path
    options: dict           # fit's keyword arguments: batch_size, max_failures, checkpoint_every
    metadata: dict          # goes into params.npz
    history: list           # StepReports of the run resumed (empty for a new run)
    config: dict = None     # the parsed file (for the model card)

    @property
    def remaining(self) -> int:
        """Steps still to run: the total less the steps the resumed checkpoint holds."""
        return max(self.steps - int(self.state.step), 0)


def _table(config, key, where="the configuration"):
    value = config.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] in {where} must be a table")
    return value


def _unknown(table, allowed, where):
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise ConfigError(f"unknown keys in {where}: {extra}; allowed: {sorted(allowed)}")


def load_functional(table: dict, base: Path):
    """(Functional, initial params) from the [functional] table."""
    _unknown(table, ("name", "entry_point", "params", "params_form", "random_seed", "options",
                     "prefit"), "[functional]")
    if ("name" in table) == ("entry_point" in table):
        raise ConfigError("[functional] needs exactly one of 'name' and 'entry_point'")
    if "name" in table:
        try:
            functional = get_functional(str(table["name"]))
        except (KeyError, ValueError) as error:
            raise ConfigError(f"[functional] name: {error}") from None
    else:
        module_name, _, attr = str(table["entry_point"]).partition(":")
        if not attr:
            raise ConfigError("[functional] entry_point must read 'module:attribute'")
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as error:
            raise ConfigError(f"[functional] entry_point {table['entry_point']!r}: {error}") from None
        functional = target if isinstance(target, Functional) else target(**table.get("options", {}))
        if not isinstance(functional, Functional):
            raise ConfigError(f"[functional] entry_point {table['entry_point']!r} gave a "
                              f"{type(functional).__name__}, not a dftjax Functional")
    if functional.params is None:
        raise ConfigError(f"functional {functional.name!r} has no parameters to train")
    params = functional.params
    if "random_seed" in table:
        if "params" in table:
            raise ConfigError("[functional] takes 'params' or 'random_seed', not both")
        params = init_params(_neural_form(functional, "random_seed"),
                             jax.random.PRNGKey(int(table["random_seed"])))
    if "params" in table:
        loaded, _ = load_pytree(base / table["params"])
        if "params_form" in table:
            try:
                loaded = widen_params(loaded, str(table["params_form"]),
                                      _neural_form(functional, "params_form"))
            except ValueError as error:
                raise ConfigError(f"[functional] params_form: {error}") from None
        try:
            params = match_params(loaded, functional.params)
        except ValueError as error:
            raise ConfigError(f"[functional] params {table['params']!r}: {error}") from None
    elif "params_form" in table:
        raise ConfigError("[functional] params_form needs params")
    return functional, params


PREFIT_KEYS = ("teacher", "iterations", "energy_weight", "samples")


def _prefitted(table, functional, params, samples, output, log=None):
    """The initial parameters pre-fitted as ``[functional.prefit]`` says
    (:mod:`dftjax.train.prefit`), or those of ``output/prefit.npz`` when it holds a pre-fit
    with the same settings from the same initial parameters. Writes that file."""
    if not isinstance(table, dict):
        raise ConfigError("[functional.prefit] must be a table")
    _unknown(table, PREFIT_KEYS, "[functional.prefit]")
    if "teacher" not in table:
        raise ConfigError("[functional.prefit] needs a 'teacher' (a semi-local functional name)")
    try:
        teacher = get_functional(str(table["teacher"]))
    except (KeyError, ValueError) as error:
        raise ConfigError(f"[functional.prefit] teacher: {error}") from None
    iterations = int(table.get("iterations", 400))
    energy_weight = float(table.get("energy_weight", 10.0))
    if iterations < 1 or not energy_weight >= 0.0:
        raise ConfigError("[functional.prefit] needs iterations >= 1 and energy_weight >= 0")
    names = [str(n) for n in table.get("samples", list(samples))]
    unknown = [n for n in names if n not in samples]
    if unknown or not names:
        raise ConfigError(f"[functional.prefit] samples: {unknown or 'none'} not among the "
                          f"samples ({', '.join(samples)})")
    settings = {"teacher": teacher.name, "iterations": iterations,
                "energy_weight": energy_weight, "samples": names,
                "start": _fingerprint(params)}
    path = Path(output) / "prefit.npz"
    if path.is_file():
        loaded, saved = load_pytree(path)
        if saved.get("settings") == settings:
            if log is not None:
                log(f"pre-fit: reusing {path} ({settings['teacher']}, {iterations} iterations)")
            return match_params(loaded, functional.params)
    try:
        points = teacher_points([samples[n] for n in names], teacher, log=log)
        fitted, report = prefit(functional, params, points, iterations, energy_weight,
                                teacher_name=teacher.name, log=log)
    except PrefitError as error:
        raise ConfigError(str(error)) from None
    for line in report.lines() if log is not None else ():
        log(line)
    Path(output).mkdir(parents=True, exist_ok=True)
    save_pytree(path, fitted, {"settings": settings, "report": dataclasses.asdict(report)})
    return fitted


def _fingerprint(params) -> str:
    """A digest of parameter values: a saved pre-fit is reused only from the same start."""
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(params):
        digest.update(np.ascontiguousarray(np.asarray(leaf, np.float64)).tobytes())
    return digest.hexdigest()[:16]


def _neural_form(functional, key):
    if functional.name not in FORMS:
        raise ConfigError(f"[functional] {key} needs one of the neural forms "
                          f"({', '.join(FORMS)}), not {functional.name!r}")
    return functional.name


def _reference_path(text, base) -> Path:
    """A dftjax-reference-1 file: "packaged:NAME" or "packaged:BASIS/NAME" (shipped with
    dftjax, cc-pVTZ by default), else a path relative to the configuration."""
    text = str(text)
    if not text.startswith(PACKAGED):
        return base / text
    basis, _, name = text[len(PACKAGED):].rpartition("/")
    try:
        return packaged_reference(name, basis or "cc-pvtz")
    except FileNotFoundError as error:
        raise ConfigError(str(error)) from None


def _correlated_reference(path) -> dict:
    """The arrays of a dftjax-reference-1 file (ConfigError if it is not one)."""
    try:
        return read_reference(path)
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(f"{str(path)!r} is not a readable dftjax-reference-1 file: "
                          f"{error}") from None


def _molecule(entry, base):
    given = [key for key in ("geometry", "xyz", "reference") if key in entry]
    if len(given) != 1:
        raise ConfigError(f"sample {entry.get('name')!r} needs exactly one of 'geometry', "
                          "'xyz' and 'reference'")
    if "reference" in entry:
        data = _correlated_reference(_reference_path(entry["reference"], base))
        conflicting = [k for k in ("charge", "multiplicity") if k in entry and entry[k] != data[k]]
        if conflicting:
            raise ConfigError(f"sample {entry['name']!r}: {conflicting} differ from its "
                              f"reference file's ({data['charge']}, {data['multiplicity']})")
        return Molecule([str(x) for x in data["symbols"]], data["coordinates"], unit="bohr",
                        charge=int(data["charge"]), multiplicity=int(data["multiplicity"]))
    source = entry["geometry"] if "geometry" in entry else base / entry["xyz"]
    options = {k: entry[k] for k in ("charge", "multiplicity") if k in entry}
    return Molecule.from_xyz(source, **options)


class AOBudget:
    """Bytes of AO values a training set's samples may keep, all together: each sample
    keeps its values if they fit in what the samples before it left (else it evaluates
    them in every step). Default: what one SCF may keep (:func:`dftjax.memory.kept_ao_budget`),
    measured before the first sample."""

    def __init__(self, total=None):
        self.left = kept_ao_budget(0) if total is None else int(total)

    def make(self, name, molecule, functional, settings):
        sample = Sample(name, molecule, functional, ao_memory=max(self.left, 0), **settings)
        self.left -= sample.kept_ao_bytes
        return sample


def _built(log, sample, tick, count, total):
    """One progress line for a sample just made (building many takes minutes)."""
    if log is None:
        return
    kept = sample.kept_ao_bytes
    log(f"sample {count}/{total} {sample.name}: {sample.nao} basis functions, "
        f"{int(sample.grid.weights.shape[0])} grid points, {sample.eri.method} ERIs "
        f"(peak ~{format_bytes(sample.memory_estimate)}), AO values "
        f"{'kept (' + format_bytes(kept) + ')' if kept else 'evaluated in each step'}; "
        f"{time.perf_counter() - tick:.1f} s")


def load_samples(entries, defaults, functional, base, required=True, log=None, total=None,
                 budget=None):
    """Samples of the [[samples]] entries, by name; ``log`` (a callable) gets a line per
    sample, numbered out of ``total`` (default: these entries). ``budget``: the
    :class:`AOBudget` they share (default: a new one)."""
    budget = AOBudget() if budget is None else budget
    samples = {}
    allowed = ("name", "geometry", "xyz", "reference", "charge", "multiplicity") + SAMPLE_SETTINGS
    _unknown(defaults, SAMPLE_SETTINGS, "[defaults]")
    for entry in entries:
        if "name" not in entry:
            raise ConfigError("every [[samples]] entry needs a 'name'")
        name = str(entry["name"])
        _unknown(entry, allowed, f"sample {name!r}")
        if name in samples:
            raise ConfigError(f"sample name {name!r} is used twice")
        settings = dict(defaults, **{k: entry[k] for k in SAMPLE_SETTINGS if k in entry})
        tick = time.perf_counter()
        samples[name] = budget.make(name, _molecule(entry, base), functional, settings)
        _built(log, samples[name], tick, len(samples), total or len(entries))
    if not samples and required:
        raise ConfigError("no [[samples]] given (nor [[g2]])")
    return samples


def _reference_density(entry, sample, base):
    path = _reference_path(entry["reference"], base)
    if _is_correlated_reference(path):
        data = _correlated_reference(path)
        shift = np.abs(np.asarray(data["coordinates"]) - np.asarray(sample.molecule.coordinates))
        if data["atomic_numbers"].tolist() != list(sample.molecule.atomic_numbers) or \
                shift.max() > GEOMETRY_MATCH_BOHR:
            raise ConfigError(f"density reference {entry['reference']!r} is for another "
                              f"geometry than sample {sample.name!r}'s (give the sample "
                              f"reference = {str(entry['reference'])!r})")
        basis = entry.get("basis", data["basis"])
        return DensityReference(data["density_matrix"], None if _same_basis(basis, sample) else basis)
    tree, metadata = load_pytree(path)
    if "rho" in tree:
        return np.asarray(tree["rho"])
    if "density_matrix" not in tree:
        raise ConfigError(f"density reference {entry['reference']!r} holds neither "
                          "'density_matrix' nor 'rho'")
    basis = entry.get("basis", metadata.get("basis"))
    return DensityReference(tree["density_matrix"], None if _same_basis(basis, sample) else basis)


def _same_basis(basis, sample):
    return basis is None or str(basis).lower() == str(sample.basis_name).lower()


def _is_correlated_reference(path):
    try:
        with np.load(path) as stored:
            return "format" in stored.files
    except (OSError, ValueError):
        return False


def _atomization_target(entry):
    """AE_ref (Ha) of a [[loss.atomization_energy]] entry: its 'target', or the G2 set's
    experimental De plus atomic spin-orbit (what ``dftjax bench g2`` compares with)."""
    if ("target" in entry) == ("g2" in entry):
        raise ConfigError(f"[[loss.atomization_energy]] for {entry['molecule']!r} needs "
                          "exactly one of 'target' and 'g2'")
    if "target" in entry:
        return entry["target"]
    try:
        (molecule,), _ = select(molecules=[str(entry["g2"])])
    except ValueError as error:
        raise ConfigError(f"[[loss.atomization_energy]] g2: {error}") from None
    return molecule["exp_De_plus_atomic_SO_kcal_mol"] / KCAL_PER_HARTREE


G2_KEYS = ("subset", "molecules", "exclude")


def g2_selection(tables):
    """[(molecule entries, atom entries they need)] of the configuration's [[g2]] tables,
    checked (ConfigError naming the problem)."""
    if not isinstance(tables, list):
        raise ConfigError("[[g2]] must be an array of tables (write [[g2]], not [g2])")
    chosen_sets = []
    for table in tables:
        _unknown(table, G2_KEYS, "[[g2]]")
        names = {key: table.get(key, []) for key in ("molecules", "exclude")}
        for key, value in names.items():
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ConfigError(f"[[g2]] {key} must be a list of G2 molecule names")
        try:
            chosen, atoms = select(table.get("subset"), names["molecules"] or None)
            if names["exclude"]:
                select(table.get("subset"), names["exclude"])  # names them if unknown
        except ValueError as error:
            raise ConfigError(f"[[g2]]: {error}") from None
        chosen = [m for m in chosen if m["name"] not in set(names["exclude"])]
        if not chosen:
            raise ConfigError("[[g2]] selects no molecules")
        elements = {symbol for m in chosen for symbol in m["symbols"]}
        chosen_sets.append((chosen, [a for a in atoms if a["name"] in elements]))
    return chosen_sets


def _sample_count(chosen_sets) -> int:
    """How many samples a :func:`g2_selection` makes (molecules and atoms, each once)."""
    return len({e["name"] for chosen, atoms in chosen_sets for e in atoms + chosen})


def load_g2(tables, samples, defaults, functional, log=None, done=0, total=None, budget=None,
            selection=None):
    """Samples (added to ``samples``) and [[loss.atomization_energy]] entries for the
    configuration's [[g2]] tables: the chosen molecules of the G2 set and the atoms they
    need, at the set's geometries, charges and multiplicities, with ``defaults``' settings.
    Two tables may share atoms; a name already among [[samples]] is an error. ``log`` gets
    a line per sample, numbered from ``done`` out of ``total``; ``budget`` as
    :func:`load_samples`'s; ``selection``, the tables' :func:`g2_selection` where the
    caller has made it already."""
    budget = AOBudget() if budget is None else budget
    chosen_sets = g2_selection(tables) if selection is None else selection
    total = total or done + _sample_count(chosen_sets)
    made, entries = set(), []
    for chosen, atoms in chosen_sets:
        for entry in atoms + chosen:
            name = entry["name"]
            if name in made:
                continue
            if name in samples:
                raise ConfigError(f"[[g2]] sample {name!r} is also the name of a [[samples]] entry")
            molecule = Molecule(entry["symbols"], np.array(entry["positions_angstrom"]),
                                charge=entry["charge"], multiplicity=entry["multiplicity"])
            tick = time.perf_counter()
            samples[name] = budget.make(name, molecule, functional, defaults)
            made.add(name)
            _built(log, samples[name], tick, done + len(made), total)
    for chosen, _ in chosen_sets:
        for m in chosen:
            entries.append({"molecule": m["name"], "atoms": dict(Counter(m["symbols"])),
                            "g2": m["name"]})
    return entries


def load_loss(table, samples, base, g2_entries=()):
    _unknown(table, LOSS_KINDS + ("weights",), "[loss]")
    weights = _table(table, "weights", "[loss]")
    _unknown(weights, LOSS_KINDS, "[loss.weights]")

    def sample_named(name, where):
        if name not in samples:
            raise ConfigError(f"{where} names sample {name!r}, which is not among [[samples]]")
        return name

    def entries(kind, keys, optional=()):
        found = table.get(kind, [])
        for entry in found:
            _unknown(entry, keys + optional, f"[[loss.{kind}]]")
            missing = [k for k in keys if k not in entry]
            if missing:
                raise ConfigError(f"[[loss.{kind}]] needs {missing}")
        return found

    terms = []
    found = entries("total_energy", ("sample", "target"))
    if found:
        terms.append(total_energy({sample_named(e["sample"], "[[loss.total_energy]]"): e["target"]
                                   for e in found}, weights.get("total_energy", 1.0)))
    found = entries("atomization_energy", ("molecule", "atoms"), ("target", "g2")) + list(g2_entries)
    if found:
        terms.append(atomization_energy(
            [(sample_named(e["molecule"], "[[loss.atomization_energy]]"),
              {sample_named(a, "[[loss.atomization_energy]] atoms"): n for a, n in e["atoms"].items()},
              _atomization_target(e)) for e in found], weights.get("atomization_energy", 1.0)))
    found = entries("density", ("sample", "reference"), ("basis", "axial_average"))
    if found:
        items = []
        for e in found:
            sample = samples[sample_named(e["sample"], "[[loss.density]]")]
            axial = e.get("axial_average")
            if axial is not None and not isinstance(axial, bool):
                raise ConfigError(f"[[loss.density]] for {e['sample']!r}: axial_average must be "
                                  f"true or false, not {axial!r}")
            items.append((sample, _reference_density(e, sample, base), axial))
        try:
            terms.append(density_error(items, weights.get("density", 1.0)))
        except ValueError as error:
            raise ConfigError(f"[[loss.density]]: {error}") from None
    if not terms:
        raise ConfigError("[loss] has no terms: give [[loss.total_energy]], "
                          "[[loss.atomization_energy]] or [[loss.density]]")
    return Loss(terms)


def load_run(path, steps=None, output=None, resume=True, log=None) -> TrainingRun:
    """Read a configuration file; ``steps`` (the run's total) and ``output`` override
    [train]'s. With ``resume``, a checkpoint in the output directory is continued, up to
    the total (:attr:`TrainingRun.remaining`; the optimiser's schedule spans the total, so
    a run stopped and resumed takes the steps an uninterrupted one does). ``log`` (a
    callable taking a line) hears of each sample as it is built."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"configuration file {str(path)!r} does not exist")
    try:
        config = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{str(path)!r} is not valid TOML: {error}") from None
    base = path.resolve().parent
    _unknown(config, ("functional", "defaults", "samples", "g2", "loss", "optimizer", "train"),
             str(path))
    functional, params = load_functional(_table(config, "functional"), base)
    defaults = _table(config, "defaults")
    listed = config.get("samples", [])
    selection = g2_selection(config.get("g2", []))
    total = len(listed) + _sample_count(selection)
    budget = AOBudget()
    samples = load_samples(listed, defaults, functional, base, required=not config.get("g2"),
                           log=log, total=total, budget=budget)
    g2_entries = load_g2(config.get("g2", []), samples, defaults, functional, log=log,
                         done=len(samples), total=total, budget=budget, selection=selection)
    loss = load_loss(_table(config, "loss"), samples, base, g2_entries)
    train = _table(config, "train")
    _unknown(train, ("steps", "output", "checkpoint_every", "max_failures", "batch_size", "seed"),
             "[train]")
    steps = int(train.get("steps", 100) if steps is None else steps)
    output = Path(output) if output is not None else base / train.get("output", "train-output")
    optimizer_options = dict(_table(config, "optimizer"))
    try:
        optimizer = make_optimizer(params, steps=steps, **optimizer_options)
    except TypeError as error:
        raise ConfigError(f"[optimizer]: {error}") from None
    history = []
    if resume and (output / "checkpoint.npz").is_file():
        state = load_checkpoint(output, optimizer, functional.params)
        record = output / "record.json"
        if record.is_file():
            history = [StepReport(**step) for step in json.loads(record.read_text())["steps"]]
    else:
        prefit_table = _table(config, "functional").get("prefit")
        if prefit_table is not None:
            params = _prefitted(prefit_table, functional, params, samples, output, log)
        state = init_state(params, optimizer, seed=int(train.get("seed", 0)))
    options = {"batch_size": int(train.get("batch_size", 0)) or None,
               "max_failures": int(train.get("max_failures", 3)),
               "checkpoint_every": int(train.get("checkpoint_every", 10))}
    table = _table(config, "functional")
    metadata = {"functional": table.get("name", table.get("entry_point")), "config": str(path)}
    return TrainingRun(functional, samples, loss, optimizer, state, steps, output, options,
                       metadata, history, config)
