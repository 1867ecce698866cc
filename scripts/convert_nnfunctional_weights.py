"""Convert the released NN functional weights (Nagai, Akashi & Sugino 2020) to parameter files.

Source: github.com/ml-electron-project/NNfunctional at commit 3f4a979 (MIT licence), files
NNLSDA, NNGGA, NNmGGA and NNNRA: PyTorch state dicts written by the legacy (non-zip)
``torch.save``. That format is five things back to back:

1. a pickle of the magic number, 2. a pickle of the protocol version, 3. a pickle of the
system info, 4. the pickled state dict, whose tensors are ``torch._utils._rebuild_tensor_v2``
calls on *persistent ids* ``("storage", storage type, key, location, numel, view)``,
5. a pickle of the list of storage keys, then for each key in that order an int64
(little-endian) element count followed by the raw little-endian elements.

This script reads it with a custom :class:`pickle.Unpickler` that records the tensors
instead of building them, so it needs no PyTorch. Each network is written as
``dftjax/xc/neural/weights/<form>.npz`` with :func:`dftjax.params_io.save_pytree`:
``{"layers": [{"weight": (n_in, n_out), "bias": (n_out,)}, ...]}`` in float64 (torch's
``Linear.weight`` is (n_out, n_in); it is transposed here so that a layer is ``x @ W + b``).

Usage::

    python scripts/convert_nnfunctional_weights.py PATH_TO_NNFUNCTIONAL_CHECKOUT
"""

import argparse
import hashlib
import io
import pickle
import struct
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dftjax.params_io import save_pytree  # noqa: E402

SOURCE_REPOSITORY = "https://github.com/ml-electron-project/NNfunctional"
SOURCE_COMMIT = "3f4a97998747dc14a9296a88d16572601621efab"
LICENCE = "MIT License, Copyright (c) 2019 (Nagai, Akashi, Sugino; ml-electron-project/NNfunctional)"
FILES = {"nn-lsda": "NNLSDA", "nn-gga": "NNGGA", "nn-metagga": "NNmGGA", "nn-nra": "NNNRA"}
STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8"}
OUTPUT = Path(__file__).resolve().parents[1] / "dftjax" / "xc" / "neural" / "weights"


class _Tensor:
    """What ``_rebuild_tensor_v2(storage, offset, size, stride, ...)`` was asked to build."""

    def __init__(self, storage, offset, size, stride, *_):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


class _OrderedDict(dict):
    """Stands in for ``collections.OrderedDict``; takes the ``_metadata`` attribute torch sets."""


class _StateDictUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return _OrderedDict
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
            return _Tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in a state dict")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel, view = pid
        if kind != "storage" or view is not None:
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        return (storage_type, key, numel)


def read_state_dict(data: bytes) -> dict:
    """``{name: float64 array}`` of a legacy ``torch.save`` state dict given as bytes."""
    stream = io.BytesIO(data)
    for _ in range(3):  # magic number, protocol version, system info
        pickle.load(stream)
    tensors = _StateDictUnpickler(stream).load()
    keys = pickle.load(stream)
    storages = {}
    for key in keys:
        (count,) = struct.unpack("<q", stream.read(8))
        storage_type = next(t for t in tensors.values() if t.storage[1] == key).storage[0]
        dtype = np.dtype(STORAGE_DTYPES[storage_type])
        storages[key] = np.frombuffer(stream.read(count * dtype.itemsize), dtype)
    if stream.read():
        raise ValueError("trailing bytes after the last storage")
    out = {}
    for name, tensor in dict(tensors).items():
        flat = storages[tensor.storage[1]]
        strides = tuple(s * flat.itemsize for s in tensor.stride)
        view = np.lib.stride_tricks.as_strided(flat[tensor.offset:], tensor.size, strides)
        out[name] = view.astype(np.float64)
    return out


def network_params(state: dict) -> dict:
    """The state dict's fc1 ... fcN as ``{"layers": [{"weight": (in, out), "bias": (out,)}]}``."""
    layers, index = [], 1
    while f"fc{index}.weight" in state:
        layers.append({"weight": state[f"fc{index}.weight"].T.copy(), "bias": state[f"fc{index}.bias"]})
        index += 1
    if len(layers) * 2 != len(state):
        raise ValueError(f"unexpected entries in the state dict: {sorted(state)}")
    return {"layers": layers}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder holding NNLSDA, NNGGA, NNmGGA, NNNRA")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    for form, filename in FILES.items():
        data = (args.source / filename).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        params = network_params(read_state_dict(data))
        shapes = [layer["weight"].shape for layer in params["layers"]]
        metadata = {"form": form, "source_repository": SOURCE_REPOSITORY, "source_commit": SOURCE_COMMIT,
                    "source_file": filename, "source_sha256": digest, "licence": LICENCE,
                    "source_dtype": "float32", "layout": "layers[i]: x @ weight + bias, weight (in, out)"}
        path = save_pytree(args.output / f"{form}.npz", params, metadata)
        print(f"{filename:8s} sha256 {digest}  ->  {path.name}  layers {shapes}")


if __name__ == "__main__":
    main()
