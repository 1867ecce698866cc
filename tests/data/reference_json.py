"""Writing a frozen reference file, shared by the make_*.py scripts in this folder.

Run as ``python tests/data/make_X.py``, a script has this folder on its import path, so
``from reference_json import write_reference`` finds this module.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write_reference(name, data):
    """Write ``data`` as JSON (indent 1, final newline) to tests/data/``name``; say where."""
    path = os.path.join(HERE, name)
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print(f"wrote {path}")
