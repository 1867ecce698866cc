"""Linear combinations of functionals: the composite GGAs, B3LYP and PBE0, and Hartree-Fock.

:func:`mix` builds any sum ``sum_i c_i f_i + hf_full * (exact exchange)``; the
coefficients live in ``params`` next to each component's own, so they are differentiable
like every other parameter. Definitions are libxc's (and so PySCF's), with the mixing
coefficients computed the way libxc computes them.
"""

from typing import Sequence, Tuple

import jax.numpy as jnp

from .functional import FEATURE_NAMES, Features, Functional
from .gga import B88, LYP, PBE_C, PBE_X
from .lda import SLATER, VWN5, VWN_RPA


def mix(name: str, terms: Sequence[Tuple[float, Functional]], hf_full: float = 0.0,
        hf_long_range: float = 0.0, omega: float = 0.0) -> Functional:
    """The functional ``sum_i c_i f_i`` for ``terms = [(c_i, f_i), ...]`` plus exact exchange.

    ``hf_full`` full-range and ``hf_long_range`` erf-attenuated (parameter ``omega``) exact
    exchange are added to the components' own fractions, weighted by their coefficients;
    everything with long-range exchange must share one omega.
    """
    terms = tuple(terms)
    densities = tuple(functional.energy_density for _, functional in terms)
    needed = {feature for _, functional in terms for feature in functional.needs}
    omegas = {functional.omega for _, functional in terms if functional.hf_long_range != 0.0}
    if hf_long_range != 0.0:
        omegas.add(omega)
    if len(omegas) > 1:
        raise ValueError(f"{name}: components have different range-separation omegas {sorted(omegas)}")

    def energy_density(params, features: Features):
        total = jnp.zeros_like(jnp.asarray(features.rho)[0])
        for density, (coefficient, component_params) in zip(densities, params):
            total = total + coefficient * density(component_params, features)
        return total

    return Functional(
        name=name,
        energy_density=energy_density,
        needs=tuple(feature for feature in FEATURE_NAMES if feature in needed or feature == "rho"),
        params=tuple((coefficient, functional.params) for coefficient, functional in terms),
        hf_full=hf_full + sum(c * functional.hf_full for c, functional in terms),
        hf_long_range=hf_long_range + sum(c * functional.hf_long_range for c, functional in terms),
        omega=omegas.pop() if omegas else 0.0,
    )


def _b3lyp(name, lda_correlation):
    # libxc hyb_gga_xc_b3lyp.c: a0 = 0.20, ax = 0.72, ac = 0.81 and the weights
    # 1 - a0 - ax (Slater), ax (B88), 1 - ac (LDA correlation), ac (LYP).
    a0, ax, ac = 0.20, 0.72, 0.81
    return mix(name, [(1.0 - a0 - ax, SLATER), (ax, B88), (1.0 - ac, lda_correlation), (ac, LYP)],
               hf_full=a0)


B3LYP = _b3lyp("b3lyp", VWN_RPA)
"""B3LYP: 0.2 HF + 0.08 Slater + 0.72 B88 exchange, 0.19 VWN + 0.81 LYP correlation.

P. J. Stephens, F. J. Devlin, C. F. Chabalowski and M. J. Frisch, J. Phys. Chem. 98,
11623 (1994). Which VWN differs between codes: libxc's ``hyb_gga_xc_b3lyp`` and PySCF's
``"b3lyp"`` (which PySCF also names ``"b3lypg"``, Gaussian's) use the RPA fit,
libxc's lda_c_vwn_rpa: that is ``B3LYP`` here. Codes such as Turbomole and ORCA use VWN5
by default, which PySCF calls ``"b3lyp5"`` and is ``B3LYP5`` here.
"""

B3LYP5 = _b3lyp("b3lyp5", VWN5)
"""B3LYP with VWN5 correlation (PySCF's "b3lyp5"; see ``B3LYP``)."""

PBE0 = mix("pbe0", [(1.0 - 0.25, PBE_X), (1.0, PBE_C)], hf_full=0.25)
"""PBE0 (libxc hyb_gga_xc_pbeh): 0.25 HF + 0.75 PBE exchange, PBE correlation.

C. Adamo and V. Barone, J. Chem. Phys. 110, 6158 (1999); M. Ernzerhof and G. E. Scuseria,
J. Chem. Phys. 110, 5029 (1999).
"""

PBE = mix("pbe", [(1.0, PBE_X), (1.0, PBE_C)])
BLYP = mix("blyp", [(1.0, B88), (1.0, LYP)])
SVWN = mix("svwn", [(1.0, SLATER), (1.0, VWN5)])
HF = mix("hf", [], hf_full=1.0)
