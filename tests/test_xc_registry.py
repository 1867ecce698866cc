"""Functional names and sums as PySCF spells them, and registration of new functionals."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dftjax.xc import Features, Functional, get_functional, register
from dftjax.xc import registry
from dftjax.xc.hybrids import mix

pytestmark = pytest.mark.usefixtures("scratch_registry")  # registrations stay in a test

FEATURES = Features(rho=jnp.array([[0.3, 2e-3, 0.0], [0.1, 1e-3, 0.4]]),
                    sigma=jnp.array([[0.1, 1e-6, 0.0], [0.02, 2e-7, 0.0], [0.05, 1e-6, 0.3]]))


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_NAMES", dict(registry._NAMES))


def test_names_are_case_and_separator_insensitive():
    assert get_functional("B3LYP") is get_functional("b3lyp") is get_functional(" b3lyp ")
    assert get_functional("PBE1PBE") is get_functional("pbe0") is get_functional("hyb_gga_xc_pbeh")
    assert get_functional("VWN-RPA") is get_functional("vwn_rpa") is get_functional("VWN3")


def test_pyscf_meanings():
    lda = get_functional("lda")
    assert lda.name == "lda_x" and lda.needs == ("rho",) and not lda.is_hybrid
    np.testing.assert_allclose(get_functional("svwn")(FEATURES),
                               lda(FEATURES) + get_functional("lda_c_vwn")(FEATURES), rtol=1e-14)
    hf = get_functional("hf")
    assert hf.hf_full == 1.0 and not np.any(hf(FEATURES))
    b3lyp = get_functional("b3lyp")
    assert b3lyp.family == "gga" and b3lyp.hf_full == 0.2 and b3lyp.omega == 0.0
    assert get_functional("pbe0").hf_full == 0.25


@pytest.mark.parametrize("description, named", [
    (".2*HF + .08*LDA + .72*B88, .81*LYP + .19*VWN_RPA", "b3lyp"),
    ("0.2*hf + 0.08*slater + 0.72*b88, 0.81*lyp + 0.19*vwn3", "b3lyp"),
    (".2*HF + .08*SLATER + .72*B88, .81*LYP + .19*VWN", "b3lyp5"),
    (".25*HF + .75*PBE, PBE", "pbe0"),
    ("LDA,VWN", "svwn"),
    ("B88,LYP", "blyp"),
    ("gga_x_b88, gga_c_lyp", "blyp"),
    ("0.5*hyb_gga_xc_b3lyp + 0.5*hyb_gga_xc_b3lyp", "b3lyp"),
])
def test_sums_equal_named_functionals(description, named):
    summed, reference_functional = get_functional(description), get_functional(named)
    assert summed.hf_full == pytest.approx(reference_functional.hf_full, abs=1e-15)
    assert summed.needs == reference_functional.needs
    np.testing.assert_allclose(summed(FEATURES), reference_functional(FEATURES), rtol=1e-14, atol=0)


def test_subtraction_and_bare_names():
    difference = get_functional("b88 - 0.5*lda")
    np.testing.assert_allclose(difference(FEATURES),
                               get_functional("b88")(FEATURES) - 0.5 * get_functional("lda")(FEATURES),
                               rtol=1e-14)
    assert get_functional(",lyp").needs == ("rho", "sigma")


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown functional 'b3lpy'; known: .*b3lyp.*pbe0"):
        get_functional("b3lpy")


@pytest.mark.parametrize("bad", ["b88-lyp", "0.2*", "b88 lyp", "b88,lyp,vwn", "0.5*nonsense + lyp",
                                 "0.5*b3lyp", "pbe,pbe0", "lyp,b88", "gga_c_lyp,", ",gga_x_b88"])
def test_malformed_sums_raise(bad):
    with pytest.raises(ValueError):
        get_functional(bad)


def test_register_adds_names_and_refuses_clashes(scratch_registry):
    def half_slater(params, features):
        return 0.5 * get_functional("lda")(features)

    functional = register(Functional("half_slater", half_slater), aliases=("hs",))
    assert get_functional("HALF-SLATER") is functional is get_functional("hs")
    assert "half_slater" in registry.known_functionals()
    register(functional)  # the same object again is fine
    with pytest.raises(ValueError, match="already registered"):
        register(Functional("b3lyp", half_slater))


def test_every_module_table_is_registered():
    from dftjax.xc import mgga, minnesota, range_separated

    for module in (mgga, minnesota, range_separated):
        assert module.FUNCTIONALS
        for name, functional in module.FUNCTIONALS.items():
            assert get_functional(name) is functional
    for name in ("r2scan", "m06-l", "wb97x", "cam-b3lyp"):
        assert name in registry.known_functionals()


def test_mix_adds_exact_exchange_and_checks_omega():
    long_range = mix("lr", [(1.0, get_functional("pbe"))], hf_long_range=0.5, omega=0.3)
    combined = mix("combined", [(0.5, long_range), (1.0, get_functional("pbe0"))], hf_full=0.1)
    assert combined.hf_full == pytest.approx(0.35)
    assert (combined.hf_long_range, combined.omega) == (0.25, 0.3)
    other = mix("other", [(1.0, get_functional("pbe"))], hf_long_range=0.5, omega=0.4)
    with pytest.raises(ValueError, match="omega"):
        mix("clash", [(1.0, long_range), (1.0, other)])


def test_parameter_file_of_a_functional_with_tuples(tmp_path):
    """PBE's parameters hold tuples; its trained parameters, saved (lists) and loaded as
    ``pbe:PATH``, are PBE's structure with the file's values, and a file of another shape
    is refused by name."""
    from dftjax.params_io import save_pytree

    pbe = get_functional("pbe")
    moved = jax.tree_util.tree_map(lambda x: np.asarray(x) * 1.01, pbe.params)
    path = save_pytree(tmp_path / "pbe.npz", moved)
    trained = get_functional(f"pbe:{path}")
    assert jax.tree_util.tree_structure(trained.params) == jax.tree_util.tree_structure(pbe.params)
    for a, b in zip(jax.tree_util.tree_leaves(trained.params), jax.tree_util.tree_leaves(moved)):
        assert float(a) == float(b)
    assert not np.allclose(trained(FEATURES), pbe(FEATURES), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="does not fit 'pbe': parameter paths"):
        get_functional(f"pbe:{save_pytree(tmp_path / 'other.npz', {'scale': np.ones(1)})}")
