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

Shells are grouped by angular momentum and number of primitives: each class is one
vectorised computation over (points, shells, primitives), with no padded primitives.
The monomials and their derivatives are products of powers of x, y, z chosen on the
host (no gathers), and T is applied to them before the radial factors, so the work per
class is ~ npts * nshell * (nprim + ncomp * nfunc). Everything is differentiable with respect to the atom
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
         meta_fields=["angular_momenta", "cartesian", "nao", "shells"])
@dataclass(frozen=True, eq=False)
class AOPlan:
    """A basis laid out for evaluation on points, one entry per class of shells with the
    same angular momentum and number of primitives.

    Attributes
    ----------
    angular_momenta : tuple of int
        l of each class (a value may repeat, for classes of different contraction lengths).
    cartesian : bool
    nao : int
    shells : tuple of tuple of int
        The basis's shells in each class, in order.
    shell_atom : tuple of numpy.ndarray of int, each (nshell_c,)
    exponents, coefficients : tuple of numpy.ndarray, each (nshell_c, nprim_c)
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
    shells: tuple


def ao_plan(basis):
    """Group the shells of a :class:`dftjax.BasisSet` by angular momentum and contraction length."""
    shell_atom, exponents, coefficients, class_aos, momenta, members = [], [], [], [], [], []
    for l, nprim in sorted(set(zip(basis.shell_l.tolist(), basis.shell_nprim.tolist()))):
        shells = np.flatnonzero((basis.shell_l == l) & (basis.shell_nprim == nprim))
        shell_atom.append(basis.shell_atom[shells])
        exponents.append(np.array([basis.exponents[shell] for shell in shells], dtype=np.float64))
        coefficients.append(np.array([basis.coefficients[shell] for shell in shells], dtype=np.float64))
        class_aos.append((basis.ao_offset[shells][:, None] + np.arange(basis.shell_size(l))).ravel())
        momenta.append(int(l))
        members.append(tuple(int(shell) for shell in shells))
    return AOPlan(
        shell_atom=tuple(shell_atom),
        exponents=tuple(exponents),
        coefficients=tuple(coefficients),
        ao_order=np.argsort(np.concatenate(class_aos)),
        angular_momenta=tuple(momenta),
        cartesian=basis.cartesian,
        nao=basis.nao,
        shells=tuple(members),
    )


def _falling(a, k):
    """a (a - 1) ... (a - k + 1): the coefficient of d^k/dx^k x^a."""
    value = 1
    for step in range(k):
        value *= a - step
    return value


def _number(x, target):
    return isinstance(x, (int, float)) and x == target


def _mul(*factors):
    """Product of arrays and Python numbers, with the zeros and ones dropped on the host."""
    product = 1
    for factor in factors:
        if _number(factor, 0) or _number(product, 0):
            return 0
        product = factor if _number(product, 1) else product if _number(factor, 1) else product * factor
    return product


def _add(*terms):
    """Sum of arrays and Python numbers, zeros dropped on the host."""
    total = 0
    for term in terms:
        total = term if _number(total, 0) else total if _number(term, 0) else total + term
    return total


def _monomials(powers, l, orders):
    """d^orders (x^a y^b z^c) for every Cartesian component of l: a list of arrays
    (npts, nshell) or Python numbers.

    ``powers[i][n]`` is the n-th power of coordinate i; the factors and their
    coefficients are picked on the host, so this is a few fused products, no gathers.
    Repeated multiplication rather than ``x ** n`` keeps derivatives finite at x = 0.
    """
    columns = []
    for exponent in cartesian_powers(l):
        factors = []
        for axis in range(3):
            power = int(exponent[axis]) - orders[axis]
            factors += [_falling(int(exponent[axis]), orders[axis]), powers[axis][max(power, 0)]]
        columns.append(_mul(*factors))
    return columns


def _class_values(points, atom_coordinates, shell_atom, alpha, coef, l, cartesian, deriv):
    """AOs of one class of shells, (ncomp, npts, nshell * nfunc)."""
    displacement = points[:, None, :] - atom_coordinates[shell_atom][None, :, :]
    position = [displacement[..., i] for i in range(3)]  # each (npts, nshell)
    squared = position[0] * position[0] + position[1] * position[1] + position[2] * position[2]
    gaussians = coef * jnp.exp(-alpha * squared[..., None])  # (npts, nshell, nprim)
    radial = [jnp.sum(gaussians, axis=-1)]  # G, g1 = 2 G', g2 = 4 G''
    for k in range(deriv):
        radial.append(jnp.sum(gaussians * (-2.0 * alpha) ** (k + 1), axis=-1))
    powers = [[1, x] for x in position]
    for axis in range(3):
        for _ in range(2, l + 1):
            powers[axis].append(powers[axis][-1] * position[axis])
    transform = ao_transform(l, cartesian)

    def angular(*axes):
        """T applied to d^axes of the monomials: a list over the shell's AOs."""
        orders = [0, 0, 0]
        for axis in axes:
            orders[axis] += 1
        monomials = _monomials(powers, l, orders)
        return [_add(*(_mul(float(t), m) for t, m in zip(row, monomials))) for row in transform]

    value = angular()
    components = [[_mul(v, radial[0]) for v in value]]
    if deriv >= 1:
        first = [angular(i) for i in range(3)]
        for i in range(3):
            components.append([_add(_mul(d, radial[0]), _mul(v, position[i], radial[1]))
                               for d, v in zip(first[i], value)])
    if deriv >= 2:
        for i, j in _SECOND_DERIVATIVES:
            second = angular(i, j)
            components.append([
                _add(_mul(second[f], radial[0]),
                     _mul(_add(_mul(first[i][f], position[j]), _mul(first[j][f], position[i])), radial[1]),
                     _mul(v, position[i], position[j], radial[2]),
                     _mul(v, radial[1]) if i == j else 0)
                for f, v in enumerate(value)])
    values = jnp.stack([jnp.stack([jnp.broadcast_to(x, squared.shape) for x in row], axis=-1)
                        for row in components])  # (ncomp, npts, nshell, nfunc)
    return values.reshape(values.shape[0], values.shape[1], -1)


def _with_zero_shell(plan):
    """Per class (shell_atom, exponents, coefficients) with one more row: a shell of zero
    coefficients, which the padding entries of a shell selection point to."""
    padded = []
    for atoms, alpha, coef in zip(plan.shell_atom, plan.exponents, plan.coefficients):
        padded.append((jnp.concatenate([jnp.asarray(atoms), jnp.zeros(1, jnp.asarray(atoms).dtype)]),
                       jnp.concatenate([jnp.asarray(alpha, jnp.float64), jnp.ones((1, alpha.shape[1]))]),
                       jnp.concatenate([jnp.asarray(coef, jnp.float64), jnp.zeros((1, coef.shape[1]))])))
    return padded


def evaluate_shells(plan, atom_coordinates, points, shell_index, deriv=0):
    """AOs of selected shells on points, (ncomp, npts, sum_l n_l * nfunc_l).

    ``shell_index`` is a tuple, per class of ``plan``, of (n_l,) rows of the shells to
    evaluate, the class's shell count standing for a zero shell (padding: its AOs are 0).
    Columns run class by class, shell by shell, as
    :class:`dftjax.grid.screening.BlockClass` ``ao_index`` lists them. Traceable; the
    selection may be traced.
    """
    classes = []
    for (atoms, alpha, coef), rows, l in zip(_with_zero_shell(plan), shell_index, plan.angular_momenta):
        if rows.shape[0] == 0:
            continue
        classes.append(_class_values(points, atom_coordinates, atoms[rows], alpha[rows], coef[rows],
                                     l, plan.cartesian, deriv))
    if not classes:
        return jnp.zeros((NCOMP[deriv], points.shape[0], 0))
    return jnp.concatenate(classes, axis=-1)


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
