"""dftjax.compiler_flags: XLA_FLAGS gains the quick-compiling flags on import, only while
they can take effect, and never over the user's own setting of the same flag. Each case
imports dftjax in a fresh process (XLA reads XLA_FLAGS once per process)."""

import os
import subprocess
import sys

import jaxlib

from conftest import REPO_ROOT
from dftjax.compiler_flags import FLAGS, TESTED_JAXLIB, _series

FLAG = FLAGS[0].split("=")[0]


def _flags_after_import(before="", xla_flags=None):
    """XLA_FLAGS as a fresh process sees it after running ``before`` and importing dftjax."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    code = f"import os\n{before}\nimport dftjax\nprint(os.environ.get('XLA_FLAGS', ''))"
    completed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                               text=True, check=True)
    return completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""


def test_flags_added_on_import_of_a_tested_jaxlib():
    flags = _flags_after_import(xla_flags="--xla_cpu_enable_fast_math=false")
    if _series(jaxlib.__version__) in TESTED_JAXLIB:
        assert flags == "--xla_cpu_enable_fast_math=false " + " ".join(FLAGS)
    else:
        assert flags == "--xla_cpu_enable_fast_math=false"


def test_user_setting_of_the_same_flag_is_kept():
    assert _flags_after_import(xla_flags=f"{FLAG}=true") == f"{FLAG}=true"


def test_not_added_once_a_backend_exists():
    # XLA has read XLA_FLAGS already: adding to it would only change the cache keys
    assert _flags_after_import(before="import jax; jax.devices()") == ""
