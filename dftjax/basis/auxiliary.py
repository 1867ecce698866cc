"""Auxiliary (density-fitting) basis sets, chosen as PySCF chooses them.

Density fitting expands orbital products in an auxiliary basis. The sets are
basis-set-exchange's JK- and J-fitting sets (``def2-universal-jkfit``,
``def2-universal-jfit``, ``cc-pvXz-jkfit``), laid out like orbital basis sets: one
:class:`~dftjax.basis.BasisSet` per molecule, spherical functions unless the orbital
basis is Cartesian (PySCF's auxiliary molecule copies ``mol.cart``), contracted
functions normalised as PySCF normalises them.

Default choice (:func:`default_auxbasis`) = PySCF 2.x's ``density_fit()`` /
``df.make_auxbasis``:

* Hartree-Fock and hybrid (also range-separated) functionals take the JK-fitting set of
  PySCF's ``DEFAULT_AUXBASIS`` table (Psi4's recommendations): cc-pVXZ -> cc-pVXZ-JKFIT,
  def2-* -> def2-universal-jkfit, STO-3G and 3-21G -> def2-universal-jkfit, 6-31G* ->
  cc-pVDZ-JKFIT, 6-311G* -> cc-pVTZ-JKFIT, ...; then basis-set-exchange's own
  recommendation for the basis (its ``jkfit`` entry).
* Local and semi-local functionals take basis-set-exchange's J-fitting recommendation
  (``jfit``, e.g. def2-universal-jfit for def2-*), else its ``jkfit``; with none, the
  HF rule above.
* Pople names (6-31G**, 6-31+G*, ...) are reduced to their root (6-31G, 6-31+G) per
  element, as PySCF does.
* Elements with no such set get even-tempered Gaussians generated from the orbital basis
  (:func:`even_tempered_shells`, PySCF's ``aug_etb`` with beta = 2).

basis-set-exchange has no cc-pVDZ-JKFIT: Weigend's double-zeta JK sets are, as the
Molpro library PySCF copies says, the triple-zeta sets with the highest angular momentum
removed, which is how ``cc-pvdz-jkfit`` is built here (identical to PySCF's file for
every element basis-set-exchange has). Sets PySCF would use that basis-set-exchange
does not have (aug-cc-pVXZ-JKFIT, heavy-aug-cc-pVXZ-JKFIT; Ne, Ar, Kr in cc-pVXZ-JKFIT)
raise ``ValueError`` naming the set and asking for ``auxbasis=``.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..elements import atomic_number
from .basis_set import BasisSet
from .load import ElementShell, _bse_get, element_shells, normalise_contraction
from .spherical import ncart, nsph

#: PySCF's ``df.addons.DEFAULT_AUXBASIS`` (JK-fit column), keyed by the basis name with
#: "-", "_" and spaces removed, lower case.
DEFAULT_JKFIT = {
    "ccpvdz": "cc-pvdz-jkfit", "augccpvdz": "aug-cc-pvdz-jkfit",
    "ccpvtz": "cc-pvtz-jkfit", "augccpvtz": "aug-cc-pvtz-jkfit",
    "ccpvqz": "cc-pvqz-jkfit", "augccpvqz": "aug-cc-pvqz-jkfit",
    "ccpv5z": "cc-pv5z-jkfit", "augccpv5z": "aug-cc-pv5z-jkfit",
    "def2svp": "def2-universal-jkfit", "def2svpd": "def2-universal-jkfit",
    "def2tzvp": "def2-universal-jkfit", "def2mtzvp": "def2-universal-jkfit",
    "def2tzvpd": "def2-universal-jkfit", "def2tzvpp": "def2-universal-jkfit",
    "def2mtzvpp": "def2-universal-jkfit", "def2tzvppd": "def2-universal-jkfit",
    "def2qzvp": "def2-universal-jkfit", "def2qzvpp": "def2-universal-jkfit",
    "def2qzvppd": "def2-universal-jkfit",
    "sto3g": "def2-universal-jkfit", "321g": "def2-universal-jkfit",
    "631g": "cc-pvdz-jkfit", "631+g": "heavy-aug-cc-pvdz-jkfit",
    "631++g": "aug-cc-pvdz-jkfit", "6311g": "cc-pvtz-jkfit",
    "6311+g": "heavy-aug-cc-pvtz-jkfit", "6311++g": "aug-cc-pvtz-jkfit",
}

#: PySCF's names of fitting sets that basis-set-exchange spells differently.
ALIASES = {
    "def2svpjkfit": "def2-universal-jkfit", "def2tzvpjkfit": "def2-universal-jkfit",
    "def2tzvppjkfit": "def2-universal-jkfit", "def2qzvpjkfit": "def2-universal-jkfit",
    "def2qzvppjkfit": "def2-universal-jkfit", "def2universaljkfit": "def2-universal-jkfit",
    "weigendjkfit": "def2-universal-jkfit",
    "def2svpjfit": "def2-universal-jfit", "def2tzvpjfit": "def2-universal-jfit",
    "def2tzvppjfit": "def2-universal-jfit", "def2qzvpjfit": "def2-universal-jfit",
    "def2qzvppjfit": "def2-universal-jfit", "def2universaljfit": "def2-universal-jfit",
    "weigend": "def2-universal-jfit", "weigendcfit": "def2-universal-jfit",
    "weigendjfit": "def2-universal-jfit",
    "ccpvdzjkfit": "cc-pvdz-jkfit", "ccpvtzjkfit": "cc-pvtz-jkfit",
    "ccpvqzjkfit": "cc-pvqz-jkfit", "ccpv5zjkfit": "cc-pv5z-jkfit",
}

#: Fitting sets built from another basis-set-exchange set minus its highest angular
#: momentum (Weigend's double-zeta JK sets; see the module docstring).
TRUNCATED = {"cc-pvdz-jkfit": "cc-pvtz-jkfit"}


@lru_cache(maxsize=1)
def _bse_auxiliaries() -> dict:
    """basis-set-exchange's recommended fitting sets ("auxiliaries" metadata, which PySCF
    copies into its bse_meta.json), keyed by the formatted orbital basis name."""
    import basis_set_exchange as bse

    return {_format(name): meta.get("auxiliaries", {}) for name, meta in bse.get_metadata().items()}


ETB_BETA = 2.0  # PySCF's df.addons ETB_BETA


def _format(name: str) -> str:
    """PySCF's ``_format_basis_name``: lower case without '-', '_' and spaces."""
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


def _is_pople(alias: str) -> bool:
    return alias.startswith(("631", "321", "431"))


def canonical_auxbasis_name(name: str) -> str:
    """The basis-set-exchange spelling of a fitting-set name (PySCF aliases resolved)."""
    alias = _format(name)
    if alias in ALIASES:
        return ALIASES[alias]
    return name.strip().lower()


def is_hybrid(functional) -> bool:
    """Whether PySCF would treat ``functional`` (a name or a Functional) as needing K."""
    if functional is None:
        return True
    if isinstance(functional, str):
        if functional.strip().lower() == "hf":
            return True
        from ..xc import get_functional
        functional = get_functional(functional)
    return functional.name == "hf" or functional.hf_full != 0.0 or functional.hf_long_range != 0.0


def _predefined(alias: str, hybrid: bool):
    """PySCF's ``predefined_auxbasis`` for one (formatted) orbital basis name, or None."""
    if hybrid and alias in DEFAULT_JKFIT:
        return DEFAULT_JKFIT[alias]
    meta = _bse_auxiliaries().get(alias, {})
    if hybrid:
        return meta.get("jkfit")
    return meta.get("jfit") or meta.get("dftjfit") or meta.get("jkfit")


def _has_element(auxname: str, symbol: str) -> bool:
    try:
        aux_element_shells(auxname, symbol)
    except ValueError:
        return False
    return True


def default_auxbasis(basis, symbols, functional=None) -> dict:
    """PySCF's default fitting set per element: ``{symbol: name or ETB spec}``.

    ``basis`` is the orbital basis (a name or ``{symbol: name}``, "default" allowed),
    ``functional`` a name, a :class:`~dftjax.xc.Functional` or None (Hartree-Fock). An ETB
    spec is ``("etb", ((l, n, emin, beta), ...))``. Follows ``pyscf.df.density_fit``:
    with one basis name the functional picks JK- or J-fitting (see the module
    docstring); with a per-element dict the JK rule applies per element, as PySCF's
    ``make_auxbasis`` does; elements with no set get even-tempered functions.
    """
    uniq = list(dict.fromkeys(symbols))
    if isinstance(basis, str):
        per_element = {s: basis for s in uniq}
        # PySCF's KS default xc "LDA,VWN" defers the choice to make_auxbasis(xc="HF").
        hybrid = is_hybrid(functional) or functional == "LDA,VWN"
        chosen = _predefined(_format(basis), hybrid)
        if chosen is None and not hybrid:
            chosen = _predefined(_format(basis), True)  # PySCF: make_auxbasis(xc="HF")
    else:
        lookup = {str(k).strip().lower(): v for k, v in basis.items()}
        per_element = {s: lookup.get(s.lower(), lookup.get("default")) for s in uniq}
        chosen = None
    out = {}
    for symbol in uniq:
        name = chosen
        if name is None:
            alias = _format(per_element[symbol])
            if _is_pople(alias):
                alias = alias.split("g")[0] + "g"
            name = _predefined(alias, True)
        if name is not None:
            _check_available(name, symbol)
            if _has_element(name, symbol):
                out[symbol] = name
                continue
        out[symbol] = ("etb", even_tempered_spec(per_element[symbol], symbol))
    return out


# PySCF's own library has these sets (or elements) that basis-set-exchange lacks; a
# default that needs them cannot be matched, so it is an error, not a silent ETB.
_PYSCF_ONLY = {
    "aug-cc-pvdz-jkfit", "aug-cc-pvtz-jkfit", "aug-cc-pvqz-jkfit", "aug-cc-pv5z-jkfit",
    "heavy-aug-cc-pvdz-jkfit", "heavy-aug-cc-pvtz-jkfit",
}
_PYSCF_ONLY_ELEMENTS = {name: ("Ne", "Ar", "Kr") for name in
                        ("cc-pvdz-jkfit", "cc-pvtz-jkfit", "cc-pvqz-jkfit", "cc-pv5z-jkfit")}


def _check_available(name: str, symbol: str) -> None:
    if name in _PYSCF_ONLY or symbol in _PYSCF_ONLY_ELEMENTS.get(name, ()):
        raise ValueError(
            f"the default auxiliary basis for {symbol} here is PySCF's '{name}', which "
            "basis-set-exchange does not provide; choose one with auxbasis= (--auxbasis), "
            "e.g. 'def2-universal-jkfit' or 'etb'")


# ---------------------------------------------------------------------------------------
# Even-tempered auxiliary functions (PySCF's df.addons.aug_etb, version-2.6 rules)

def _raw_shells(name: str, symbol: str):
    """(l, exponents, coefficient columns) of an orbital basis as stored (unnormalised)."""
    element = _bse_get(name.strip().lower(), atomic_number(symbol))
    out = []
    for block in element["electron_shells"]:
        exponents = np.array([float(e) for e in block["exponents"]])
        columns = np.array([[float(c) for c in col] for col in block["coefficients"]])
        momenta = block["angular_momentum"]
        if len(momenta) == 1:
            out.append((momenta[0], exponents, columns))
        else:  # combined shells (SP): one column per l
            for l, column in zip(momenta, columns):
                out.append((l, exponents, column[None]))
    return out


def _max_shells(z: int) -> int:
    """Occupied l values of the ground-state configuration (PySCF's CONFIGURATION)."""
    return 1 if z <= 4 else 2 if z <= 20 else 3 if z <= 57 else 4


def even_tempered_spec(basis_name: str, symbol: str, beta: float = ETB_BETA) -> tuple:
    """((l, n, emin, beta), ...) as PySCF's ``_aug_etb_element`` makes them."""
    shells = _raw_shells(basis_name, symbol)
    l_max = max(l for l, _, _ in shells)
    emin_by_l = [1e99] * (l_max + 1)
    emax_by_l = [0.0] * (l_max + 1)
    for l, exponents, columns in shells:
        keep = np.abs(columns).max(axis=0) > 1e-3
        es = exponents[keep]
        emax_by_l[l] = max(es.max(), emax_by_l[l])
        emin_by_l[l] = min(es.min(), emin_by_l[l])
    l_max = min(l_max, _max_shells(atomic_number(symbol)))
    l_max_aux = l_max * 2
    emin_l = np.array(emin_by_l[: l_max + 1])
    emax_l = np.array(emax_by_l[: l_max + 1])
    emax = np.sqrt(emax_l[:, None] * emax_l) * 2
    emin = np.sqrt(emin_l[:, None] * emin_l) * 2
    lsum = np.arange(l_max + 1)[:, None] + np.arange(l_max + 1)
    emax_aux = np.array([emax[lsum == ll].max() for ll in range(l_max_aux + 1)])
    emin_aux = np.array([emin[lsum == ll].min() for ll in range(l_max_aux + 1)])
    counts = np.ceil(np.log((emax_aux + emin_aux) / emin_aux) / np.log(beta)).astype(int)
    return tuple((l, int(n), float(emin_aux[l]), float(beta)) for l, n in enumerate(counts) if n > 0)


def even_tempered_shells(spec: tuple) -> tuple:
    """Uncontracted shells exps = emin * beta^i, i = n-1 ... 0 per l (PySCF's expand_etbs)."""
    shells = []
    for l, n, emin, beta in spec:
        for i in reversed(range(n)):
            e = np.array([emin * beta**i])
            shells.append(ElementShell(l, tuple(e.tolist()),
                                       tuple(normalise_contraction(l, e, np.ones(1)).tolist())))
    return tuple(shells)


# ---------------------------------------------------------------------------------------
# Loading and the molecule's auxiliary BasisSet

@lru_cache(maxsize=None)
def aux_element_shells(name: str, symbol: str) -> tuple:
    """Shells of one element in fitting set ``name`` (aliases and derived sets resolved)."""
    name = canonical_auxbasis_name(name)
    if name in TRUNCATED:
        shells = element_shells(TRUNCATED[name], symbol)
        top = max(s.l for s in shells)
        return tuple(s for s in shells if s.l < top)
    return element_shells(name, symbol)


def _element_spec(auxbasis, symbol, basis):
    """The fitting set of one element from the user's ``auxbasis`` (a name or a dict)."""
    if isinstance(auxbasis, str):
        if auxbasis.strip().lower() == "etb":
            return ("etb", even_tempered_spec(_orbital_name(basis, symbol), symbol))
        return canonical_auxbasis_name(auxbasis)
    lookup = {str(k).strip().lower(): v for k, v in auxbasis.items()}
    value = lookup.get(symbol.lower(), lookup.get("default"))
    if value is None:
        raise ValueError(f"no auxiliary basis given for element {symbol} (keys: {sorted(auxbasis)})")
    if isinstance(value, tuple):
        return value
    return _element_spec(str(value), symbol, basis)


def _orbital_name(basis, symbol):
    if isinstance(basis, str):
        return basis
    lookup = {str(k).strip().lower(): v for k, v in basis.items()}
    return lookup.get(symbol.lower(), lookup.get("default"))


def describe(spec_by_element: dict) -> str:
    """A short name for a per-element fitting choice: the set's name when it is one."""
    names = {v if isinstance(v, str) else "etb" for v in spec_by_element.values()}
    if len(names) == 1:
        return names.pop()
    return ", ".join(f"{s}:{v if isinstance(v, str) else 'etb'}" for s, v in spec_by_element.items())


@dataclass(frozen=True)
class AuxiliaryChoice:
    """The fitting set of a calculation: per element a name or an ETB spec, and a label."""

    per_element: tuple  # ((symbol, name or ("etb", spec)), ...)
    name: str


def resolve_auxbasis(molecule, basis, auxbasis=None, functional=None) -> AuxiliaryChoice:
    """Per-element fitting sets for ``molecule`` with orbital ``basis``.

    ``auxbasis``: None (PySCF's default for ``basis`` and ``functional``), a name
    (basis-set-exchange's, or PySCF's aliases such as 'def2-svp-jkfit', or 'etb' for
    even-tempered functions), or ``{symbol: name}`` with an optional "default".
    """
    symbols = list(dict.fromkeys(molecule.symbols))
    if auxbasis is None:
        spec = default_auxbasis(basis, symbols, functional)
    else:
        if not isinstance(auxbasis, (str, dict)):
            raise TypeError(f"auxbasis must be a name or a {{element: name}} dict, not {type(auxbasis)}")
        spec = {s: _element_spec(auxbasis, s, basis) for s in symbols}
    for symbol, value in spec.items():
        if isinstance(value, str):
            aux_element_shells(value, symbol)  # fail early on unknown sets or elements
    return AuxiliaryChoice(tuple(spec.items()), describe(spec))


def build_auxbasis(molecule, choice: AuxiliaryChoice, cartesian: bool = False) -> BasisSet:
    """The molecule's auxiliary :class:`BasisSet` (same object for the same input)."""
    return _build_auxbasis(tuple(molecule.symbols), choice.per_element, bool(cartesian), choice.name)


@lru_cache(maxsize=32)
def _build_auxbasis(symbols: tuple, per_element: tuple, cartesian: bool, name: str) -> BasisSet:
    spec = dict(per_element)
    shell_atom, shell_l, exponents, coefficients = [], [], [], []
    for atom, symbol in enumerate(symbols):
        value = spec[symbol]
        shells = aux_element_shells(value, symbol) if isinstance(value, str) else \
            even_tempered_shells(value[1])
        for shell in shells:
            shell_atom.append(atom)
            shell_l.append(shell.l)
            exponents.append(np.array(shell.exponents))
            coefficients.append(np.array(shell.coefficients))
    shell_l = np.array(shell_l, dtype=np.int64)
    sizes = np.array([ncart(l) if cartesian else nsph(l) for l in shell_l], dtype=np.int64)
    return BasisSet(
        name=name, cartesian=bool(cartesian), symbols=symbols,
        shell_atom=np.array(shell_atom, dtype=np.int64), shell_l=shell_l,
        shell_nprim=np.array([len(e) for e in exponents], dtype=np.int64),
        exponents=tuple(exponents), coefficients=tuple(coefficients),
        ao_offset=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
