"""Training losses on the outputs of converged SCFs.

A :class:`Loss` is a sum of weighted :class:`Term`\\ s; a term is the mean of its
:class:`Item`\\ s, and an item is a scalar function of the :class:`~dftjax.train.sample.Outputs`
of the samples it names. Items are the unit of exclusion: when a sample fails (forward
SCF or backward solve), every item that needs it is left out of that step and each term
averages over the items left.

Ready-made terms (energies in Hartree, densities in electrons / Bohr^3):

* :func:`total_energy`: (E - E_ref)^2 per molecule, Ha^2;
* :func:`atomization_energy`: (sum_atoms n_A E_A - E_mol - AE_ref)^2, each atom its own
  sample, Ha^2;
* :func:`density_error`: int (n - n_ref)^2 dr on the sample's grid, electrons^2 / Bohr^3
  (for linear molecules, by default, of both densities averaged about the axis);
* :func:`user_term`: any scalar function of some samples' outputs.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..basis.basis_set import build_basis
from ..basis.rotation import axial_average as axial_average_of
from ..basis.rotation import axial_rotations, linear_axis


@dataclasses.dataclass(frozen=True)
class Item:
    """One contribution: ``fn(*outputs)`` of the samples named in ``samples``, a scalar."""

    samples: tuple
    fn: Callable
    label: str = ""


@dataclasses.dataclass(frozen=True)
class Term:
    """``weight`` times the mean of ``items`` (those whose samples are all present)."""

    name: str
    items: tuple
    weight: float = 1.0

    def value(self, outputs: dict):
        """Mean over the items whose samples are in ``outputs``; None when there is none."""
        values = [item.fn(*(outputs[s] for s in item.samples)) for item in self.items
                  if all(s in outputs for s in item.samples)]
        return None if not values else sum(values) / len(values)


def total_energy(targets: dict, weight=1.0, name="total_energy") -> Term:
    """Squared error of total energies: ``targets`` {sample name: E_ref (Ha)}."""
    return Term(name, tuple(Item((sample,), lambda out, ref=float(ref): (out.energy - ref) ** 2,
                                 sample) for sample, ref in targets.items()), float(weight))


def atomization_energy(entries, weight=1.0, name="atomization_energy") -> Term:
    """Squared error of atomization energies AE = sum_A n_A E_A - E_mol (Ha, positive
    for a bound molecule). ``entries``: (molecule sample, {atom sample: count}, AE_ref)."""
    items = []
    for molecule, atoms, ref in entries:
        names, counts = tuple(atoms), tuple(float(n) for n in atoms.values())

        def fn(mol, *atom_outputs, counts=counts, ref=float(ref)):
            atoms_energy = sum(n * out.energy for n, out in zip(counts, atom_outputs))
            return (atoms_energy - mol.energy - ref) ** 2

        items.append(Item((molecule,) + names, fn, molecule))
    return Term(name, tuple(items), float(weight))


@dataclasses.dataclass(frozen=True)
class DensityReference:
    """A reference density as an AO density matrix: (nao, nao) total or (2, nao, nao)
    spin, in ``basis`` (a name, AO order as PySCF's) at the sample's geometry, or in the
    sample's own basis when ``basis`` is None. Unlike grid values, a density matrix can be
    averaged about a linear molecule's axis (see :func:`density_error`)."""

    density_matrix: np.ndarray
    basis: object = None


def _axial(sample, reference, axial_average):
    """Whether a density item averages about the axis, checked against what it can do."""
    matrix = isinstance(reference, DensityReference)
    if axial_average is None:
        return matrix and linear_axis(sample.molecule.coordinates) is not None
    if not axial_average:
        return False
    linear = linear_axis(sample.molecule.coordinates) is not None
    if not (linear and matrix):
        raise ValueError(f"sample {sample.name!r}: an axial average needs a linear molecule "
                         "and its reference as a DensityReference (a density matrix), not "
                         + ("grid values" if linear else "a nonlinear molecule"))
    return True


def density_error(references, weight=1.0, name="density", axial_average=None) -> Term:
    """int (n - n_ref)^2 dr on each sample's grid. ``references``: (Sample, reference)
    pairs, the reference n_ref (npts,) on the grid's points (e.g. from
    :meth:`Sample.density_on_grid`) or a :class:`DensityReference`; or (Sample, reference,
    axial_average) triples, which override ``axial_average`` for their item.

    ``axial_average``: compare both densities averaged over rotations about a linear
    molecule's axis (:mod:`dftjax.basis.rotation`), so that a Pi state's orbitals may point
    any way about the axis in the reference and in the SCF alike: the orientation the two
    happened to take is not something a functional can fit. None (default): for linear
    molecules whose reference is a density matrix; True: required (an error otherwise);
    False: never.
    """
    items = []
    for sample, reference, *own in references:
        axial = _axial(sample, reference, own[0] if own else axial_average)
        if axial:
            rotations = axial_rotations(sample.basis, sample.molecule.coordinates)
        if isinstance(reference, DensityReference):
            matrix = np.asarray(reference.density_matrix, np.float64)
            if axial:
                own_rotations = rotations if reference.basis is None else axial_rotations(
                    build_basis(sample.molecule, reference.basis), sample.molecule.coordinates)
                matrix = axial_average_of(own_rotations, matrix)
            reference = sample.density_on_grid(matrix, basis=reference.basis)
        reference = np.asarray(reference, np.float64)
        if reference.shape != (sample.grid.npts,):
            raise ValueError(f"sample {sample.name!r}: reference density of shape "
                             f"{reference.shape} for a grid of {sample.grid.npts} points")
        weights = np.asarray(sample.grid.weights)
        if axial:
            def fn(out, weights=weights, reference=reference, sample=sample, rotations=rotations):
                rho = sample.grid_density(axial_average_of(rotations, out.density_matrix))
                return jnp.sum(weights * (rho - reference) ** 2)
        else:
            def fn(out, weights=weights, reference=reference):
                return jnp.sum(weights * (out.rho - reference) ** 2)

        items.append(Item((sample.name,), fn, sample.name))
    return Term(name, tuple(items), float(weight))


def user_term(name, fn, samples, weight=1.0) -> Term:
    """A term of one item: ``fn(*outputs)`` of ``samples`` (names), a scalar."""
    return Term(name, (Item(tuple(samples), fn, name),), float(weight))


@dataclasses.dataclass(frozen=True)
class Loss:
    """sum_t weight_t * term_t. ``terms``: a sequence of :class:`Term`."""

    terms: tuple

    def __post_init__(self):
        object.__setattr__(self, "terms", tuple(self.terms))
        names = [t.name for t in self.terms]
        if len(set(names)) != len(names):
            raise ValueError(f"loss terms need distinct names, got {names}")

    @property
    def samples(self) -> tuple:
        """Every sample name any item needs, in first-use order."""
        return tuple(dict.fromkeys(s for t in self.terms for i in t.items for s in i.samples))

    def subset(self, key, batch_size):
        """A loss over ``batch_size`` items drawn without replacement with ``key``."""
        count = sum(len(t.items) for t in self.terms)
        if batch_size is None or batch_size >= count:
            return self
        chosen = set(np.asarray(jax.random.choice(key, count, (batch_size,), replace=False)).tolist())
        terms, start = [], 0
        for term in self.terms:
            kept = tuple(item for k, item in enumerate(term.items, start) if k in chosen)
            start += len(term.items)
            if kept:
                terms.append(dataclasses.replace(term, items=kept))
        return Loss(tuple(terms))

    def evaluate(self, outputs: dict):
        """(total, {term name: unweighted value}) over the items whose samples are all in
        ``outputs``; terms without such items are absent from both."""
        values = {t.name: t.value(outputs) for t in self.terms}
        values = {name: v for name, v in values.items() if v is not None}
        weights = {t.name: t.weight for t in self.terms}
        total = sum(weights[name] * v for name, v in values.items())
        return total, values

    def value_and_grad(self, outputs: dict):
        """(total, term values as floats, d total / d outputs {sample: Outputs})."""
        (total, values), bars = jax.value_and_grad(self.evaluate, has_aux=True)(outputs)
        return float(total), {k: float(v) for k, v in values.items()}, bars
