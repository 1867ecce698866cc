"""Atomic orbitals and their derivatives on points: phi_mu(r_p), grad phi, Hessian of phi.

An AO of a shell with angular momentum l on atom A is, with (x, y, z) = r - R_A,

    phi(r) = sum_c T[m, c] x^a_c y^b_c z^c_c * G(|r - R_A|^2),   G(s) = sum_k d_k exp(-alpha_k s),

T = :func:`dftjax.integrals.one_electron.ao_transform` (Cartesian monomials to PySCF's
normalised spherical or Cartesian AOs) and d_k the normalised contraction coefficients.
With M the monomial, g1 = G'(s) * 2 and g2 = G''(s) * 4 (so dG/dx_i = x_i g1),

    d_i phi      = M_i G + M x_i g1,
    d_i d_j phi  = M_ij G + (M_i x_j + M_j x_i) g1 + M (delta_ij g1 + x_i x_j g2).

Output layout (as PySCF's ``mol.eval_gto('GTOval_sph_deriv2', points)``): shape
(ncomp, npts, nao), components value; d/dx, d/dy, d/dz (deriv >= 1); xx, xy, xz, yy,
yz, zz (deriv = 2). Units: Bohr^-3/2, one more Bohr^-1 per derivative.

Shells are grouped by angular momentum: each class is one vectorised computation over
(points, shells, primitives), primitives padded with zero coefficients to the longest
contraction of the class. Everything is differentiable with respect to the atom
coordinates and the points. With ``block_size`` the points go through ``lax.map`` in
blocks of that fixed size, so the intermediates stay bounded.
"""

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from dftjax.basis.spherical import cartesian_powers
from dftjax.integrals.one_electron import ao_transform

NCOMP = {0: 1, 1: 4, 2: 10}
"""Number of components (value and derivatives) for ``deriv`` = 0, 1, 2."""

# Second-derivative components in PySCF's order, as pairs of axes.
_SECOND_DERIVATIVES = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))


@partial(jax.tree_util.register_dataclass,
         data_fields=["shell_atom", "exponents", "coefficients", "ao_order"],
         meta_fields=["angular_momenta", "cartesian", "nao"])
@dataclass(frozen=True, eq=False)
class AOPlan:
    """A basis laid out for evaluation on points, one entry per angular-momentum class.

    Attributes
    ----------
    angular_momenta : tuple of int
        l of each class.
    cartesian : bool
    nao : int
    shell_atom : tuple of numpy.ndarray of int, each (nshell_l,)
    exponents, coefficients : tuple of numpy.ndarray, each (nshell_l, nprim_l)
        Padding primitives have coefficient 0 (and exponent 1).
    ao_order : numpy.ndarray of int, shape (nao,)
        Column of the class-by-class concatenation that holds each AO.
    """

    shell_atom: tuple
    exponents: tuple
    coefficients: tuple
    ao_order: np.ndarray
    angular_momenta: tuple
    cartesian: bool
    nao: int


def ao_plan(basis):
    """Group the shells of a :class:`dftjax.BasisSet` by angular momentum."""
    shell_atom, exponents, coefficients, class_aos = [], [], [], []
    angular_momenta = tuple(int(l) for l in np.unique(basis.shell_l))
    for l in angular_momenta:
        shells = np.flatnonzero(basis.shell_l == l)
        nprim = int(basis.shell_nprim[shells].max())
        alpha = np.ones((len(shells), nprim))
        coef = np.zeros((len(shells), nprim))
        for row, shell in enumerate(shells):
            alpha[row, : basis.shell_nprim[shell]] = basis.exponents[shell]
            coef[row, : basis.shell_nprim[shell]] = basis.coefficients[shell]
        shell_atom.append(basis.shell_atom[shells])
        exponents.append(alpha)
        coefficients.append(coef)
        class_aos.append((basis.ao_offset[shells][:, None] + np.arange(basis.shell_size(l))).ravel())
    return AOPlan(
        shell_atom=tuple(shell_atom),
        exponents=tuple(exponents),
        coefficients=tuple(coefficients),
        ao_order=np.argsort(np.concatenate(class_aos)),
        angular_momenta=angular_momenta,
        cartesian=basis.cartesian,
        nao=basis.nao,
    )


def _axis_factors(displacement, l, deriv):
    """d^k/dx^k x^a for every Cartesian component and k = 0..deriv.

    Returns a list over k of (npts, nshell, ncart, 3): the factor of each axis. Powers
    are built by repeated multiplication, not ``x ** n``, whose derivative at x = 0 and
    n = 0 would be NaN.
    """
    powers = [jnp.ones_like(displacement)]
    for _ in range(l):
        powers.append(powers[-1] * displacement)
    powers = jnp.stack(powers, axis=-1)  # (npts, nshell, 3, l + 1)
    exponent = cartesian_powers(l)  # (ncart, 3)
    axis = np.arange(3)
    factors = []
    for k in range(deriv + 1):
        falling = np.ones_like(exponent)
        for step in range(k):
            falling = falling * (exponent - step)
        lowered = np.maximum(exponent - k, 0)
        factors.append(falling * powers[:, :, axis, lowered])  # (npts, nshell, ncart, 3)
    return factors


def _monomial(factors, orders):
    """Derivative of x^a y^b z^c of order ``orders`` = (kx, ky, kz), (npts, nshell, ncart)."""
    return factors[orders[0]][..., 0] * factors[orders[1]][..., 1] * factors[orders[2]][..., 2]


def _class_values(points, atom_coordinates, shell_atom, alpha, coef, l, cartesian, deriv):
    """AOs of one angular-momentum class, (ncomp, npts, nshell * nfunc)."""
    displacement = points[:, None, :] - atom_coordinates[shell_atom][None, :, :]
    squared = jnp.sum(displacement**2, axis=-1)
    gaussians = coef * jnp.exp(-alpha * squared[..., None])  # (npts, nshell, nprim)
    radial = [jnp.sum(gaussians, axis=-1)]
    for k in range(deriv):
        radial.append(jnp.sum(gaussians * (-2.0 * alpha) ** (k + 1), axis=-1))
    radial = [r[..., None] for r in radial]  # G, g1, g2 with a Cartesian axis
    factors = _axis_factors(displacement, l, deriv)
    position = [displacement[..., i, None] for i in range(3)]

    def unit(*axes):
        orders = [0, 0, 0]
        for i in axes:
            orders[i] += 1
        return tuple(orders)

    monomial = _monomial(factors, (0, 0, 0))
    components = [monomial * radial[0]]
    if deriv >= 1:
        first = [_monomial(factors, unit(i)) for i in range(3)]
        components += [first[i] * radial[0] + monomial * position[i] * radial[1] for i in range(3)]
    if deriv >= 2:
        for i, j in _SECOND_DERIVATIVES:
            value = (_monomial(factors, unit(i, j)) * radial[0]
                     + (first[i] * position[j] + first[j] * position[i]) * radial[1]
                     + monomial * position[i] * position[j] * radial[2])
            if i == j:
                value = value + monomial * radial[1]
            components.append(value)
    cart = jnp.stack(components)  # (ncomp, npts, nshell, ncart)
    values = jnp.einsum("qpsc,fc->qpsf", cart, ao_transform(l, cartesian))
    return values.reshape(values.shape[0], values.shape[1], -1)


def _evaluate(plan, atom_coordinates, points, deriv):
    classes = [
        _class_values(points, atom_coordinates, plan.shell_atom[i], plan.exponents[i],
                      plan.coefficients[i], l, plan.cartesian, deriv)
        for i, l in enumerate(plan.angular_momenta)
    ]
    return jnp.concatenate(classes, axis=-1)[..., plan.ao_order]


@partial(jax.jit, static_argnames=("deriv", "block_size"))
def evaluate_ao(plan, atom_coordinates, points, deriv=0, block_size=None):
    """AOs of an :class:`AOPlan` on points: the jitted core of :func:`ao_values`.

    Compiles once per basis layout, number of points, ``deriv`` and ``block_size``;
    new coordinates or points of the same shapes reuse the compiled code.
    """
    atom_coordinates = jnp.asarray(atom_coordinates, dtype=jnp.float64)
    points = jnp.asarray(points, dtype=jnp.float64)
    if block_size is None or points.shape[0] <= block_size:
        return _evaluate(plan, atom_coordinates, points, deriv)
    npts = points.shape[0]
    nblock = -(-npts // block_size)
    padded = jnp.concatenate([points, jnp.zeros((nblock * block_size - npts, 3))])
    blocks = jax.lax.map(
        jax.checkpoint(lambda block: _evaluate(plan, atom_coordinates, block, deriv)),
        padded.reshape(nblock, block_size, 3),
    )  # (nblock, ncomp, block, nao)
    values = jnp.moveaxis(blocks, 0, 1).reshape(NCOMP[deriv], nblock * block_size, plan.nao)
    return values[:, :npts]


def ao_values(basis, atom_coordinates, points, deriv=0, block_size=None):
    """Atomic orbitals and their derivatives on points.

    Parameters
    ----------
    basis : BasisSet
        From :func:`dftjax.build_basis`.
    atom_coordinates : array_like
        Atom positions in Bohr, shape (natom, 3).
    points : array_like
        Points in Bohr, shape (npts, 3).
    deriv : int
        0: values; 1: and the gradient; 2: and the six second derivatives.
    block_size : int, optional
        Evaluate in blocks of this many points (e.g. 4096) to bound the memory of the
        intermediates; the result is the same.

    Returns
    -------
    jax.Array
        Shape (ncomp, npts, nao) with ncomp = 1, 4, 10 for deriv = 0, 1, 2; components
        value, x, y, z, xx, xy, xz, yy, yz, zz, AOs in PySCF's order.
    """
    if deriv not in NCOMP:
        raise ValueError(f"deriv must be 0, 1 or 2, got {deriv}")
    return evaluate_ao(ao_plan(basis), atom_coordinates, points, deriv=deriv, block_size=block_size)
