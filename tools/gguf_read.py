#!/usr/bin/env python3
"""Reads a GGUF (version 3) file on its own, with struct and numpy only, and checks it.

    tools/gguf_read.py FILE                      header, every key (arrays summarized), tensors
    tools/gguf_read.py FILE --json               the same as one JSON object, arrays in full
    tools/gguf_read.py FILE --dump NAME OUT.npy  also saves a tensor (row-major numpy shape)

Checks: the magic and version, that every key and tensor info lies within the file, that
general.alignment is a power of two, that every tensor's offset is a multiple of it, and that
the tensors lie within the data section without overlapping. A failed check prints
"error: FILE: reason" and exits 1. Reads F32 and F16 tensors (the types anetrain writes).

Written independently of anetrain's C++ reader so that tests can check one against the other;
docs/FORMATS.md ("GGUF") describes the format.
"""

import argparse
import json
import mmap
import struct
import sys

import numpy as np

# Metadata value types: id -> (name, struct format or None for string/array).
VALUE_TYPES = {
    0: ("uint8", "<B"),
    1: ("int8", "<b"),
    2: ("uint16", "<H"),
    3: ("int16", "<h"),
    4: ("uint32", "<I"),
    5: ("int32", "<i"),
    6: ("float32", "<f"),
    7: ("bool", "<?"),
    8: ("string", None),
    9: ("array", None),
    10: ("uint64", "<Q"),
    11: ("int64", "<q"),
    12: ("float64", "<d"),
}
# ggml tensor types this reader understands: id -> (name, numpy dtype).
TENSOR_TYPES = {0: ("F32", np.dtype("<f4")), 1: ("F16", np.dtype("<f2"))}


class GGUFError(ValueError):
    pass


class Reader:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n, what):
        if n > len(self.buf) - self.pos:
            raise GGUFError(f"truncated: {what} at byte {self.pos} needs {n} bytes, "
                            f"the file has {len(self.buf)}")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt, what):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what):
        n = self.scalar("<Q", what + " length")
        raw = self.take(n, what)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError(f"{what} at byte {self.pos - n} is not UTF-8") from None

    def value(self, type_id, key, depth=0):
        if type_id not in VALUE_TYPES:
            raise GGUFError(f"key {key!r} has unknown value type {type_id}")
        name, fmt = VALUE_TYPES[type_id]
        if fmt is not None:
            return self.scalar(fmt, f"value of {key!r}")
        if name == "string":
            return self.string(f"value of {key!r}")
        if depth > 4:
            raise GGUFError(f"key {key!r} nests arrays too deep")
        element = self.scalar("<I", f"array type of {key!r}")
        count = self.scalar("<Q", f"array length of {key!r}")
        if element not in VALUE_TYPES:
            raise GGUFError(f"key {key!r} is an array of unknown value type {element}")
        _, efmt = VALUE_TYPES[element]
        if efmt is not None:  # numbers: read them in one go
            size = struct.calcsize(efmt)
            raw = self.take(size * count, f"array {key!r}")
            items = list(struct.unpack(f"<{count}{efmt[1]}", raw))
        else:
            items = [self.value(element, key, depth + 1) for _ in range(count)]
        return {"element_type": VALUE_TYPES[element][0], "items": items}


def parse(buf):
    """Parses and checks a whole GGUF file held in `buf` (bytes-like). Returns a dict."""
    r = Reader(buf)
    if bytes(r.take(4, "magic")) != b"GGUF":
        raise GGUFError("not a GGUF file (no magic 'GGUF')")
    version = r.scalar("<I", "version")
    if version != 3:
        raise GGUFError(f"GGUF version {version}; this reader reads version 3")
    tensor_count = r.scalar("<Q", "tensor count")
    kv_count = r.scalar("<Q", "key count")

    metadata = {}
    for i in range(kv_count):
        key = r.string(f"key #{i}")
        if key in metadata:
            raise GGUFError(f"key {key!r} appears twice")
        type_id = r.scalar("<I", f"type of {key!r}")
        metadata[key] = {"type": VALUE_TYPES.get(type_id, ("?", None))[0],
                         "value": r.value(type_id, key)}

    alignment = 32
    if "general.alignment" in metadata:
        entry = metadata["general.alignment"]
        alignment = entry["value"]
        if entry["type"] != "uint32" or alignment <= 0 or alignment & (alignment - 1):
            raise GGUFError(f"general.alignment {alignment} ({entry['type']}) is not a uint32 "
                            "power of two")

    tensors = []
    names = set()
    for i in range(tensor_count):
        name = r.string(f"tensor #{i} name")
        if name in names:
            raise GGUFError(f"tensor {name!r} appears twice")
        names.add(name)
        n_dims = r.scalar("<I", f"dimension count of {name!r}")
        if not 1 <= n_dims <= 4:
            raise GGUFError(f"tensor {name!r} has {n_dims} dimensions")
        ne = [r.scalar("<Q", f"dimension of {name!r}") for _ in range(n_dims)]
        type_id = r.scalar("<I", f"type of {name!r}")
        offset = r.scalar("<Q", f"offset of {name!r}")
        if type_id not in TENSOR_TYPES:
            raise GGUFError(f"tensor {name!r} has ggml type {type_id}; this reader reads F32, F16")
        type_name, dtype = TENSOR_TYPES[type_id]
        shape = list(reversed(ne))  # numpy order: slowest-varying first
        nbytes = int(np.prod(shape, dtype=np.uint64)) * dtype.itemsize
        tensors.append({"name": name, "ne": ne, "shape": shape, "type": type_name,
                        "offset": offset, "nbytes": nbytes})

    data_offset = -(-r.pos // alignment) * alignment
    data_size = max(0, len(buf) - data_offset)
    for t in tensors:
        if t["offset"] % alignment:
            raise GGUFError(f"tensor {t['name']!r}: offset {t['offset']} is not a multiple of "
                            f"the alignment {alignment}")
        if t["offset"] + t["nbytes"] > data_size:
            raise GGUFError(f"tensor {t['name']!r}: {t['nbytes']} bytes at data offset "
                            f"{t['offset']} end past the end of the file")
    ordered = sorted(tensors, key=lambda t: t["offset"])
    for a, b in zip(ordered, ordered[1:]):
        if a["offset"] + a["nbytes"] > b["offset"]:
            raise GGUFError(f"tensors {a['name']!r} and {b['name']!r} overlap")
    return {"version": version, "tensor_count": tensor_count, "kv_count": kv_count,
            "alignment": alignment, "data_offset": data_offset, "file_size": len(buf),
            "metadata": metadata, "tensors": tensors}


def tensor_array(buf, info, parsed):
    """A tensor's data as a numpy array of its row-major shape (a copy)."""
    dtype = dict(TENSOR_TYPES.values())[info["type"]]
    start = parsed["data_offset"] + info["offset"]
    count = info["nbytes"] // dtype.itemsize
    return np.frombuffer(buf, dtype=dtype, count=count, offset=start).reshape(info["shape"]).copy()


def summarize(value, limit=6):
    if isinstance(value, dict):  # an array
        items = value["items"]
        shown = ", ".join(summarize(v) for v in items[:limit])
        more = f", ... ({len(items)} in all)" if len(items) > limit else ""
        return f"[{shown}{more}]"
    return repr(value)


def print_text(path, parsed):
    print(f"{path}: GGUF version {parsed['version']}, {parsed['kv_count']} keys, "
          f"{parsed['tensor_count']} tensors, alignment {parsed['alignment']}, "
          f"data at byte {parsed['data_offset']} of {parsed['file_size']}")
    for key, entry in parsed["metadata"].items():
        kind = entry["type"]
        if kind == "array":
            kind = f"array of {len(entry['value']['items'])} {entry['value']['element_type']}"
        print(f"key {key} ({kind}) = {summarize(entry['value'])}")
    for t in parsed["tensors"]:
        print(f"tensor {t['name']} {t['type']} shape {tuple(t['shape'])} offset {t['offset']} "
              f"bytes {t['nbytes']}")
    print("checks: ok")


def load(path):
    """The file's bytes, memory-mapped (an empty file cannot be mapped)."""
    try:
        with open(path, "rb") as f:
            if f.seek(0, 2) == 0:
                return b""
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise GGUFError(e.strerror) from None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file")
    ap.add_argument("--json", action="store_true", help="print one JSON object, arrays in full")
    ap.add_argument("--dump", nargs=2, action="append", default=[], metavar=("NAME", "OUT.npy"),
                    help="save tensor NAME to OUT.npy (repeatable)")
    args = ap.parse_args(argv)
    try:
        buf = load(args.file)
        parsed = parse(buf)
        by_name = {t["name"]: t for t in parsed["tensors"]}
        for name, out in args.dump:
            if name not in by_name:
                raise GGUFError(f"has no tensor {name!r}")
            np.save(out, tensor_array(buf, by_name[name], parsed))
    except GGUFError as e:
        print(f"error: {args.file}: {e}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(parsed, sys.stdout)
        print()
    else:
        print_text(args.file, parsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
