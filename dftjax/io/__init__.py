"""Reading and writing molecular data files; coordinates in files are in Angstrom."""

from dftjax.io.xyz import parse_xyz, write_xyz

__all__ = ["parse_xyz", "write_xyz"]
