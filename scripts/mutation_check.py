"""Break dftjax on purpose, one line at a time, and record which default test notices.

The acceptance check of the default test suite (``python -m pytest``, markers
``not live and not slow``): it must fail if an integral class, an SCF kind, a functional
family, a gradient kind, the implicit derivative, the optimiser or a CLI error path is
broken. Each entry of :data:`BREAKAGES` is one such one-line change; for each, this
script makes a clean copy of the committed tree (``git worktree add --detach``), applies
the change, runs only the default tests that concern it (``-x``: the first failure is
enough) and reports the first failing test, or "NOT CAUGHT". The copy is removed at the
end; the working tree is never touched. The table it prints is in docs/testing.md.

Usage (from the repository root; a few minutes per breakage on two cores, less with a
warm JAX compilation cache)::

    python scripts/mutation_check.py [NAME ...]     # default: every breakage
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKERS = "not live and not slow"  # pyproject.toml's default run

# name: (what it breaks, file, text as in the file (once), replacement, test files)
BREAKAGES = {
    "d-class nuclear attraction": (
        "integral class: the sign of the nuclear attraction of pair classes with a d bra",
        "dftjax/integrals/one_electron.py",
        'nuclear = jnp.einsum("cfh,ch->cf", e_ao, potential) * (-2.0 * jnp.pi / p)[:, None]',
        'nuclear = jnp.einsum("cfh,ch->cf", e_ao, potential) * ((2.0 if la == 2 else -2.0) * jnp.pi / p)[:, None]',
        ["tests/test_integrals_one_electron.py"]),
    "Hermite Coulomb recursion": (
        "integral class: the (t-1) R_{t-2} term of the Hermite Coulomb recursion (unrolled, degree 2 up)",
        "dftjax/integrals/hermite.py",
        "value = value + h1[d] * level[tuple(h2)]",
        "value = value - h1[d] * level[tuple(h2)]",
        ["tests/test_integrals_two_electron.py", "tests/test_integrals_one_electron.py"]),
    "RHF diagonalisation": (
        "SCF kind RHF: the restricted diagonalisation of F with 1e-3 added to every element",
        "dftjax/scf/driver.py",
        "energies, vectors = jnp.linalg.eigh(X.T @ fock[0] @ X)",
        "energies, vectors = jnp.linalg.eigh(X.T @ (fock[0] + 1e-3) @ X)",
        ["tests/test_hf_energies.py"]),
    "RHF orbital gradient": (
        "SCF kind RHF: the restricted orbital gradient norm reported as 0 (convergence on dE alone)",
        "dftjax/scf/driver.py",
        "return 2.0 * jnp.linalg.norm(block[0])",
        "return 0.0 * jnp.linalg.norm(block[0])",
        ["tests/test_hf_energies.py", "tests/test_scf_driver.py"]),
    "UHF diagonalisation": (
        "SCF kind UHF: alpha and beta Fock matrices swapped in the unrestricted diagonalisation",
        "dftjax/scf/driver.py",
        "energies, vectors = jnp.linalg.eigh(X.T @ fock @ X)",
        "energies, vectors = jnp.linalg.eigh(X.T @ fock[::-1] @ X)",
        ["tests/test_hf_energies.py"]),
    "RKS GGA potential": (
        "SCF kind RKS: the sigma_ab term of the restricted GGA potential",
        "dftjax/xc/blocked.py",
        "g = (2.0 * v_sigma[0] + v_sigma[1]) * grad",
        "g = (2.0 * v_sigma[0] - v_sigma[1]) * grad",
        ["tests/test_xc_blocked.py", "tests/test_ks_energies.py"]),
    "UKS GGA potential": (
        "SCF kind UKS: the sigma_ab term of the beta GGA potential",
        "dftjax/xc/blocked.py",
        "2.0 * v_sigma[2] * grad[1] + v_sigma[1] * grad[0]",
        "2.0 * v_sigma[2] * grad[1] - v_sigma[1] * grad[0]",
        ["tests/test_xc_blocked.py", "tests/test_ks_energies.py"]),
    "LDA Slater exchange": (
        "functional family LDA: the spin scaling of Slater exchange",
        "dftjax/xc/lda.py",
        "2.0 ** (-4.0 / 3.0) * cbrt_density",
        "2.0 ** (-4.1 / 3.0) * cbrt_density",
        ["tests/test_xc_lda.py"]),
    "GGA PBE kappa": (
        "functional family GGA: PBE exchange kappa 0.804 -> 0.805",
        "dftjax/xc/gga.py",
        'PBE_X_PARAMS = {"kappa": 0.8040,',
        'PBE_X_PARAMS = {"kappa": 0.8050,',
        ["tests/test_xc_gga.py"]),
    "meta-GGA r2SCAN dp2": (
        "functional family meta-GGA: r2SCAN exchange dp2 0.361 -> 0.371",
        "dftjax/xc/mgga.py",
        'R2SCAN_X_PARAMETERS = {**SCAN_X_PARAMETERS, "eta": 0.001, "dp2": 0.361}',
        'R2SCAN_X_PARAMETERS = {**SCAN_X_PARAMETERS, "eta": 0.001, "dp2": 0.371}',
        ["tests/test_xc_mgga.py"]),
    "hybrid B3LYP mixing": (
        "functional family hybrid: B3LYP's B88 weight 0.72 -> 0.73",
        "dftjax/xc/hybrids.py",
        "a0, ax, ac = 0.20, 0.72, 0.81",
        "a0, ax, ac = 0.20, 0.73, 0.81",
        ["tests/test_xc_gga.py", "tests/test_ks_energies.py"]),
    "range-separated CAM-B3LYP omega": (
        "functional family range-separated: CAM-B3LYP omega 0.33 -> 0.34",
        "dftjax/xc/range_separated.py",
        '"beta": -0.46, "omega": 0.33,',
        '"beta": -0.46, "omega": 0.34,',
        ["tests/test_xc_range_separated.py"]),
    "gradient Pulay term": (
        "gradient kind exact ERIs: the sign of the energy-weighted density term -tr(W dS)",
        "dftjax/gradients.py",
        "energy = (jnp.vdot(h_core, total) - jnp.vdot(weighted, overlap)",
        "energy = (jnp.vdot(h_core, total) + jnp.vdot(weighted, overlap)",
        ["tests/test_gradients.py"]),
    "gradient density-fitted metric": (
        "gradient kind density fitting: the Coulomb metric's cotangent -1/2 g g^T",
        "dftjax/gradients.py",
        "m_ct = -0.5 * jnp.outer(g, g)",
        "m_ct = -0.45 * jnp.outer(g, g)",
        ["tests/test_gradients.py"]),
    "gradient grid response": (
        "gradient kind DFT: the grid points frozen at the SCF's geometry (no grid response)",
        "dftjax/gradients.py",
        "moved = xcg.at_geometry(coords, grid_points(spec, coords))",
        "moved = xcg.at_geometry(coords, jax.lax.stop_gradient(grid_points(spec, coords)))",
        ["tests/test_gradients.py"]),
    "implicit derivative Hessian": (
        "the implicit derivative: the orbital Hessian of its linear solve scaled by 1.01",
        "dftjax/scf/implicit.py",
        "(zero,), (v,))[1]",
        "(zero,), (v,))[1] * 1.01",
        ["tests/test_implicit.py"]),
    "optimiser step": (
        "the optimiser: the gradient handed to scipy with the wrong sign",
        "dftjax/optimize.py",
        "return energy, projected.ravel()",
        "return energy, -projected.ravel()",
        ["tests/test_optimize.py"]),
    "CLI unknown basis": (
        "a CLI error path: KeyError (unknown basis, element) no longer an input error",
        "dftjax/cli.py",
        "_INPUT_ERRORS = (OSError, ValueError, KeyError, MemoryError)",
        "_INPUT_ERRORS = (OSError, ValueError, MemoryError)",
        ["tests/test_cli.py"]),
}


def first_failure(output):
    """The first FAILED/ERROR test id in pytest's -ra summary, or None."""
    match = re.search(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    return match.group(1) if match else None


def check(name, copy):
    what, path, old, new, tests = BREAKAGES[name]
    target = copy / path
    text = target.read_text()
    if text.count(old) != 1:
        raise SystemExit(f"{name}: the text to break occurs {text.count(old)} times in {path}")
    target.write_text(text.replace(old, new))
    env = {**os.environ, "PYTHONPATH": str(copy)}
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".jax_cache"))
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", MARKERS,
         *tests], cwd=copy, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    target.write_text(text)
    return what, first_failure(completed.stdout), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="breakages to apply (default: all)")
    args = parser.parse_args()
    names = args.names or list(BREAKAGES)
    unknown = [name for name in names if name not in BREAKAGES]
    if unknown:
        parser.error(f"unknown breakage {unknown[0]!r}: choose from {', '.join(BREAKAGES)}")
    copy = Path(tempfile.mkdtemp(prefix="dftjax-mutation-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(copy)], cwd=ROOT, check=True)
    missed = 0
    try:
        print("| breakage | caught by (first failing default test) | seconds |")
        print("|---|---|---|")
        for name in names:
            what, failed, seconds = check(name, copy)
            missed += failed is None
            print(f"| {what} | {failed or 'NOT CAUGHT'} | {seconds:.0f} |", flush=True)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(copy)], cwd=ROOT, check=False)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
