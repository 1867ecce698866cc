"""Built-in benchmarks: the G2/97 atomization energies (:mod:`dftjax.benchmarks.g2`),
run from Python with :func:`run_g2` or from the shell with ``dftjax bench g2``."""

from dftjax.benchmarks.g2 import (atomization_energies, load_g2, read_records, run_g2, select,
                                  summarize)

__all__ = ["atomization_energies", "load_g2", "read_records", "run_g2", "select", "summarize"]
