#!/usr/bin/python3
"""Reference data for the MIL conformance corpus (tests/backends/ane/conformance/).

Each corpus program NAME.mil has a manifest NAME.json beside it. For each program this script
writes, under OUT/NAME/:

  NAME.mil               a byte-for-byte copy of the program, so its BLOBFILE paths resolve
  weights/FILE           every weight file the manifest lists, MILBlob v2 (64-byte header with
                         the record count and version 2; per tensor a 64-byte record holding
                         0xDEADBEEF, the dtype, the size, the data offset; data 64-byte aligned),
                         values drawn from the manifest's seeds
  inputs/INPUT.npy       every function input, drawn from the manifest's seeds
  expected/OUTPUT.npy    every function output, computed here in numpy

and prints the `anetrain ane lint` and `anetrain ane run` commands that check the program
against them (tests/backends/ane/conformance_corpus_test.cpp runs the same two commands and
also bounds each output's mean relative error).

Usage:
  /usr/bin/python3 tools/mil_reference.py --out DIR                 # every corpus program
  /usr/bin/python3 tools/mil_reference.py --out DIR A.mil [B.mil]   # the programs named
Then, e.g.:
  build/anetrain ane run DIR/NAME/NAME.mil --input x=DIR/NAME/inputs/x.npy \
      --compare y=DIR/NAME/expected/y.npy --tolerance 0.001

The expected outputs do not come from anetrain: this script reads the MIL text itself (both
dialects: program(1.3)/ios18 scalars such as int32(1), and program(1.0)/ios16-17 rank-0
tensors such as tensor<int32, []>(1); decimal and C hex float literals) and evaluates every op
with numpy in float64. Only the storage model is shared with the interpreter's documentation:
a value the program types fp16 holds fp16 values, so each fp16 result is rounded to fp16 once,
after its op (fp32 results to float32). Each op's result shape and dtype are derived here from
numpy's semantics and must equal the type the program declares.

Manifest (JSON):
  {"description": "...",
   "lint_profile": "m4-macos15",             # the profile `anetrain ane lint` must pass
   "inputs": {"x": {"shape": [1, 64, 1, 32], "dtype": "fp16", "seed": 1,
                    "distribution": "normal", "scale": 1.0}},      # or "uniform" with "low"
                                            # and "high", or "causal" with "fill" (a mask)
   "weights": {"w.bin": [{"offset": 64, "shape": [32, 64, 1, 1], "dtype": "fp16",
                          "seed": 7, "distribution": "normal", "scale": 0.125}, ...]},
   "outputs": ["y"],
   "tolerance": 0.001}                       # largest max rel err `ane run --compare` accepts
Records of a weight file are written in the order listed; each "offset" must be where that
record lands, and every BLOBFILE constant of the program must name one record of its type.
Needs only numpy (1.24 tested). Exits non-zero with a message on any inconsistency.
"""

import argparse
import json
import math
import pathlib
import re
import shutil
import struct
import sys

import numpy as np

CORPUS = pathlib.Path(__file__).resolve().parent.parent / "tests/backends/ane/conformance"


class CorpusError(Exception):
    pass


# ---- MIL text --------------------------------------------------------------------------------

TOKEN = re.compile(r"""
    (?P<space>\s+|//[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\["\\])*")
  | (?P<arrow>->)
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]*\.?[0-9a-fA-F]*[pP][-+]?\d+
                      |(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?
                      |(?:inf|nan)\b))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_@]*)
  | (?P<punct>[()\[\]{}<>,=;])
""", re.VERBOSE)

DTYPES = {"fp16", "fp32", "int32", "bool", "string", "uint64"}


def tokenize(text, name):
    tokens, pos = [], 0
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise CorpusError(f"{name}:{line}: cannot read {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.lastgroup != "space":
            tokens.append((m.lastgroup, m.group()))
    tokens.append(("end", ""))
    return tokens


def number(text):
    """A decimal, C hex float (0x1.8p-3), inf or nan, signed or not."""
    return float.fromhex(text) if "0x" in text.lower() else float(text)


class Value:
    """A typed MIL value: dtype name, shape, and a numpy array (a str for strings)."""

    def __init__(self, dtype, shape, data):
        self.dtype, self.shape, self.data = dtype, tuple(shape), data


class Parser:
    def __init__(self, text, name):
        self.toks, self.i, self.name = tokenize(text, name), 0, name

    def peek(self, k=0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, text):
        _, got = self.next()
        if got != text:
            raise CorpusError(f"{self.name}: expected {text!r}, found {got!r}")
        return got

    def ident(self):
        kind, got = self.next()
        if kind != "ident":
            raise CorpusError(f"{self.name}: expected a name, found {got!r}")
        return got

    def program(self):
        self.expect("program")
        self.expect("(")
        version = self.next()[1]
        self.expect(")")
        if self.peek()[1] == "[":  # buildInfo: not needed for evaluation
            depth = 0
            while True:
                text = self.next()[1]
                depth += {"[": 1, "]": -1}.get(text, 0)
                if depth == 0:
                    break
        self.expect("{")
        self.expect("func")
        func = {"version": version, "name": self.ident()}
        self.expect("<")
        func["opset"] = self.ident()
        self.expect(">")
        self.expect("(")
        func["inputs"] = []
        while self.peek()[1] != ")":
            dtype, shape = self.type()
            func["inputs"].append((self.ident(), dtype, shape))
            if self.peek()[1] == ",":
                self.next()
        self.expect(")")
        self.expect("{")
        func["ops"] = []
        while self.peek()[1] != "}":
            func["ops"].append(self.statement())
        self.expect("}")
        self.expect("->")
        self.expect("(")
        func["outputs"] = []
        while self.peek()[1] != ")":
            func["outputs"].append(self.ident())
            if self.peek()[1] == ",":
                self.next()
        self.expect(")")
        self.expect(";")
        self.expect("}")
        return func

    def type(self):
        word = self.ident()
        if word != "tensor":
            return word, ()
        self.expect("<")
        dtype = self.ident()
        self.expect(",")
        self.expect("[")
        shape = []
        while self.peek()[1] != "]":
            shape.append(int(self.next()[1]))
            if self.peek()[1] == ",":
                self.next()
        self.expect("]")
        self.expect(">")
        return dtype, tuple(shape)

    def starts_literal(self):
        kind, text = self.peek()
        return kind == "ident" and (text == "tensor" or text in DTYPES) and \
            self.peek(1)[1] in ("<", "(")

    def statement(self):
        dtype, shape = self.type()
        op = {"result": self.ident(), "dtype": dtype, "shape": shape, "args": {}}
        self.expect("=")
        op["op"] = self.ident()
        self.expect("(")
        while self.peek()[1] != ")":
            key = self.ident()
            self.expect("=")
            op["args"][key] = self.arg()
            if self.peek()[1] == ",":
                self.next()
        self.expect(")")
        if self.peek()[1] == "[":
            self.next()
            while self.peek()[1] != "]":
                key = self.ident()
                self.expect("=")
                lit = self.literal()
                if key == "val":
                    op["val"] = lit
                if self.peek()[1] == ",":
                    self.next()
            self.expect("]")
        self.expect(";")
        return op

    def arg(self):
        if self.peek()[1] == "(":  # a tuple of values, e.g. concat's values = (a, b)
            self.next()
            names = []
            while self.peek()[1] != ")":
                names.append(self.ident())
                if self.peek()[1] == ",":
                    self.next()
            self.next()
            return ("list", names)
        if self.starts_literal():
            return ("literal", self.literal())
        return ("ref", self.ident())

    def literal(self):
        dtype, shape = self.type()
        self.expect("(")
        if self.peek()[1] == "BLOBFILE":
            self.next()
            self.expect("(")
            blob = {}
            while self.peek()[1] != ")":
                key = self.ident()
                self.expect("=")
                blob[key] = self.literal().data
                if self.peek()[1] == ",":
                    self.next()
            self.expect(")")
            self.expect(")")
            return ("blob", dtype, shape, blob["path"], int(blob["offset"]))
        if dtype == "string":
            _, text = self.next()
            self.expect(")")
            return Value(dtype, shape, text[1:-1].replace('\\"', '"').replace("\\\\", "\\"))
        flat = []
        self.elements(flat)
        self.expect(")")
        if len(flat) != int(np.prod(shape, dtype=np.int64)):
            raise CorpusError(f"{self.name}: literal of shape {shape} holds {len(flat)} values")
        return make_value(dtype, shape, np.array(flat, dtype=np.float64).reshape(shape))

    def elements(self, flat):
        if self.peek()[1] == "[":
            self.next()
            while self.peek()[1] != "]":
                self.elements(flat)
                if self.peek()[1] == ",":
                    self.next()
            self.next()
            return
        text = self.next()[1]
        flat.append(1.0 if text == "true" else 0.0 if text == "false" else number(text))


def make_value(dtype, shape, array):
    """Stores an array as a value of the given MIL dtype (fp16 values rounded to fp16)."""
    array = np.asarray(array, dtype=np.float64)
    if dtype == "fp16":
        with np.errstate(over="ignore"):
            array = array.astype(np.float16).astype(np.float64)
    elif dtype == "fp32":
        array = array.astype(np.float32).astype(np.float64)
    elif dtype == "bool":
        array = array != 0
    elif dtype in ("int32", "uint64"):
        array = array.astype(np.int64)
    return Value(dtype, shape, array.reshape(shape))


# ---- op semantics, in numpy --------------------------------------------------------------------

def gelu(x, mode):
    if mode == "EXACT":
        return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    if mode == "TANH_APPROXIMATION":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    if mode == "SIGMOID_APPROXIMATION":
        return x / (1.0 + np.exp(-1.702 * x))
    raise CorpusError(f"gelu mode {mode}")


def conv(x, w, bias, strides, pad_type, pad, dilations, groups):
    squeeze = x.ndim == 3  # [N, C, W] is [N, C, 1, W]
    if squeeze:
        x, w = x[:, :, None, :], w[:, :, None, :]
        strides, dilations, pad = [1] + strides, [1] + dilations, [0, 0] + pad
    n, c, h, wd = x.shape
    oc, cg, kh, kw = w.shape
    before, after, out = [], [], []
    for i, (size, k) in enumerate(((h, kh), (wd, kw))):
        span = dilations[i] * (k - 1) + 1
        if pad_type in ("same", "same_lower"):
            o = -(-size // strides[i])
            total = max((o - 1) * strides[i] + span - size, 0)
            lo = total // 2 if pad_type == "same" else total - total // 2
            before.append(lo)
            after.append(total - lo)
        elif pad_type == "custom":
            before.append(pad[2 * i])
            after.append(pad[2 * i + 1])
        else:
            before.append(0)
            after.append(0)
        out.append((size + before[i] + after[i] - span) // strides[i] + 1)
    xp = np.pad(x, ((0, 0), (0, 0), (before[0], after[0]), (before[1], after[1])))
    xg = xp.reshape(n, groups, c // groups, *xp.shape[2:])
    wg = w.reshape(groups, oc // groups, cg, kh, kw)
    y = np.zeros((n, groups, oc // groups, out[0], out[1]))
    for i in range(kh):
        for j in range(kw):
            r0, c0 = i * dilations[0], j * dilations[1]
            taps = xg[:, :, :, r0:r0 + (out[0] - 1) * strides[0] + 1:strides[0],
                      c0:c0 + (out[1] - 1) * strides[1] + 1:strides[1]]
            y += np.einsum("ngchw,goc->ngohw", taps, wg[:, :, :, i, j])
    y = y.reshape(n, oc, out[0], out[1])
    if bias is not None:
        y += bias[None, :, None, None]
    return y[:, :, 0, :] if squeeze else y


def matmul(x, y, tx, ty):
    if tx and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    if ty and y.ndim >= 2:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


def reshape(x, shape):
    shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def slice_by_index(x, a):
    rank = x.ndim
    stride = a.get("stride", [1] * rank)
    masks = {k: a.get(k, [False] * rank) for k in ("begin_mask", "end_mask", "squeeze_mask")}
    index = []
    for i in range(rank):
        if masks["squeeze_mask"][i]:
            index.append(int(a["begin"][i]))
            continue
        start = None if masks["begin_mask"][i] else int(a["begin"][i])
        stop = None if masks["end_mask"][i] else int(a["end"][i])
        index.append(slice(start, stop, int(stride[i])))
    return x[tuple(index)]


def slice_by_size(x, begin, size):
    index = []
    for b, s, d in zip(begin, size, x.shape):
        b = b + d if b < 0 else b
        index.append(slice(b, d if s == -1 else b + s))
    return x[tuple(index)]


def concat(values, axis, interleave):
    if not interleave:
        return np.concatenate(values, axis=axis)
    axis = axis % values[0].ndim
    stacked = np.stack(values, axis=axis + 1)  # input j's entry d lands at d * N + j
    shape = list(values[0].shape)
    shape[axis] *= len(values)
    return stacked.reshape(shape)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def axes_of(a):
    return tuple(int(v) for v in a["axes"]) if "axes" in a else None


REDUCE = {"reduce_sum": np.sum, "reduce_mean": np.mean, "reduce_max": np.max,
          "reduce_min": np.min}
BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "real_div": np.divide,
          "pow": np.power, "maximum": np.maximum, "minimum": np.minimum}
UNARY = {"sqrt": np.sqrt, "exp": np.exp, "abs": np.abs, "tanh": np.tanh, "sigmoid": sigmoid,
         "relu": lambda x: np.maximum(x, 0.0), "silu": lambda x: x * sigmoid(x),
         "square": lambda x: x * x}


def evaluate(op, a, v):
    """One op's result as a float64 (or bool/int) array. `a` maps argument names to arrays
    (str for strings, lists of arrays for tuples); `v` to their Values (for dtypes)."""
    name = op["op"]
    if name in BINARY:
        if v["x"].dtype != v["y"].dtype:
            raise CorpusError(f"{op['result']}: x and y dtypes differ")
        return BINARY[name](a["x"], a["y"]), v["x"].dtype
    if name in UNARY:
        return UNARY[name](a["x"]), v["x"].dtype
    if name == "rsqrt":
        eps = float(a.get("epsilon", make_value(v["x"].dtype, (), 1e-12).data))
        return 1.0 / np.sqrt(a["x"] + eps), v["x"].dtype
    if name == "log":
        return np.log(a["x"] + float(a.get("epsilon", 1e-45))), v["x"].dtype
    if name == "gelu":
        return gelu(a["x"], a.get("mode", "EXACT")), v["x"].dtype
    if name == "softmax":
        axis = int(a.get("axis", -1))
        e = np.exp(a["x"] - np.max(a["x"], axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True), v["x"].dtype
    if name in REDUCE:
        return REDUCE[name](a["x"], axis=axes_of(a), keepdims=bool(a.get("keep_dims", False))), \
            v["x"].dtype
    if name == "conv":
        spatial = a["x"].ndim - 2
        ints = lambda key, default: [int(t) for t in a[key]] if key in a else default
        return conv(a["x"], a["weight"], a.get("bias"), ints("strides", [1] * spatial),
                    a.get("pad_type", "valid"), ints("pad", [0] * (2 * spatial)),
                    ints("dilations", [1] * spatial), int(a.get("groups", 1))), v["x"].dtype
    if name == "linear":
        y = a["x"] @ a["weight"].T
        return (y + a["bias"] if "bias" in a else y), v["x"].dtype
    if name == "matmul":
        return matmul(a["x"], a["y"], bool(a.get("transpose_x", False)),
                      bool(a.get("transpose_y", False))), v["x"].dtype
    if name == "reshape":
        return reshape(a["x"], [int(d) for d in a["shape"]]), v["x"].dtype
    if name == "transpose":
        return np.transpose(a["x"], [int(p) for p in a["perm"]]), v["x"].dtype
    if name == "slice_by_size":
        return slice_by_size(a["x"], [int(b) for b in a["begin"]],
                             [int(s) for s in a["size"]]), v["x"].dtype
    if name == "slice_by_index":
        return slice_by_index(a["x"], a), v["x"].dtype
    if name == "concat":
        return concat(a["values"], int(a["axis"]), bool(a.get("interleave", False))), \
            v["values"][0].dtype
    if name == "cast":
        if a["dtype"] not in ("fp16", "fp32"):
            raise CorpusError(f"{op['result']}: cast to {a['dtype']} is not modelled")
        return a["x"], a["dtype"]
    if name == "tile":
        return np.tile(a["x"], [int(r) for r in a["reps"]]), v["x"].dtype
    if name == "expand_dims":
        return np.expand_dims(a["x"], axes_of(a)), v["x"].dtype
    if name == "squeeze":
        return np.squeeze(a["x"], axes_of(a)), v["x"].dtype
    raise CorpusError(f"{op['result']}: op {name} has no numpy reference here")


def run_program(func, inputs, blobs, name):
    env, unread = {}, set(blobs)
    for input_name, dtype, shape in func["inputs"]:
        env[input_name] = make_value(dtype, shape, inputs[input_name])
    for op in func["ops"]:
        where = f"{name}: op '{op['result']}' ({op['op']})"
        if op["op"] == "const":
            val = op["val"]
            if isinstance(val, tuple):  # BLOBFILE
                key = val[1:]
                if key not in blobs:
                    raise CorpusError(f"{where}: no manifest record for BLOBFILE {key[2]} at"
                                         f" offset {key[3]} holding {key[0]} {list(key[1])}")
                unread.discard(key)
                val = make_value(key[0], key[1], blobs[key])
            env[op["result"]] = val
            continue
        values, arrays = {}, {}
        for key, (kind, arg) in op["args"].items():
            if kind == "ref":
                values[key] = env[arg]
            elif kind == "list":
                values[key] = [env[n] for n in arg]
            else:
                values[key] = arg
            got = values[key]
            arrays[key] = [x.data for x in got] if isinstance(got, list) else got.data
        with np.errstate(all="ignore"):
            result, dtype = evaluate(op, arrays, values)
        result = np.asarray(result)
        if dtype != op["dtype"] or tuple(result.shape) != op["shape"]:
            raise CorpusError(f"{where}: numpy gives {dtype} {list(result.shape)}, the program"
                                 f" declares {op['dtype']} {list(op['shape'])}")
        env[op["result"]] = make_value(dtype, result.shape, result)
    if unread:
        raise CorpusError(f"{name}: weight records no BLOBFILE reads: {sorted(unread)}")
    return {out: env[out] for out in func["outputs"]}


# ---- data: seeds, weight files -------------------------------------------------------------

def draw(spec, shape):
    """Values for an input or weight: "normal" (std "scale", default 1), "uniform" ("low",
    "high"), or "causal": 0 on and below the diagonal of the last two axes, "fill" above."""
    kind = spec.get("distribution", "normal")
    if kind == "causal":
        return np.broadcast_to(np.triu(np.full(shape[-2:], float(spec["fill"])), k=1), shape)
    rng = np.random.default_rng(spec["seed"])
    if kind == "uniform":
        return rng.uniform(spec["low"], spec["high"], size=shape)
    if kind != "normal":
        raise CorpusError(f"unknown distribution {kind!r}")
    return rng.normal(0.0, spec.get("scale", 1.0), size=shape)


BLOB_DTYPE = {"fp16": (1, np.float16), "fp32": (2, np.float32)}


def align64(n):
    return (n + 63) // 64 * 64


def milblob(records):
    """The bytes of a MILBlob v2 file holding the given (dtype, array) records, and each
    record's offset."""
    body, offsets = bytearray(64), []
    for dtype, array in records:
        code, np_type = BLOB_DTYPE[dtype]
        data = np.ascontiguousarray(array, dtype=np_type).astype("<" + np.dtype(np_type).str[1:])
        record = align64(len(body))
        body.extend(b"\0" * (record - len(body)))
        offsets.append(record)
        data_at = record + 64
        body.extend(struct.pack("<IIQQQ", 0xDEADBEEF, code, data.nbytes, data_at, 0))
        body.extend(b"\0" * (data_at - len(body)))
        body.extend(data.tobytes())
    struct.pack_into("<II", body, 0, len(records), 2)
    return bytes(body), offsets


# ---- one program ---------------------------------------------------------------------------

def reference(program, out_root):
    program = pathlib.Path(program)
    manifest_path = program.with_suffix(".json")
    if not manifest_path.exists():
        raise CorpusError(f"{program}: no manifest {manifest_path.name} beside it")
    manifest = json.loads(manifest_path.read_text())
    func = Parser(program.read_text(), str(program)).program()
    out = pathlib.Path(out_root) / program.stem
    if out.exists():
        shutil.rmtree(out)
    for sub in ("weights", "inputs", "expected"):
        (out / sub).mkdir(parents=True)
    shutil.copyfile(program, out / program.name)

    blobs = {}
    for file, records in manifest.get("weights", {}).items():
        arrays = [make_value(r["dtype"], r["shape"], draw(r, r["shape"])).data for r in records]
        data, offsets = milblob([(r["dtype"], x) for r, x in zip(records, arrays)])
        for r, x, offset in zip(records, arrays, offsets):
            if r["offset"] != offset:
                raise CorpusError(f"{manifest_path}: {file} record {r} lands at {offset}")
            blobs[(r["dtype"], tuple(r["shape"]), "@model_path/weights/" + file, offset)] = x
        (out / "weights" / file).parent.mkdir(parents=True, exist_ok=True)
        (out / "weights" / file).write_bytes(data)

    inputs = {}
    declared = {n: (d, s) for n, d, s in func["inputs"]}
    if set(declared) != set(manifest["inputs"]):
        raise CorpusError(f"{manifest_path}: inputs {sorted(manifest['inputs'])} but the"
                             f" program takes {sorted(declared)}")
    for name, spec in manifest["inputs"].items():
        if (spec["dtype"], tuple(spec["shape"])) != declared[name]:
            raise CorpusError(f"{manifest_path}: input {name} is {declared[name]} in the"
                                 " program")
        inputs[name] = make_value(spec["dtype"], spec["shape"], draw(spec, spec["shape"])).data
        np.save(out / "inputs" / f"{name}.npy",
                inputs[name].astype(np.float16 if spec["dtype"] == "fp16" else np.float32))

    if sorted(manifest["outputs"]) != sorted(func["outputs"]):
        raise CorpusError(f"{manifest_path}: outputs {sorted(manifest['outputs'])} but the"
                             f" program returns {func['outputs']}")
    results = run_program(func, inputs, blobs, str(program))
    for name, value in results.items():
        if not np.all(np.isfinite(value.data)):
            raise CorpusError(f"{program}: output {name} is not finite everywhere")
        np.save(out / "expected" / f"{name}.npy", value.data.astype(np.float32))

    mil = out / program.name
    run = [f"anetrain ane lint {mil} --profile {manifest['lint_profile']}",
           f"anetrain ane run {mil}" +
           "".join(f" --input {n}={out}/inputs/{n}.npy" for n in manifest["inputs"]) +
           "".join(f" --compare {n}={out}/expected/{n}.npy" for n in manifest["outputs"]) +
           f" --tolerance {manifest['tolerance']}"]
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="directory for OUT/NAME/... reference data")
    parser.add_argument("programs", nargs="*", help="corpus .mil files (default: all)")
    args = parser.parse_args()
    programs = args.programs or sorted(str(p) for p in CORPUS.glob("*.mil"))
    try:
        for program in programs:
            for command in reference(program, args.out):
                print(command)
    except (CorpusError, KeyError, ValueError) as e:
        print(f"mil_reference: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
