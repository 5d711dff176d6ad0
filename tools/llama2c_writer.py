#!/usr/bin/env python3
"""llama2.c checkpoints written and read from the format's description alone (numpy only), so
anetrain's codec (src/model/weights_llama2c.cpp) is tested against a second implementation.

  llama2c_writer.py write OUT.bin NPY_DIR --version 0|1 --dim D --hidden-dim F --layers L
                    --heads H --kv-heads G --vocab V --seq-len S [--untied] [--seed N]
      writes random fp32 weights as a llama2.c file, and every tensor as NPY_DIR/NAME.npy
      under Meta's Llama name (tok_embeddings.weight, layers.0.attention.wq.weight, ...).
  llama2c_writer.py read IN.bin NPY_DIR
      checks the header, that the file is exactly as long as it implies and (legacy) its RoPE
      table, writes every tensor as NPY_DIR/NAME.npy and prints the header as one JSON line.
      A file that fails a check: exit status 1 and one line on stderr.

The formats (docs/FORMATS.md, "llama2.c checkpoints and tokenizer.bin"):
  legacy: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), the
    vocab size negated when the classifier is separate; then embedding, attention norms,
    wq, wk, wv, wo, ffn norms, w1, w2, w3 (each kind for all layers), final norm, cos and sin
    tables [seq_len, head_dim/2], the classifier if separate.
  version 1: 256 bytes (uint32 0x616b3432, int32 1, the 7 int32, uint8 shared flag, zeros);
    then attention norms, ffn norms, final norm, embedding, wq, wk, wv, wo, w1, w2, w3, the
    classifier if separate.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

MAGIC = 0x616B3432
ROPE = "rope"  # the legacy cos/sin block's entry in the order


class FormatError(ValueError):
    pass


def tensor_order(h, version):
    """[(name, shape)] of everything after the header, in file order."""
    d, f, layers, heads, kv = h["dim"], h["hidden_dim"], h["n_layers"], h["n_heads"], h["n_kv_heads"]
    e = d // heads

    def kind(suffix, shape):
        return [(f"layers.{i}.{suffix}.weight", shape) for i in range(layers)]

    attention = (kind("attention.wq", (heads * e, d)) + kind("attention.wk", (kv * e, d)) +
                 kind("attention.wv", (kv * e, d)) + kind("attention.wo", (d, heads * e)))
    ffn = (kind("feed_forward.w1", (f, d)) + kind("feed_forward.w2", (d, f)) +
           kind("feed_forward.w3", (f, d)))
    embedding = [("tok_embeddings.weight", (h["vocab_size"], d))]
    final = [("norm.weight", (d,))]
    if version == 0:
        order = (embedding + kind("attention_norm", (d,)) + attention + kind("ffn_norm", (d,)) +
                 ffn + final + [(ROPE, (2, h["seq_len"], e // 2))])
    else:
        order = (kind("attention_norm", (d,)) + kind("ffn_norm", (d,)) + final + embedding +
                 attention + ffn)
    if not h["shared"]:
        order.append(("output.weight", (h["vocab_size"], d)))
    return order


def rope(seq_len, head_dim):
    inv = 10000.0 ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.outer(np.arange(seq_len, dtype=np.float64), inv)
    return np.stack([np.cos(angles), np.sin(angles)]).astype(np.float32)


def header_bytes(h, version):
    vocab = h["vocab_size"] if (version == 1 or h["shared"]) else -h["vocab_size"]
    dims = struct.pack("<7i", h["dim"], h["hidden_dim"], h["n_layers"], h["n_heads"],
                       h["n_kv_heads"], vocab, h["seq_len"])
    if version == 0:
        return dims
    raw = struct.pack("<Ii", MAGIC, 1) + dims + struct.pack("<B", 1 if h["shared"] else 0)
    return raw + b"\0" * (256 - len(raw))


def parse_header(blob):
    if len(blob) >= 8 and struct.unpack_from("<I", blob)[0] == MAGIC:
        version = struct.unpack_from("<i", blob, 4)[0]
        if version != 1:
            raise FormatError(f"version {version} is not read here")
        if len(blob) < 256:
            raise FormatError("shorter than its 256-byte header")
        fields = struct.unpack_from("<7i", blob, 8)
        flag = blob[36]
        if flag not in (0, 1):
            raise FormatError(f"shared-classifier flag {flag}")
        shared, start = flag == 1, 256
    else:
        version = 0
        if len(blob) < 28:
            raise FormatError("shorter than its 28-byte header")
        fields = struct.unpack_from("<7i", blob, 0)
        shared, start = fields[5] > 0, 28
    names = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len")
    h = dict(zip(names, fields))
    h["vocab_size"] = abs(h["vocab_size"])
    h["shared"] = shared
    if min(fields[:5] + fields[6:]) <= 0 or h["vocab_size"] < 2:
        raise FormatError(f"a number in its header is not positive: {h}")
    if h["dim"] % h["n_heads"] or h["n_heads"] % h["n_kv_heads"] or (h["dim"] // h["n_heads"]) % 2:
        raise FormatError(f"inconsistent header: {h}")
    return version, h, start


def cmd_write(a):
    h = dict(dim=a.dim, hidden_dim=a.hidden_dim, n_layers=a.layers, n_heads=a.heads,
             n_kv_heads=a.kv_heads, vocab_size=a.vocab, seq_len=a.seq_len, shared=not a.untied)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.npy_dir, exist_ok=True)
    parts = [header_bytes(h, a.version)]
    for name, shape in tensor_order(h, a.version):
        if name == ROPE:
            parts.append(rope(h["seq_len"], h["dim"] // h["n_heads"]).tobytes())
            continue
        if len(shape) == 1:  # norm gains near 1
            t = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        else:
            t = (0.08 * rng.standard_normal(shape)).astype(np.float32)
        np.save(os.path.join(a.npy_dir, name + ".npy"), t)
        parts.append(t.astype("<f4").tobytes())
    with open(a.out, "wb") as f:
        f.write(b"".join(parts))


def cmd_read(a):
    with open(a.path, "rb") as f:
        blob = f.read()
    version, h, at = parse_header(blob)
    order = tensor_order(h, version)
    need = at + 4 * sum(int(np.prod(shape)) for _, shape in order)
    if need != len(blob):
        raise FormatError(f"{len(blob)} bytes, but the header implies {need}")
    os.makedirs(a.npy_dir, exist_ok=True)
    for name, shape in order:
        count = int(np.prod(shape))
        t = np.frombuffer(blob, dtype="<f4", count=count, offset=at).reshape(shape)
        at += 4 * count
        if name == ROPE:
            if not np.allclose(t, rope(h["seq_len"], h["dim"] // h["n_heads"]), atol=1e-6):
                raise FormatError("its RoPE table is not cos/sin with theta 10000")
            continue
        np.save(os.path.join(a.npy_dir, name + ".npy"), t.astype(np.float32))
    print(json.dumps(dict(version=version, bytes=len(blob), **h)))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("out")
    w.add_argument("npy_dir")
    w.add_argument("--version", type=int, choices=(0, 1), default=0)
    for flag in ("--dim", "--hidden-dim", "--layers", "--heads", "--kv-heads", "--vocab",
                 "--seq-len"):
        w.add_argument(flag, type=int, required=True)
    w.add_argument("--untied", action="store_true")
    w.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("read")
    r.add_argument("path")
    r.add_argument("npy_dir")
    a = p.parse_args()
    try:
        cmd_write(a) if a.command == "write" else cmd_read(a)
    except (FormatError, OSError) as e:
        print(f"{getattr(a, 'path', getattr(a, 'out', ''))}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
