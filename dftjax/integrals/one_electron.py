"""One-electron integrals (overlap, kinetic, dipole, nuclear attraction) and pair data.

McMurchie-Davidson (Helgaker, Jorgensen & Olsen, ch. 9): with E^{ij}_t the 1D Hermite
coefficients of a primitive pair and p = alpha + beta,

* overlap         S^{ij} = E^{ij}_0 sqrt(pi/p)                           (per direction)
* multipole       <i|x_C|j> = (E^{ij}_1 + X_PC E^{ij}_0) sqrt(pi/p)      (eq. 9.5.30)
* kinetic         T^{ij} = -1/2 [j(j-1) S^{i,j-2} - 2b(2j+1) S^{ij} + 4b^2 S^{i,j+2}]
* nuclear         V = -Z (2 pi/p) sum_tuv E^{ab}_{tuv} R_{tuv}(p, R_PC)    (eq. 9.9.32)

One function per pair class (l_a, l_b) handles all primitive pairs of the class at
once (their number padded to a power of two, so molecules of similar size share the
compiled code) and returns both the contracted one-electron blocks and the per-primitive
Hermite data the electron-repulsion integrals reuse. Traced coordinates (forces, jit) run
it compiled; concrete ones run the same code in NumPy, which compiles nothing and, for
this once-per-molecule work, runs as fast on a CPU. All matrices are (nao, nao) in
Hartree atomic units, AO order as PySCF. Coordinates (Bohr, (natom, 3)) are traced, so
every integral is differentiable with respect to them.
"""

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np

from ..basis.spherical import cart_to_sph, cartesian_powers, cartesian_prefactor
from ..tracing import traced
from ..stored_programs import StoredKernel
from ._compilation import QUICK_COMPILE, map_classes
from .hermite import cartesian_hermite_matrix, hermite_coulomb, hermite_expansion_1d
from .plan import bucket, pair_plan, padded_pair_class


@lru_cache(maxsize=None)
def ao_transform(l: int, cartesian: bool) -> np.ndarray:
    """Matrix (nfunc, ncart) from raw Cartesian monomials to the shell's AOs (PySCF norms)."""
    base = np.eye(len(cartesian_powers(l))) if cartesian else cart_to_sph(l)
    return base * cartesian_prefactor(l)


def _overlap_kinetic_dipole(la, lb, p, centre, a, beta, origin, e1d, xp=jnp):
    """Cartesian (C, 5, ncart_a, ncart_b): overlap, kinetic, dipole x, y, z (no prefactors)."""
    root = xp.sqrt(np.pi / p)[:, None, None, None]
    s1d = e1d[..., 0] * root
    moment = (e1d[..., : lb + 1, 1] + (centre - origin)[:, :, None, None] * e1d[..., : lb + 1, 0]) * root
    j = np.arange(lb + 1)
    b2 = beta[:, None, None, None]
    lower = np.where(j >= 2, j - 2, 0)
    kin = -0.5 * ((j * (j - 1)) * s1d[..., lower] - 2.0 * b2 * (2 * j + 1) * s1d[..., j]
                  + 4.0 * b2 * b2 * s1d[..., j + 2])
    pa, pb = cartesian_powers(la), cartesian_powers(lb)

    def pick(table, d):
        return table[:, d, pa[:, None, d], pb[None, :, d]]

    s = [pick(s1d, d) for d in range(3)]
    t = [pick(kin, d) for d in range(3)]
    m = [pick(moment, d) for d in range(3)]
    overlap = s[0] * s[1] * s[2]
    kinetic = t[0] * s[1] * s[2] + s[0] * t[1] * s[2] + s[0] * s[1] * t[2]
    dipole = [m[0] * s[1] * s[2], s[0] * m[1] * s[2], s[0] * s[1] * m[2]]
    return xp.stack([overlap, kinetic] + dipole, axis=1)


def pair_class_values(la, lb, cartesian, npair, coords, charges, charge_positions, origin,
                      alpha, beta, coef, atom_a, atom_b, prim_pair, xp=jnp):
    """All primitive pairs of one class -> Hermite data and contracted one-electron blocks.

    Inputs (padded length n): exponents alpha, beta, coefficient products coef (0 for
    padding), atom indices, and the shell pair of each primitive pair (>= npair drops it).
    coords (natom_pad, 3) and charges (natom_pad,) are the point charges of the nuclear
    attraction (padding has charge 0). Returns
    ``p (n,), P (n, 3), E (n, nfa*nfb, K)`` with coefficients and exp(-mu AB^2) folded
    into E, and blocks (npair, 6, nfa, nfb): overlap, kinetic, dipole xyz, nuclear.
    ``xp``: ``jax.numpy`` (traced or jitted), or ``numpy`` for host arrays
    (:func:`pair_class_values_host`).
    """
    einsum = jnp.einsum if xp is jnp else partial(np.einsum, optimize=True)
    a, b = coords[atom_a], coords[atom_b]
    p = alpha + beta
    centre = (alpha[:, None] * a + beta[:, None] * b) / p[:, None]
    ab = a - b
    weight = coef * xp.exp(-(alpha * beta / p) * xp.sum(ab * ab, axis=-1))
    ta, tb = ao_transform(la, cartesian), ao_transform(lb, cartesian)
    e1d = hermite_expansion_1d(la, lb + 2, p, centre - a, centre - b, xp=xp)
    one = _overlap_kinetic_dipole(la, lb, p, centre, a, beta, origin, e1d, xp)
    e_cart = cartesian_hermite_matrix(cartesian_powers(la), cartesian_powers(lb),
                                      e1d[..., : lb + 1, : la + lb + 1])
    e_ao = einsum("ax,by,cxyh->cabh", ta, tb, e_cart) * weight[:, None, None, None]
    e_ao = e_ao.reshape(len(p), ta.shape[0] * tb.shape[0], -1)

    def charge_potential(charge, position):
        return charge * hermite_coulomb(la + lb, p, centre - position, xp=xp)

    if xp is jnp:
        potential, _ = jax.lax.scan(lambda total, cp: (total + charge_potential(*cp), None),
                                    jnp.zeros(e_ao.shape[::2]), (charges, charge_positions))
    else:  # the padding's zero charges skipped
        potential = sum((charge_potential(charge, position)
                         for charge, position in zip(charges, charge_positions) if charge != 0.0),
                        np.zeros(e_ao.shape[::2]))
    nuclear = einsum("cfh,ch->cf", e_ao, potential) * (-2.0 * np.pi / p)[:, None]
    one = einsum("ax,by,cqxy->cqab", ta, tb, one) * weight[:, None, None, None]
    blocks = xp.concatenate([one, nuclear.reshape(len(p), 1, ta.shape[0], tb.shape[0])], axis=1)
    if xp is jnp:
        return p, centre, e_ao, jax.ops.segment_sum(blocks, prim_pair, npair)
    summed = np.zeros((npair,) + blocks.shape[1:])
    keep = prim_pair < npair
    np.add.at(summed, prim_pair[keep], blocks[keep])
    return p, centre, e_ao, summed


def pair_class_values_host(la, lb, cartesian, npair, *arrays):
    """:func:`pair_class_values` in NumPy on host arrays: nothing to compile (a compiled
    class costs ~0.6 s CPU even quickly compiled, six of them in an spd basis, where the
    work itself takes milliseconds for a small molecule). Same outputs, NumPy arrays."""
    return pair_class_values(la, lb, cartesian, npair,
                             *(np.asarray(x) for x in arrays), xp=np)


#: :func:`pair_class_values` compiled per class, for traced inputs (inside jit/grad).
#: Concrete ones run in NumPy (:func:`pair_class_values_host`), or, for large work on an
#: accelerator, the quickly compiled program (:data:`QUICK_COMPILE`: it runs once per
#: molecule; compiler options may only be given to the outermost jit).
pair_class_kernel = jax.jit(pair_class_values, static_argnums=(0, 1, 2, 3))
_quick_pair_class_kernel = StoredKernel(pair_class_values, static_argnums=(0, 1, 2, 3),
                                        compiler_options=QUICK_COMPILE)


def _as_float_array(array):
    """float64 ``array``: NumPy when concrete (host set-up: nothing to compile), jnp when
    traced."""
    if traced(array):
        return jnp.asarray(array, dtype=jnp.float64)
    return np.asarray(array, dtype=np.float64)


def _pad_rows(array, size: int):
    """Pad the leading axis of ``array`` with zeros to ``size`` (NumPy or jnp, as
    :func:`_as_float_array`)."""
    array = _as_float_array(array)
    xp = jnp if traced(array) else np
    return xp.concatenate([array, xp.zeros((size - array.shape[0],) + array.shape[1:])])


#: Most (estimated) work, :func:`host_pair_work`, that :func:`pair_data` does in NumPy
#: on an accelerator backend (~1 s on one core); on CPU it always does, as NumPy runs as
#: fast as the quickly compiled kernels (2 cores: benzene/def2-SVP 0.044 s against
#: 0.039 s, decane/def2-TZVP 0.76 s against 0.77 s) and compiles nothing.
HOST_PAIR_WORK = 2e7


def host_pair_work(basis, ncharge: int) -> int:
    """Estimated work of :func:`pair_data` in NumPy: primitive pairs x (charges x
    Hermite functions + Cartesian products), summed over the pair classes."""
    work = 0
    for k, pc in enumerate(pair_plan(basis)):
        n = len(padded_pair_class(basis, k).alpha)
        degree = pc.la + pc.lb
        work += n * (max(ncharge, 1) * (degree + 1) * (degree + 2) * (degree + 3) // 6
                     + 5 * len(cartesian_powers(pc.la)) * len(cartesian_powers(pc.lb)))
    return work


def _padded_centres(coords, charges, charge_positions):
    """Atom coordinates, charges and charge positions with their rows padded (with zeros:
    no charge) to buckets, so that molecules of similar size share compiled kernels."""
    ncharge = bucket(np.shape(charges)[0], smallest=8)
    return (_pad_rows(coords, bucket(np.shape(coords)[0], smallest=8)),
            _pad_rows(charges, ncharge), _pad_rows(charge_positions, ncharge))


def pair_data(basis, coords, charges=None, charge_positions=None, origin=(0.0, 0.0, 0.0)):
    """Run every pair-class kernel; returns a list of (p, P, E, blocks), one per class.

    Point charges default to none (nuclear blocks zero); pass the atomic numbers and
    ``coords`` for the nuclear attraction. Atom and charge counts are padded to buckets
    so that molecules of similar size share compiled kernels.
    """
    if charges is None:
        charges, charge_positions = np.zeros(0), np.zeros((0, 3))
    coords, charges, charge_positions = _padded_centres(coords, charges, charge_positions)
    origin = _as_float_array(origin)
    plan = pair_plan(basis)
    padded = [padded_pair_class(basis, k) for k in range(len(plan))]

    inputs = (coords, charges, charge_positions, origin)
    on_host = not traced(inputs) and (jax.default_backend() == "cpu" or
                                      host_pair_work(basis, ncharge) <= HOST_PAIR_WORK)
    kernel = (pair_class_kernel if traced(inputs) else
              _host_pair_class if on_host else _quick_pair_class_kernel)

    def run(k):
        pc, pp = plan[k], padded[k]
        return kernel(pc.la, pc.lb, basis.cartesian, pp.npair_bucket, coords,
                      charges, charge_positions, origin, pp.alpha, pp.beta,
                      pp.coef, pp.atom_a, pp.atom_b, pp.prim_pair)

    return map_classes(run, range(len(plan)), inputs)


def pair_class_pullback(la, lb, cartesian, npair, coords, charges, charge_positions, origin,
                        alpha, beta, coef, atom_a, atom_b, prim_pair, cotangents):
    """One class's vector-Jacobian product of :func:`pair_class_values`: the cotangents
    (dp, dP, dE, dblocks) of its outputs -> those of (coords, charge_positions)."""
    def values(atoms, positions):
        return pair_class_values(la, lb, cartesian, npair, atoms, charges, positions, origin,
                                 alpha, beta, coef, atom_a, atom_b, prim_pair)
    return jax.vjp(values, coords, charge_positions)[1](tuple(cotangents))


#: :func:`pair_class_pullback` compiled per class and stored, quickly (:data:`QUICK_COMPILE`):
#: it runs once per gradient and is a small share of its work. NH3/def2-SVP PBE forces,
#: cold: 18.2 s quickly compiled, 26.2 s fully; warm 0.53 s against 0.49 s.
_pair_class_pullback_kernel = StoredKernel(pair_class_pullback, static_argnums=(0, 1, 2, 3),
                                           compiler_options=QUICK_COMPILE)


def pair_data_pullback(basis, coords, charges, charge_positions, cotangents):
    """The vector-Jacobian product of :func:`pair_data` (origin at zero) for concrete
    inputs: ``cotangents``, per pair class (dp, dP, dE, dblocks) shaped like its outputs
    (None: zero), -> (d coords (natom, 3), d charge_positions (ncharge, 3)), NumPy.

    Each class is its own program (:func:`pair_class_pullback`), compiled once per class
    shape and stored, shared by molecules whose classes pad alike; a force thus compiles
    nothing new for a new geometry and little for a new molecule.
    """
    natom, ncharge = np.shape(coords)[0], np.shape(charges)[0]
    atoms, charges, positions = _padded_centres(coords, charges, charge_positions)
    origin = np.zeros(3)
    plan = pair_plan(basis)

    def run(k):
        pc, pp = plan[k], padded_pair_class(basis, k)
        if pc.npair == 0 or cotangents[k] is None:
            return None
        return _pair_class_pullback_kernel(pc.la, pc.lb, basis.cartesian, pp.npair_bucket,
                                           atoms, charges, positions, origin, pp.alpha,
                                           pp.beta, pp.coef, pp.atom_a, pp.atom_b,
                                           pp.prim_pair, tuple(cotangents[k]))

    d_atoms, d_positions = np.zeros(atoms.shape), np.zeros(positions.shape)
    for result in map_classes(run, range(len(plan)), (atoms, positions)):
        if result is not None:
            d_atoms += np.asarray(result[0])
            d_positions += np.asarray(result[1])
    return d_atoms[:natom], d_positions[:ncharge]


def _host_pair_class(*args):
    """:func:`pair_class_values_host`, its pair data (p, P, E) put on the device once for
    the ERI kernels that read them chunk after chunk; the blocks stay on the host, where
    they are assembled."""
    p, centre, e_ao, blocks = pair_class_values_host(*args)
    return (*jax.device_put((p, centre, e_ao)), blocks)


@lru_cache(maxsize=8)
def _pair_positions(basis):
    """Where :func:`_assemble_pairs` writes each class's blocks: (rows, cols) of every
    element of the real pairs' blocks, classes in plan order, each flattened from
    (npair, nfa, nfb); the matrix gets it at (rows, cols) and then at (cols, rows)."""
    rows_all, cols_all = [], []
    for pc in pair_plan(basis):
        if pc.npair == 0:
            continue
        na, nb = (ao_transform(l, basis.cartesian).shape[0] for l in (pc.la, pc.lb))
        rows = basis.ao_offset[pc.shell_a][:, None, None] + np.arange(na)[None, :, None]
        cols = basis.ao_offset[pc.shell_b][:, None, None] + np.arange(nb)[None, None, :]
        rows_all.append(np.broadcast_to(rows, (pc.npair, na, nb)).ravel())
        cols_all.append(np.broadcast_to(cols, (pc.npair, na, nb)).ravel())
    return np.concatenate(rows_all), np.concatenate(cols_all)


def _assemble_pairs(basis, blocks_by_class):
    """Scatter shell-pair blocks (npair_bucket, q, nfa, nfb) into (q, nao, nao) matrices."""
    rows, cols = _pair_positions(basis)
    npairs = [pc.npair for pc in pair_plan(basis) if pc.npair]
    blocks = [block for pc, block in zip(pair_plan(basis), blocks_by_class) if pc.npair]
    if traced(blocks):
        return _scatter_matrices(basis.nao, tuple(npairs), tuple(blocks), rows, cols)
    # Concrete blocks: scatter on the host (NumPy out), so that nothing here or in the
    # slicing and sums of the matrices downstream compiles for each new basis size.
    values = np.concatenate([np.moveaxis(np.asarray(block)[:npair], 1, 0).reshape(block.shape[1], -1)
                             for npair, block in zip(npairs, blocks)], axis=1)
    out = np.zeros((values.shape[0], basis.nao, basis.nao))
    out[:, rows, cols] = values
    out[:, cols, rows] = values
    return out


def assembly_cotangents(basis, matrix_cotangent):
    """The transpose of :func:`_assemble_pairs`, in NumPy: the cotangent (q, nao, nao) of
    the assembled matrices -> that of each class's blocks (npair_bucket, q, nfa, nfb),
    zero on the padding pairs (None for an empty class).

    Each matrix element is a copy of one block element, the later of the two writes
    (a diagonal shell pair writes its (a, b) and (b, a) elements to the same two
    places), so a block element collects the cotangent of the elements holding its value.
    """
    matrix_cotangent = np.asarray(matrix_cotangent, dtype=np.float64)
    nq, nao = matrix_cotangent.shape[0], basis.nao
    rows, cols = _pair_positions(basis)
    owner = np.full((nao, nao), -1, np.int64)
    owner[rows, cols] = np.arange(len(rows))
    owner[cols, rows] = np.arange(len(rows))
    written = owner.ravel() >= 0
    flat = matrix_cotangent.reshape(nq, -1)[:, written]
    values = np.stack([np.bincount(owner.ravel()[written], weights=row, minlength=len(rows))
                       for row in flat])
    out, start = [], 0
    for k, pc in enumerate(pair_plan(basis)):
        if pc.npair == 0:
            out.append(None)
            continue
        na, nb = (ao_transform(l, basis.cartesian).shape[0] for l in (pc.la, pc.lb))
        size = pc.npair * na * nb
        block = np.zeros((padded_pair_class(basis, k).npair_bucket, nq, na, nb))
        block[:pc.npair] = np.moveaxis(values[:, start:start + size].reshape(nq, pc.npair, na, nb), 0, 1)
        out.append(block)
        start += size
    return out


@partial(jax.jit, static_argnums=(0, 1))
def _scatter_matrices(nao, npairs, blocks, rows, cols):
    """(q, nao, nao) from the class blocks (npair_bucket, q, nfa, nfb), of which the first
    npairs[k] are real, written at (rows, cols) and (cols, rows); in one program (the
    slicing and reshaping too, which would otherwise compile one by one)."""
    values = jnp.concatenate([jnp.moveaxis(block[:npair], 1, 0).reshape(block.shape[1], -1)
                              for npair, block in zip(npairs, blocks)], axis=1)
    out = jnp.zeros((values.shape[0], nao, nao))
    out = out.at[:, rows, cols].set(values)
    return out.at[:, cols, rows].set(values)


def one_electron_matrices(basis, coords, origin=(0.0, 0.0, 0.0)):
    """Overlap, kinetic and dipole integrals.

    Parameters
    ----------
    basis : BasisSet
    coords : array (natom, 3), Bohr
    origin : (3,) Bohr, origin of the dipole operator (PySCF's default is (0, 0, 0))

    Returns
    -------
    overlap (nao, nao), kinetic (nao, nao), dipole (3, nao, nao) = <i|r - origin|j>
    """
    data = pair_data(basis, coords, origin=origin)
    stacked = _assemble_pairs(basis, [d[3][:, :5] for d in data])
    return stacked[0], stacked[1], stacked[2:]


def point_charge_matrix(basis, coords, charges, charge_positions):
    """Sum_C <i| -Z_C / |r - R_C| |j> for point charges Z_C at R_C (Bohr), shape (nao, nao).

    With ``charges`` = atomic numbers and ``charge_positions`` = ``coords`` this is the
    nuclear attraction matrix.
    """
    data = pair_data(basis, coords, charges, charge_positions)
    return _assemble_pairs(basis, [d[3][:, 5:] for d in data])[0]


def one_electron_from_pairs(basis, data):
    """(overlap, kinetic, dipole (3, nao, nao), nuclear) from :func:`pair_data` output."""
    stacked = _assemble_pairs(basis, [d[3] for d in data])
    return stacked[0], stacked[1], stacked[2:5], stacked[5]


def hermite_pairs(basis, coords):
    """Per pair class: (p, P, E) of every (padded) primitive pair, for the ERIs."""
    data = pair_data(basis, coords)
    return [d[:3] for d in data]
