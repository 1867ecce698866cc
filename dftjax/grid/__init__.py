"""Integration grids and basis functions on them.

* :func:`build_grid`, :func:`grid_spec`, :func:`grid_points` - molecular grids as PySCF
  builds them (Treutler-Ahlrichs radial, Lebedev angular, NWChem pruning, Becke
  partition with Treutler's size adjustment), differentiable in the atom positions.
* :func:`ao_values` - atomic orbitals and their first and second derivatives on points;
  :func:`ao_plan` and the jitted :func:`evaluate_ao` for repeated use with one basis.
"""

from .ao_values import AOPlan, ao_plan, ao_values, evaluate_ao
from .molecular import Grid, GridSpec, build_grid, default_atom_grid, grid_points, grid_spec

__all__ = ["AOPlan", "Grid", "GridSpec", "ao_plan", "ao_values", "build_grid",
           "default_atom_grid", "evaluate_ao", "grid_points", "grid_spec"]
