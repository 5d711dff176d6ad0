#!/usr/bin/python3
"""Turns a text file into llm.c token shards with the raw-bytes "tokenizer" (ids 0..255).

A stopgap for the quickstart until `anetrain data prepare` brings real tokenizers: the last
--val-fraction of the file (cut at a line break) becomes val.bin, the rest train.bin.
Format: 256 little-endian int32 header (magic 20240520, version 1, token count), uint16 ids.
"""
import argparse
import os
import struct
import sys


def write_shard(path, data):
    header = [0] * 256
    header[0], header[1], header[2] = 20240520, 1, len(data)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<256i", *header))
        f.write(struct.pack("<%dH" % len(data), *data))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True, help="directory for train.bin and val.bin")
    p.add_argument("--val-fraction", type=float, default=0.1)
    a = p.parse_args()
    try:
        data = open(a.input, "rb").read()
    except OSError as e:
        sys.exit(f"bytes_to_shards: cannot read '{a.input}': {e.strerror}")
    if len(data) < 10000:
        sys.exit(f"bytes_to_shards: '{a.input}' has only {len(data)} bytes; need a real text")
    cut = data.rfind(b"\n", 0, int(len(data) * (1 - a.val_fraction))) + 1
    os.makedirs(a.out, exist_ok=True)
    write_shard(os.path.join(a.out, "train.bin"), data[:cut])
    write_shard(os.path.join(a.out, "val.bin"), data[cut:])
    print(f"bytes_to_shards: {cut} train and {len(data) - cut} val tokens in {a.out}")


if __name__ == "__main__":
    main()
