"""Exit codes of the ``dftjax`` command and its one-line report of bad input.

Shared by every subcommand (``run``, ``opt``, ``bench``, ``train``, ``warmup``), each in
its own module, so that none of them imports :mod:`dftjax.cli` back.
"""

import sys
import traceback

EXIT_OK = 0
EXIT_NOT_CONVERGED = 1
EXIT_BAD_INPUT = 2
#: after Ctrl-C, as a shell reports a process ended by SIGINT (128 + 2)
EXIT_INTERRUPTED = 130
#: after SIGTERM (a batch system's or ``kill``'s stop), 128 + 15
EXIT_TERMINATED = 143


def error_message(exc: BaseException) -> str:
    """The text of an exception, without the quotes str() puts around a KeyError's."""
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def bad_input(exc, args) -> int:
    """Report an input error as one line on stderr (a traceback with --verbose); returns
    EXIT_BAD_INPUT."""
    if getattr(args, "verbose", False):
        traceback.print_exc(file=sys.stderr)
    print(f"dftjax: error: {error_message(exc)}", file=sys.stderr)
    return EXIT_BAD_INPUT
