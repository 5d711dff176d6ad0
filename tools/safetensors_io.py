"""Minimal safetensors reader/writer (numpy only), shared by the Python tools.

Format: 8-byte little-endian uint64 N, then N bytes of JSON header, then the data buffer.
The header maps tensor name -> {"dtype", "shape", "data_offsets": [begin, end]} with offsets
relative to the start of the buffer, plus an optional "__metadata__" {str: str}.

We write our own instead of depending on the `safetensors` package because the tools must
run on Debian's python3 with no pip installs.
"""

import json
import struct

import numpy as np

# Only the dtypes the project produces or is likely to meet; all stored little-endian. BF16 has
# no numpy dtype: it is read into float32 and written from a torch.bfloat16 tensor.
_DTYPES = {
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}

# A header larger than this is certainly a corrupt or foreign file; refusing early avoids
# trying to allocate gigabytes from a garbage length field.
_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """Raised with a one-line, human-readable reason when a file is malformed."""


def read_safetensors(path):
    """Returns (tensors, metadata): tensors is a dict name -> numpy array (in file order)."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise SafetensorsError(f"{path}: cannot read ({e.strerror})") from None
    if len(blob) < 8:
        raise SafetensorsError(f"{path}: too short to be a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > _MAX_HEADER or 8 + n > len(blob):
        raise SafetensorsError(f"{path}: header length {n} does not fit the file")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    buf = memoryview(blob)[8 + n:]
    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    for name, info in header.items():
        try:
            dtype = np.dtype("<u2") if info["dtype"] == "BF16" else _DTYPES[info["dtype"]]
            shape = [int(s) for s in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(
                f"{path}: tensor '{name}' has a bad or unsupported header entry {info!r}") from None
        count = int(np.prod(shape, dtype=np.int64))
        if any(s < 0 for s in shape) or not 0 <= begin <= end <= len(buf) or \
                end - begin != count * dtype.itemsize:
            raise SafetensorsError(
                f"{path}: tensor '{name}' offsets {begin}..{end} do not match shape {shape} "
                f"({len(buf)} data bytes)")
        # copy() so the arrays own writable memory and do not pin the whole file blob.
        a = np.frombuffer(buf[begin:end], dtype=dtype).reshape(shape).copy()
        if info["dtype"] == "BF16":  # the top half of a float32's bits
            a = (a.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = a
    return tensors, metadata


def write_safetensors(path, tensors, metadata=None):
    """Writes a dict name -> array-like (numpy array or torch tensor) in insertion order."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    arrays = []
    offset = 0
    for name, value in tensors.items():
        dtype_name = None
        if hasattr(value, "detach"):  # torch tensor; avoid importing torch here
            value = value.detach().cpu()
            if str(value.dtype) == "torch.bfloat16":
                import torch  # only reached with a torch tensor in hand
                dtype_name = "BF16"
                value = value.view(torch.int16)  # the same bits, in a dtype numpy has
            value = value.numpy()
        a = np.asarray(value)
        dtype = a.dtype.newbyteorder("<")
        if dtype_name is None and dtype not in _NAMES:
            raise SafetensorsError(f"tensor '{name}': dtype {a.dtype} is not supported")
        a = np.ascontiguousarray(a, dtype=dtype)
        nbytes = a.nbytes
        header[name] = {"dtype": dtype_name or _NAMES[dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + nbytes]}
        arrays.append(a)
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Pad with spaces so the data buffer starts 8-byte aligned, as the format recommends;
    # readers that mmap the file can then view tensors in place.
    text += b" " * ((-(8 + len(text))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for a in arrays:
            f.write(a.tobytes())
