"""Functionals by name, as PySCF and libxc spell them.

``get_functional(name)`` accepts, case-insensitively and ignoring ``-``, ``_`` and spaces:

* a registered name: PySCF's (``"b3lyp"``, ``"pbe0"``, ``"pbe"``, ``"blyp"``, ``"svwn"``,
  ``"lda"``, ``"hf"``, ...) or libxc's (``"gga_x_b88"``, ``"lda_c_vwn_rpa"``, ...);
* a PySCF-style sum ``"X terms, C terms"`` such as ``".2*HF + .08*LDA + .72*B88, .81*LYP
  + .19*VWN"``. Each term is ``[coefficient*]name``; terms are joined by ``+`` or a
  spaced ``-``. Before the comma, ``lda``/``slater``, ``b88``, ``pbe`` and ``hf`` mean
  exchange; after it, ``vwn``/``vwn5``, ``vwn3``/``vwn_rpa``, ``lyp``, ``pbe``, ``pw``,
  ``pw_mod`` and ``pz`` mean correlation; any registered name works in either place.

PySCF's meanings are kept where they surprise: ``"lda"`` is Slater exchange *only*
(``"svwn"`` or ``"lda,vwn"`` adds VWN5 correlation), ``"vwn"`` is VWN5, and ``"b3lyp"`` uses
VWN_RPA (``"b3lyp5"`` uses VWN5; see :data:`dftjax.xc.hybrids.B3LYP`).

Other modules add functionals with :func:`register`. The optional meta-GGA modules
(``dftjax.xc.mgga``, ``dftjax.xc.minnesota``) are imported on the first look-up, so their
functionals register themselves without this module depending on them.
"""

import importlib
import re

from . import gga, hybrids, lda
from .functional import Functional

_OPTIONAL_MODULES = ("dftjax.xc.mgga", "dftjax.xc.minnesota")

_REGISTRY = {}  # canonical key -> Functional
_NAMES = {}  # canonical key -> name as registered, for messages
_optional_loaded = False


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def register(functional: Functional, aliases=()) -> Functional:
    """Make ``functional`` available under its name and ``aliases``; returns it.

    Raises ValueError if a name is already taken by a different functional.
    """
    for name in (functional.name, *aliases):
        key = _key(name)
        existing = _REGISTRY.get(key)
        if existing is not None and existing is not functional:
            raise ValueError(f"functional name {name!r} is already registered (as {existing.name!r})")
        _REGISTRY[key] = functional
        _NAMES.setdefault(key, name.lower())
    return functional


def _load_optional_modules():
    global _optional_loaded
    if _optional_loaded:
        return
    _optional_loaded = True  # before importing: those modules may call get_functional
    for module in _OPTIONAL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise


def known_functionals():
    """Sorted names get_functional accepts (besides sums)."""
    _load_optional_modules()
    return sorted(set(_NAMES.values()))


def get_functional(name: str) -> Functional:
    """The functional called ``name`` (see the module docstring); ValueError if unknown."""
    _load_optional_modules()
    functional = _REGISTRY.get(_key(name))
    if functional is not None:
        return functional
    if re.search(r"[,*+]|\s-", name):
        return _parse_sum(name)
    raise ValueError(f"unknown functional {name!r}; known: {', '.join(known_functionals())}")


# PySCF reads a term by its place: before the comma exchange, after it correlation.
_EXCHANGE_TERMS = {"hf": hybrids.HF, "lda": lda.SLATER, "slater": lda.SLATER,
                   "b88": gga.B88, "pbe": gga.PBE_X}
_CORRELATION_TERMS = {"vwn": lda.VWN5, "vwn5": lda.VWN5, "vwn3": lda.VWN_RPA,
                      "vwnrpa": lda.VWN_RPA, "lyp": gga.LYP, "pbe": gga.PBE_C, "pw": lda.PW92,
                      "pw92": lda.PW92, "pwmod": lda.PW92_MOD, "pz": lda.PZ81, "pz81": lda.PZ81}

# [sign] [coefficient *] name; a '-' inside a name is kept unless a coefficient follows it.
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?"
_TERM = re.compile(rf"\s*([+-]?)\s*(?:({_NUMBER})\s*\*\s*)?"
                   rf"([a-z][a-z0-9_]*(?:-(?!{_NUMBER}\s*\*)[a-z0-9_]+)*)\s*")


def _parse_terms(text, slot_terms, description):
    terms, position = [], 0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None or match.end() == position or (terms and not match.group(1)):
            raise ValueError(f"cannot read {text[position:]!r} in functional {description!r}")
        sign, coefficient, name = match.groups()
        functional = slot_terms.get(_key(name)) or _REGISTRY.get(_key(name))
        if functional is None:
            raise ValueError(f"unknown functional {name!r} in {description!r}; "
                             f"known: {', '.join(known_functionals())}")
        value = float(coefficient) if coefficient else 1.0
        terms.append((-value if sign == "-" else value, functional))
        position = match.end()
    return terms


def _parse_sum(description: str) -> Functional:
    text = description.lower()
    parts = text.split(",")
    if len(parts) > 2:
        raise ValueError(f"functional {description!r} has more than one comma")
    terms = _parse_terms(parts[0], _EXCHANGE_TERMS, description)
    if len(parts) == 2:
        terms += _parse_terms(parts[1], _CORRELATION_TERMS, description)
    if not terms:
        raise ValueError(f"functional {description!r} has no terms")
    return hybrids.mix(re.sub(r"\s+", "", text), terms)


for _functional, _aliases in [
    (lda.SLATER, ("lda", "slater")),
    (lda.VWN5, ("vwn5",)),
    (lda.VWN_RPA, ("vwn_rpa", "vwn3", "vwnrpa")),
    (lda.PW92, ("pw92",)),
    (lda.PW92_MOD, ("pw_mod",)),
    (lda.PZ81, ("pz81",)),
    (gga.B88, ("b88",)),
    (gga.PBE_X, ()),
    (gga.PBE_C, ()),
    (gga.LYP, ("lyp",)),
    (hybrids.HF, ()),
    (hybrids.SVWN, ()),
    (hybrids.PBE, ()),
    (hybrids.BLYP, ()),
    (hybrids.B3LYP, ("b3lypg", "hyb_gga_xc_b3lyp")),
    (hybrids.B3LYP5, ()),
    (hybrids.PBE0, ("pbeh", "pbe1pbe", "hyb_gga_xc_pbeh")),
]:
    register(_functional, _aliases)
