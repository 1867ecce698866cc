"""Functionals by name, as PySCF and libxc spell them.

``get_functional(name)`` accepts, case-insensitively and ignoring ``-``, ``_`` and spaces:

* a registered name: PySCF's (``"b3lyp"``, ``"pbe0"``, ``"pbe"``, ``"blyp"``, ``"svwn"``,
  ``"lda"``, ``"hf"``, ...) or libxc's (``"gga_x_b88"``, ``"lda_c_vwn_rpa"``, ...);
* a PySCF-style sum ``"X terms, C terms"`` such as ``".2*HF + .08*LDA + .72*B88, .81*LYP
  + .19*VWN"``. Each term is ``[coefficient*]name``; terms are joined by ``+`` or a
  spaced ``-``. Before the comma, ``lda``/``slater``, ``b88``, ``pbe`` and ``hf`` mean
  exchange; after it, ``vwn``/``vwn5``, ``vwn3``/``vwn_rpa``, ``lyp``, ``pbe``, ``pw``,
  ``pw_mod`` and ``pz`` mean correlation. Registered components may also be named as
  libxc does (``gga_x_b88`` before the comma, ``lda_c_vwn`` after it, ``hyb_gga_xc_b3lyp``
  in either place). Composite names (``tpss``, ``b3lyp``) are not terms: PySCF reads
  ``"tpss,tpss"`` as TPSS exchange plus TPSS correlation, a split this registry does not know.

PySCF's meanings are kept where they surprise: ``"lda"`` is Slater exchange *only*
(``"svwn"`` or ``"lda,vwn"`` adds VWN5 correlation), ``"vwn"`` is VWN5, and ``"b3lyp"`` uses
VWN_RPA (``"b3lyp5"`` uses VWN5; see :data:`dftjax.xc.hybrids.B3LYP`).

The table is filled when this module is imported: the LDA, GGA and hybrid components
below, then every module's ``FUNCTIONALS`` (name -> Functional: meta-GGAs, Minnesota,
range-separated). Other code adds functionals with :func:`register`.
"""

import dataclasses
import re

from . import gga, hybrids, lda, mgga, minnesota, neural, range_separated
from .functional import Functional, mark_built_in

_REGISTRY = {}  # canonical key -> Functional
_NAMES = {}  # canonical key -> name as registered, for messages


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


def known_functionals():
    """Sorted names get_functional accepts (besides sums)."""
    return sorted(set(_NAMES.values()))


def get_functional(name: str) -> Functional:
    """The functional called ``name`` (see the module docstring); ValueError if unknown.

    ``"NAME:PATH"`` (``"nn-metagga:trained.npz"``) is the registered functional NAME with
    the parameters of the parameter file PATH (:func:`dftjax.params_io.load_pytree`).
    """
    base, colon, path = name.partition(":")
    if colon and _key(base) in _REGISTRY:
        return _with_parameter_file(_REGISTRY[_key(base)], path)
    functional = _REGISTRY.get(_key(name))
    if functional is not None:
        return functional
    if re.search(r"[,*+]|\s-", name):
        return _parse_sum(name)
    raise ValueError(f"unknown functional {name!r}; known: {', '.join(known_functionals())}")


_parameter_files = {}  # (functional, resolved path, mtime) -> Functional: reuse compiled code


def _with_parameter_file(functional, path):
    """``functional`` with the parameters stored in ``path``, checked against its own."""
    from pathlib import Path

    from ..params_io import load_pytree, match_params

    resolved = Path(path).expanduser().resolve()
    key = (functional, str(resolved), resolved.stat().st_mtime_ns if resolved.is_file() else None)
    if key not in _parameter_files:
        params, metadata = load_pytree(resolved)
        form = metadata.get("form")
        if form is not None and _key(form) != _key(functional.name):
            raise ValueError(f"parameter file {path!r} holds {form!r} parameters, not {functional.name!r}")
        # matched by path: the file keeps no tuples (a trained PBE's comes back in lists)
        try:
            params = match_params(params, functional.params)
        except ValueError as error:
            raise ValueError(f"parameter file {path!r} does not fit {functional.name!r}: "
                             f"{error}") from None
        _parameter_files[key] = dataclasses.replace(functional, name=f"{functional.name}:{path}",
                                                    params=params)
    return _parameter_files[key]


# PySCF reads a term by its place: before the comma exchange, after it correlation.
_EXCHANGE_TERMS = {"hf": hybrids.HF, "lda": lda.SLATER, "slater": lda.SLATER,
                   "b88": gga.B88, "pbe": gga.PBE_X}
_CORRELATION_TERMS = {"vwn": lda.VWN5, "vwn5": lda.VWN5, "vwn3": lda.VWN_RPA,
                      "vwn_rpa": lda.VWN_RPA, "lyp": gga.LYP, "pbe": gga.PBE_C, "pw": lda.PW92,
                      "pw92": lda.PW92, "pw_mod": lda.PW92_MOD, "pz": lda.PZ81, "pz81": lda.PZ81}
_LIBXC_NAME = r"(hyb_)?(lda|gga|mgga)_({kinds})(_\w+)?"

# [sign] [coefficient *] name; a '-' inside a name is kept unless a coefficient follows it.
_NUMBER = r"(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?"
_TERM = re.compile(rf"\s*([+-]?)\s*(?:({_NUMBER})\s*\*\s*)?"
                   rf"([a-z][a-z0-9_]*(?:-(?!{_NUMBER}\s*\*)[a-z0-9_]+)*)\s*")


def _parse_terms(text, slot_terms, libxc_kinds, description):
    terms, position = [], 0
    while position < len(text):
        match = _TERM.match(text, position)
        if match is None or match.end() == position or (terms and not match.group(1)):
            raise ValueError(f"cannot read {text[position:]!r} in functional {description!r}")
        sign, coefficient, name = match.groups()
        functional = {_key(term): f for term, f in slot_terms.items()}.get(_key(name))
        if functional is None and re.fullmatch(_LIBXC_NAME.format(kinds=libxc_kinds), name):
            functional = _REGISTRY.get(_key(name))
        if functional is None:
            any_libxc_name = _LIBXC_NAME.format(kinds="x|c|xc")
            libxc_names = [n for n in known_functionals() if re.fullmatch(any_libxc_name, n)]
            raise ValueError(
                f"unknown term {name!r} in {description!r}: sums take {', '.join(sorted(_EXCHANGE_TERMS))}"
                f" before the comma, {', '.join(sorted(_CORRELATION_TERMS))} after it, and the libxc"
                f" names of registered components ({', '.join(libxc_names)})")
        value = float(coefficient) if coefficient else 1.0
        terms.append((-value if sign == "-" else value, functional))
        position = match.end()
    return terms


def _parse_sum(description: str) -> Functional:
    text = description.lower()
    parts = text.split(",")
    if len(parts) > 2:
        raise ValueError(f"functional {description!r} has more than one comma")
    terms = _parse_terms(parts[0], _EXCHANGE_TERMS, "x|xc", description)
    if len(parts) == 2:
        terms += _parse_terms(parts[1], _CORRELATION_TERMS, "c|xc", description)
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
    (neural.NN_LSDA, ()),
    (neural.NN_GGA, ()),
    (neural.NN_METAGGA, ("nn-mgga",)),
    (neural.NN_NRA, ()),
]:
    register(_functional, _aliases)

for _module in (mgga, minnesota, range_separated):
    for _name, _functional in _module.FUNCTIONALS.items():
        register(_functional, aliases=(_name,))

mark_built_in(_REGISTRY.values())  # dftjax's own, before any user registers one
