"""Lists the tensors of a PyTorch checkpoint with Python's own pickle machine, without torch.

An independent reading for core/tests/torch_pickle.rs: prints JSON
{name: {"dtype", "shape", "sha256"}} where sha256 is over the tensor's contiguous row-major
little-endian bytes. Handles torch's legacy (non-zip) and zip layouts.

Usage: python3 torch_tensors.py CHECKPOINT
"""
import collections
import hashlib
import io
import itertools
import json
import pickle
import struct
import sys
import zipfile

SIZES = {"FloatStorage": ("F32", 4), "DoubleStorage": ("F64", 8), "HalfStorage": ("F16", 2),
         "BFloat16Storage": ("BF16", 2), "LongStorage": ("I64", 8), "IntStorage": ("I32", 4),
         "ShortStorage": ("I16", 2), "CharStorage": ("I8", 1), "ByteStorage": ("U8", 1),
         "BoolStorage": ("BOOL", 1)}


class Tensor:
    def __init__(self, storage, offset, size, stride, *_rest):
        self.kind, self.key = storage
        self.offset, self.size, self.stride = offset, tuple(size), tuple(stride)


class Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return Tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in SIZES:
            return name
        raise pickle.UnpicklingError(f"refusing {module}.{name}")

    def persistent_load(self, pid):
        return (pid[1], pid[2])


def walk(obj, path, out):
    if isinstance(obj, dict):
        for key, value in obj.items():
            walk(value, f"{path}.{key}" if path else str(key), out)
    elif isinstance(obj, Tensor):
        out[path] = obj


def contiguous(tensor, storage):
    _, width = SIZES[tensor.kind]
    numel = 1
    for d in tensor.size:
        numel *= d
    expected, acc = [], 1
    for d in reversed(tensor.size):
        expected.insert(0, acc)
        acc *= d
    if tuple(expected) == tensor.stride or numel <= 1:
        start = tensor.offset * width
        return storage[start:start + numel * width]
    parts = []
    for index in itertools.product(*(range(d) for d in tensor.size)):
        element = tensor.offset + sum(i * s for i, s in zip(index, tensor.stride))
        parts.append(storage[element * width:(element + 1) * width])
    return b"".join(parts)


def main(path):
    data = open(path, "rb").read()
    tensors = {}
    storages = {}
    if data[:4] == b"PK\x03\x04":
        archive = zipfile.ZipFile(io.BytesIO(data))
        pkl = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        prefix = pkl[: -len("data.pkl")]
        walk(Unpickler(io.BytesIO(archive.read(pkl))).load(), "", tensors)
        for t in tensors.values():
            storages.setdefault(t.key, archive.read(f"{prefix}data/{t.key}"))
    else:
        f = io.BytesIO(data)
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(f)
        walk(Unpickler(f).load(), "", tensors)
        keys = pickle.load(f)
        kinds = {t.key: t.kind for t in tensors.values()}
        for key in keys:
            (numel,) = struct.unpack("<q", f.read(8))
            storages[key] = f.read(numel * SIZES[kinds[key]][1])
    out = {
        name: {"dtype": SIZES[t.kind][0], "shape": list(t.size),
               "sha256": hashlib.sha256(contiguous(t, storages[t.key])).hexdigest()}
        for name, t in tensors.items()
    }
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
