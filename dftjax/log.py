"""dftjax's messages go through :mod:`logging`, under the logger "dftjax".

Progress (SCF cycles ``dftjax.scf``, optimisation steps ``dftjax.optimize``, which ERI
path was chosen and its memory ``dftjax``) is logged at INFO when a call asks for it with
``verbose=True``; notices that are shown unasked (a large memory estimate, a geometry
optimisation that did not converge) at WARNING, beside the Python warning that
non-convergence raises. An application that configures logging decides where all of them
go. A ``verbose=True`` call in a process that has not configured logging (a script, a
notebook) shows its progress on stderr itself, for the duration of the call only
(:func:`verbose_logging`); Python's own last-resort handler prints the warnings.

What the command line prints as its result and its one-line errors is not logging: that
is the CLI's output (:mod:`dftjax.cli`), as is its compile notice.
"""

import contextlib
import logging
import sys


def logger(name=None):
    """The logger "dftjax" or "dftjax.<name>"."""
    return logging.getLogger("dftjax" if name is None else f"dftjax.{name}")


@contextlib.contextmanager
def verbose_logging(enabled=True):
    """Within the block, dftjax's INFO messages are emitted (``enabled``), and shown on stderr
    as bare lines when nothing in the process handles them; both undone on exit."""
    if not enabled:
        yield
        return
    root = logger()
    level = root.level
    handler = None
    if not root.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    if not root.isEnabledFor(logging.INFO):
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.setLevel(level)
        if handler is not None:
            root.removeHandler(handler)
