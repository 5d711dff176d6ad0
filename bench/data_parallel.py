#!/usr/bin/python3
"""Data-parallel scaling: one process on all cores against MPI ranks sharing them, and a model
of the step on N machines.

Usage:
  bench/data_parallel.py [--config stories15M] [--steps 12] [--rounds 3] [--ranks 2]
      [--bandwidth-gbps 10,25,100] [--anetrain build/anetrain]

On this machine it runs, alternating in each round: `anetrain train` as one process (all
cores, one thread each), and under `mpirun -np RANKS` (the cores split among the ranks) with
overlapped buckets, with --no-overlap and with --shard-optimizer. Each run trains STEPS steps on
random tokens; the first two steps are dropped and the median of the rest kept (ms per step,
ms waiting for other ranks, ms in the norm + optimizer update), then the median over rounds.

Then the model (docs/DESIGN.md, "Data parallelism"): with t1 the measured one-process step,
u its norm + update part, G = 4 bytes x parameters of gradients and a link of B bytes/s,
  plain data parallel   t(N) = (t1 - u)/N + u + exposed(2 (N-1)/N G / B)
  ZeRO-1                t(N) = (t1 - u)/N + u/N + exposed(2 (N-1)/N G / B)
where exposed(c) = c without overlap, and max(0, c - h (t1 - u)/N) with overlap: h = 2/3 is the
backward pass's share of the compute, behind which buckets are reduced (an upper bound: the
last bucket always waits). Latency (a few microseconds per message on a LAN) is left out: at
8 MB buckets it is small against the transfer.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARD_MAGIC, SHARD_VERSION = 20240520, 1  # docs/FORMATS.md, token shards


def write_shard(path, tokens, vocab):
    import numpy as np
    header = np.zeros(256, dtype=np.int32)
    header[0], header[1], header[2] = SHARD_MAGIC, SHARD_VERSION, tokens
    body = np.random.default_rng(1).integers(0, vocab, size=tokens, dtype=np.uint16)
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(body.tobytes())


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return re.search(r"Model name:\s*(.*)", out).group(1).strip()
    except Exception:
        return "unknown CPU"


def run(argv, out_dir, env):
    res = subprocess.run(argv, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        sys.exit(f"data_parallel: {' '.join(argv)} failed:\n{res.stdout}\n{res.stderr}")
    params = int(re.search(r"training \S+: (\d+) params", res.stdout).group(1))
    steps = [json.loads(l) for l in open(os.path.join(out_dir, "metrics.jsonl")) if '"ms"' in l]
    steps = steps[2:]  # start-up: first touches, thread pool, MPI connections
    med = lambda k: statistics.median(s.get(k, 0.0) for s in steps)
    return dict(ms=med("ms"), wait=med("wait_ms"), update=med("update_ms"), params=params)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="stories15M")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--bandwidth-gbps", default="10,25,100")
    ap.add_argument("--anetrain", default=os.path.join(ROOT, "build", "anetrain"))
    a = ap.parse_args()
    if a.batch % a.ranks:
        sys.exit("data_parallel: --batch must be a multiple of --ranks")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    tmp = tempfile.mkdtemp(prefix="anetrain-dp-")
    shard = os.path.join(tmp, "train.bin")
    write_shard(shard, 2_000_000, 32000 if a.config != "tiny" else 512)
    train = ["train", "--config", a.config, "--data", shard, "--steps", str(a.steps),
             "--set", f"batch_size={a.batch}", "--set", f"seq_len={a.seq}",
             "--set", "val_every=0", "--set", "log_every=100000", "--set", "save_every=0"]
    mpirun = ["mpirun", "-np", str(a.ranks), "--oversubscribe"]
    variants = [
        ("1 process, all cores", [a.anetrain]),
        (f"{a.ranks} ranks, overlapped buckets", mpirun + [a.anetrain]),
        (f"{a.ranks} ranks, --no-overlap", mpirun + [a.anetrain]),
        (f"{a.ranks} ranks, --shard-optimizer", mpirun + [a.anetrain]),
    ]
    extra = [[], [], ["--no-overlap"], ["--shard-optimizer"]]
    results = {name: [] for name, _ in variants}
    for r in range(a.rounds):
        order = list(range(len(variants)))
        if r % 2:
            order.reverse()  # neither side always runs first
        for i in order:
            name, prefix = variants[i]
            out = os.path.join(tmp, f"run-{r}-{i}")
            results[name].append(run(prefix + train + ["--out", out] + extra[i], out, env))
            print(f"  round {r + 1} {name}: {results[name][-1]['ms']:.1f} ms/step", flush=True)

    tokens = a.batch * a.seq
    agg = {n: {k: statistics.median(x[k] for x in v) for k in ("ms", "wait", "update", "params")}
           for n, v in results.items()}
    base = agg[variants[0][0]]
    nproc = os.cpu_count()
    print(f"\n{a.config}, batch {a.batch} x seq {a.seq}, fp32, {cpu_model()}, {nproc} cores; "
          f"median of {a.rounds} rounds x {a.steps - 2} steps")
    print("| run | ms/step | tokens/s | vs 1 process | waiting for ranks | norm + update |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, _ in variants:
        m = agg[name]
        print(f"| {name} | {m['ms']:.1f} | {tokens / m['ms'] * 1e3:.0f} | "
              f"{base['ms'] / m['ms']:.2f}x | {m['wait']:.1f} ms ({m['wait'] / m['ms']:.0%}) | "
              f"{m['update']:.1f} ms |")

    t1, u = base["ms"] / 1e3, base["update"] / 1e3
    grad_bytes = 4.0 * base["params"]
    compute = t1 - u
    print(f"\nModel: t1 = {t1 * 1e3:.1f} ms measured for one machine like this one "
          f"(norm + update u = {u * 1e3:.1f} ms), G = {grad_bytes / 1e6:.1f} MB of gradients "
          "per step; predicted speedup over one machine (efficiency) for N machines:")
    gbps = [float(x) for x in a.bandwidth_gbps.split(",")]
    print("| link | N | no overlap | overlapped | overlapped + ZeRO-1 |")
    print("|---|---:|---:|---:|---:|")
    for g in gbps:
        bw = g * 1e9 / 8
        for n in (2, 4, 8, 16):
            comm = 2 * (n - 1) / n * grad_bytes / bw
            hidden = 2.0 / 3.0 * compute / n
            plain = compute / n + u + comm
            over = compute / n + u + max(0.0, comm - hidden)
            zero = compute / n + u / n + max(0.0, comm - hidden)
            cell = lambda t: f"{t1 / t:.2f}x ({t1 / t / n:.0%})"
            print(f"| {g:g} Gb/s | {n} | {cell(plain)} | {cell(over)} | {cell(zero)} |")


if __name__ == "__main__":
    main()
