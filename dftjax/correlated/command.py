"""The ``dftjax run --method mp2|ccsd|ccsd(t)`` options and output (used by dftjax.cli).

The JSON record: ``energy`` (the method's total energy, Ha), ``method``, ``scf_energy``,
``correlation_energy``, ``components`` (e.g. ccsd and (t) parts), ``converged``,
``iterations``, ``frozen_core`` (bool), ``ncore`` (frozen orbitals per spin), ``basis``,
``nao``, ``charge``, ``multiplicity``, ``restricted``, ``timings`` (s), and with
``--relaxed-density`` ``relaxed_dipole`` ((3,) e Bohr about the origin, nuclei included).
"""

import json
import sys

import numpy as np

from .driver import METHODS, run


def add_arguments(parser) -> None:
    parser.add_argument("--method", type=str.lower, choices=METHODS, default=None,
                        help="correlated method on the Hartree-Fock reference (with --xc hf)")
    parser.add_argument("--frozen-core", action="store_true",
                        help="with --method: freeze the chemical core (PySCF's chemcore)")
    parser.add_argument("--relaxed-density", action="store_true",
                        help="with --method: relaxed density and dipole by differentiation")


def check_options(args) -> None:
    """Raise ValueError for option combinations that make no sense."""
    if args.method is None:
        if args.frozen_core or args.relaxed_density:
            raise ValueError("--frozen-core and --relaxed-density need --method")
        return
    if str(args.xc).lower() != "hf":
        raise ValueError(f"--method {args.method} runs on a Hartree-Fock reference; "
                         f"it cannot be combined with --xc {args.xc}")
    if getattr(args, "gradient", False):
        raise ValueError("--gradient is not available with --method")
    if getattr(args, "density_fit", None) or getattr(args, "auxbasis", None):
        raise ValueError("--method uses exact integrals; drop --density-fit/--auxbasis")


def calculate(mol, args):
    """Run the correlated calculation the options ask for."""
    options = {"basis": args.basis, "method": args.method, "frozen_core": args.frozen_core,
               "relaxed_density": args.relaxed_density,
               "unrestricted": True if args.unrestricted else None, "verbose": args.verbose}
    if args.conv_tol is not None:
        options["conv_tol"] = args.conv_tol
    if args.max_cycle is not None:
        options["max_cycle"] = args.max_cycle
    return run(mol, **options)


def record(result, mol, args) -> dict:
    out = {
        "energy": result.energy, "method": result.method, "scf_energy": result.scf_energy,
        "correlation_energy": result.correlation_energy, "components": result.components,
        "converged": bool(result.converged), "iterations": int(result.iterations),
        "frozen_core": bool(args.frozen_core), "ncore": int(result.ncore),
        "basis": args.basis, "nao": int(result.scf.nao), "charge": int(mol.charge),
        "multiplicity": int(mol.multiplicity), "restricted": bool(result.scf.restricted),
        "timings": {name: float(seconds) for name, seconds in result.timings.items()},
    }
    if result.dipole is not None:
        out["relaxed_dipole"] = np.asarray(result.dipole, dtype=float).tolist()
    return out


def report(result, mol, args) -> int:
    """Print the result (JSON or a summary) and return the exit code (1: not converged)."""
    out = record(result, mol, args)
    if args.json:
        print(json.dumps(out))
    else:
        reference = "RHF" if out["restricted"] else "UHF"
        lines = [f"{reference}-{out['method'].upper()}/{args.basis}"
                 f"{' (frozen core)' if args.frozen_core else ''}",
                 f"  SCF energy          {out['scf_energy']:.10f} Ha",
                 f"  correlation energy  {out['correlation_energy']:.10f} Ha",
                 f"  total energy        {out['energy']:.10f} Ha"]
        if "relaxed_dipole" in out:
            dip = out["relaxed_dipole"]
            lines.append(f"  relaxed dipole (au) {dip[0]:.6f} {dip[1]:.6f} {dip[2]:.6f}")
        print("\n".join(lines))
    sys.stdout.flush()
    if not out["converged"]:
        print(f"error: {out['method'].upper()} did not converge", file=sys.stderr)
        return 1
    return 0
