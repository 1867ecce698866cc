"""The neural XC functionals of Nagai, Akashi & Sugino (npj Comput. Mater. 6, 43, 2020).

Four forms share one network, a fully connected ``n_in -> 100 -> 100 -> 100 -> 1`` with an
ELU after *every* layer (the output layer included), fed the natural logarithms of these
descriptors of the raw inputs ``rho_a, rho_b, gamma_aa, gamma_ab, gamma_bb, tau_a, tau_b, R``
(libxc conventions, tau with the 1/2, atomic units), as the released code
(ml-electron-project/NNfunctional, commit 3f4a979) computes them with eps0 = 1e-7:

* u = (n + eps0)^(1/3), n = rho_a + rho_b;
* phi4 = [(1 + zeta)^(4/3) + (1 - zeta)^(4/3)] / 2, zeta = (rho_a - rho_b) / (n + eps0);
* g = (sqrt(gamma_aa + gamma_bb + 2 gamma_ab) + eps0) / u^4                    (GGA and up);
* t = (tau_a + tau_b + eps0) / (u^5 d5), d5 = (1 + zeta)^(5/3) + (1 - zeta)^(5/3)  (meta-GGA, NRA);
* R, the nonlocal descriptor of :mod:`dftjax.xc.nra`                          (NRA).

With o the network's output, the XC energy per electron is

    eps_xc = -(ELU(o) + 1) n^(1/3) phi4          (Hartree; this n^(1/3) has no eps0)

and the energy per volume handed to the engine is e_xc = n eps_xc.

**Where eps0 goes.** The released ``eval_xc`` adds eps0 to each of gamma_aa, gamma_ab,
gamma_bb (restricted: gamma_ss = |grad n|^2 / 4 + eps0 for all three, which is the same
numbers, since a closed shell has gamma_ss = gamma_ab = |grad n|^2 / 4), and feeds
rho_s = n / 2 and tau_s = tau / 2 for closed shells, which again is what spin-resolved
features of a closed shell hold. So the engine's spin-resolved features reproduce the
released restricted and unrestricted paths alike: :func:`network_inputs` adds eps0 to the
three sigmas and passes rho and tau as they are; R already carries its eps0.

1 +- zeta are formed as (2 rho_s + eps0) / (n + eps0), the same numbers without the
cancellation, and spin densities below zero (round-off) are read as zero, so every value
and gradient is finite at n = 0 and at full polarisation. Evaluated in float64 (the
original ran float32).

**Published meta-GGA energies.** With these definitions the SCF energies agree with PySCF
2's ``define_xc_`` hook running the released ``eval_xc`` in float64 (to 1e-9 Ha), and with
the energies of the original implementation published in libnxc's tests to 4e-7 (LSDA)
and 4e-6 Ha (GGA); the meta-GGA's published values lie +4.1e-4 (H2O/6-31G) and -6.7e-5 Ha
(Li) away. Not the cause: tau's 1/2 (tau doubled or halved moves water's energy by 0.3 to
0.7 Ha), eps0's placement (identical in restricted and unrestricted paths, see above), or
PySCF 1.6's meta-GGA Fock build (the released numint.py applies 1/2 v_tau grad phi . grad
phi, as PySCF 2 does). Cause not established; libnxc compares these energies with
``np.allclose`` (relative 1e-5, 7.6e-4 Ha on water), so they were never held tighter.
Through PySCF 2's hook, returning a zero ``vlapl`` array (as the released script does)
silently drops ``vtau`` from the Fock matrix: 1e-2 Ha on water.

Parameters: ``{"layers": [{"weight": (n_in, n_out), "bias": (n_out,)}, ...]}``; a layer is
``x @ weight + bias``.
"""

import math

import jax
import jax.numpy as jnp

EPSILON = 1e-7
"""eps0 of the released code."""

HIDDEN = 100

FORMS = {
    "nn-lsda": ("rho",),
    "nn-gga": ("rho", "sigma"),
    "nn-metagga": ("rho", "sigma", "tau"),
    "nn-nra": ("rho", "sigma", "tau", "nra"),
}
"""Each form's name and the features it reads."""


def n_descriptors(form):
    """Number of network inputs of ``form``: u and phi4, then one per further feature."""
    return len(FORMS[form]) + 1


def log_descriptors(rho, sigma=None, tau=None, nra=None):
    """The logarithms of the descriptors (npts, 2 to 5) from raw inputs.

    ``rho`` (2, npts); ``sigma`` (3, npts) gamma_aa, gamma_ab, gamma_bb *with eps0 already
    added to each*; ``tau`` (2, npts); ``nra`` (npts,) R (with its eps0). Also returns
    n (npts,) and phi4 (npts,).
    """
    rho = jnp.maximum(rho, 0.0)
    n = rho[0] + rho[1]
    n_eps = n + EPSILON
    log_u = jnp.log(n_eps) / 3.0
    one_plus, one_minus = (2.0 * rho[0] + EPSILON) / n_eps, (2.0 * rho[1] + EPSILON) / n_eps
    phi4 = 0.5 * (one_plus ** (4.0 / 3.0) + one_minus ** (4.0 / 3.0))
    columns = [log_u, jnp.log(phi4)]
    if sigma is not None:
        gradient_norm = jnp.sqrt(jnp.maximum(sigma[0] + sigma[2] + 2.0 * sigma[1], 0.0))
        columns.append(jnp.log(gradient_norm + EPSILON) - 4.0 * log_u)
    if tau is not None:
        d5 = one_plus ** (5.0 / 3.0) + one_minus ** (5.0 / 3.0)
        columns.append(jnp.log(tau[0] + tau[1] + EPSILON) - 5.0 * log_u - jnp.log(d5))
    if nra is not None:
        columns.append(jnp.log(nra))
    return jnp.stack(columns, axis=-1), n, phi4


def network(params, x):
    """The released MLP, ELU after every layer: (npts, n_in) -> (npts,)."""
    for layer in params["layers"]:
        x = jax.nn.elu(x @ layer["weight"] + layer["bias"])
    return x[:, 0]


def epsilon_xc(params, rho, sigma=None, tau=None, nra=None):
    """eps_xc (npts,), Hartree per electron, of raw inputs (see :func:`log_descriptors`)."""
    descriptors, n, phi4 = log_descriptors(rho, sigma, tau, nra)
    return -(network(params, descriptors) + 1.0) * jnp.cbrt(n) * phi4


def network_inputs(features, needs):
    """The raw inputs of the released code from engine features, those in ``needs`` only
    (others None): eps0 added to each sigma."""
    sigma = features.sigma + EPSILON if "sigma" in needs else None
    return (features.rho, sigma, features.tau if "tau" in needs else None,
            features.nra if "nra" in needs else None)


def energy_density(params, features, needs):
    """e_xc = n eps_xc (npts,), Hartree / Bohr^3, of the form that reads ``needs`` (one of
    :data:`FORMS`' values); zero, with finite derivatives, where n = 0."""
    rho, sigma, tau, nra = network_inputs(features, needs)
    descriptors, n, phi4 = log_descriptors(rho, sigma, tau, nra)
    occupied = n > 0.0
    n_safe = jnp.where(occupied, n, 1.0)  # n^(4/3) has a finite slope at 0, n * cbrt(n) does not
    n_four_thirds = jnp.where(occupied, n_safe * jnp.cbrt(n_safe), 0.0)
    return -(network(params, descriptors) + 1.0) * n_four_thirds * phi4


def weight_shapes(form):
    """(n_in, n_out) of each layer's weight matrix of ``form``'s network, input first."""
    sizes = [n_descriptors(form), HIDDEN, HIDDEN, HIDDEN, 1]
    return list(zip(sizes[:-1], sizes[1:]))


def init_params(form, key):
    """Fresh parameters for ``form``, as ``torch.nn.Linear`` initialises them: weights and
    biases uniform in +-1/sqrt(n_in)."""
    layers = []
    for n_in, n_out in weight_shapes(form):
        key, weight_key, bias_key = jax.random.split(key, 3)
        bound = 1.0 / math.sqrt(n_in)
        layers.append({
            "weight": jax.random.uniform(weight_key, (n_in, n_out), jnp.float64, -bound, bound),
            "bias": jax.random.uniform(bias_key, (n_out,), jnp.float64, -bound, bound)})
    return {"layers": layers}
