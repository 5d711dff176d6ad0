#!/usr/bin/python3
"""LoRA against full fine-tuning, anetrain beside PyTorch, on the same models and batches.

Usage:
  bench/lora.py [--configs stories15M,stories110M] [--rounds 3] [--steps 4] [--warmup 1]
      [--rank 8] [--alpha 16] [--targets wq,wk,wv,wo,w1,w2,w3] [--anetrain PATH]
      [--pytorch-malloc heap|default] [--markdown] [--save FILE]

Each round runs four processes, one after the other: `anetrain bench` (full fine-tuning),
`anetrain bench --lora-rank R`, bench/pytorch_baseline.py and bench/pytorch_baseline.py
--lora-rank R, the order rotated every round so that no run always goes first. Each process
measures its own peak RSS (getrusage), so the memory column is per run. The table shows, per
config, the median over rounds of each run's median ms/step, tokens/s, the highest peak RSS,
anetrain's memory formula (model/memory.h: total and its optimizer-state part) and the ratios:
LoRA against full fine-tuning within each framework (speed-up and RSS), and anetrain against
PyTorch in each mode.

Base weights are random on both sides: a step's time does not depend on their values.
PyTorch runs with --malloc heap by default (pytorch_baseline.py: glibc keeps freed blocks
mapped): on a VM where page faults are expensive its whole-model steps are 3-4x faster so, and
its peak RSS is higher by the memory kept; --pytorch-malloc default shows glibc's own figures.
stories110M runs at batch 4 x seq 256 by default (one PyTorch full fine-tuning step takes
about 3 s on the 2-core VM), the other configs at compare_pytorch.py's shapes.
"""

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_pytorch import (PRESETS, CompareError, finish, render_table,  # noqa: E402
                             repo_root, run_one, wait_for_quiet)

PROG = "lora"
# (seq, batch) where this benchmark differs from PRESETS: keeps stories110M's steps short.
SHAPES = {"stories110M": (256, 4)}
RUNS = [("anetrain", "full"), ("anetrain", "lora"), ("pytorch", "full"), ("pytorch", "lora")]
TARGETS = ["wq", "wk", "wv", "wo", "w1", "w2", "w3"]


class Parser(argparse.ArgumentParser):
    def error(self, message):
        """Bad input: one line on stderr and exit status 2 (not argparse's usage block)."""
        print(f"{PROG}: error: {message}", file=sys.stderr)
        sys.exit(2)


def shape_of(config, args):
    seq, batch = SHAPES.get(config, (PRESETS[config]["seq"], PRESETS[config]["batch"]))
    return args.seq or seq, args.batch or batch


def lora_flags(args):
    return ["--lora-rank", str(args.rank), "--lora-alpha", f"{args.alpha:g}",
            "--lora-targets", args.targets]


def command(args, impl, mode, config, seq, batch):
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup), "--json"]
    if impl == "anetrain":
        cmd = [args.anetrain, "bench", "--config", config, "--set", f"seq_len={seq}",
               "--set", f"batch_size={batch}"] + common
    else:
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_baseline.py")
        cmd = [args.python, script, "--config", config, "--seq", str(seq), "--batch", str(batch),
               "--malloc", args.pytorch_malloc] + common
    return cmd + (lora_flags(args) if mode == "lora" else [])


def machine():
    """'AMD EPYC (family 26), 2 CPUs, AVX-512 BF16' from /proc/cpuinfo, or '?'."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return "?"
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = fields.get("flags", "").split()
    isa = ("AMX-BF16" if "amx_bf16" in flags else "AVX-512 BF16" if "avx512_bf16" in flags
           else "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "")
    return (f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')}), "
            f"{os.cpu_count()} CPUs" + (f", {isa}" if isa else ""))


def summarize(runs):
    ms = [r["ms_per_step"] for r in runs]
    rss = [r["peak_rss_mb"] for r in runs if isinstance(r.get("peak_rss_mb"), (int, float))]
    first = runs[0]
    return {"ms_per_step": statistics.median(ms), "ms_min": min(ms), "ms_max": max(ms),
            "peak_rss_mb": max(rss) if rss else None, "rounds": len(ms),
            "trained_params": first.get("trained_params"),
            "memory_formula_mb": first.get("memory_formula_mb"),
            "memory_optimizer_mb": first.get("memory_optimizer_mb")}


def add_ratios(rows):
    """LoRA against full fine-tuning within each framework; anetrain against PyTorch per mode."""
    by = {(r["config"], r["impl"], r["mode"]): r for r in rows if not r.get("failed")}
    for (config, impl, mode), r in by.items():
        full = by.get((config, impl, "full"))
        if mode == "lora" and full:
            r["lora_speedup"] = full["ms_per_step"] / r["ms_per_step"]
            if r["peak_rss_mb"] and full["peak_rss_mb"]:
                r["lora_rss_ratio"] = r["peak_rss_mb"] / full["peak_rss_mb"]
        other = by.get((config, "pytorch", mode))
        if impl == "anetrain" and other:
            r["pytorch_over_anetrain"] = other["ms_per_step"] / r["ms_per_step"]
            if r["peak_rss_mb"] and other["peak_rss_mb"]:
                r["rss_anetrain_over_pytorch"] = r["peak_rss_mb"] / other["peak_rss_mb"]


def format_table(rows, markdown):
    headers = ["config", "batch x seq", "impl", "mode", "trained params", "ms/step", "range ms",
               "tokens/s", "peak RSS MB", "formula MB", "optimizer MB", "LoRA speed-up",
               "LoRA RSS / full", "PyTorch/anetrain time", "anetrain/PyTorch RSS"]

    def num(value, fmt):
        return "" if value is None else format(value, fmt)

    def ratio(r, key):
        return f"{r[key]:.2f}x" if key in r else ""

    lines = []
    for r in rows:
        cells = [r["config"], f"{r['batch']} x {r['seq']}", r["impl"],
                 "LoRA r" + str(r["rank"]) if r["mode"] == "lora" else "full FT"]
        if r.get("failed"):
            cells += ["failed"] + [""] * (len(headers) - 5)
        else:
            cells += [f"{r['trained_params']:,}" if r.get("trained_params") else "",
                      f"{r['ms_per_step']:.1f}", f"{r['ms_min']:.1f}-{r['ms_max']:.1f}",
                      f"{r['tokens_per_s']:.0f}", num(r["peak_rss_mb"], ".0f"),
                      num(r.get("memory_formula_mb"), ".0f"), num(r.get("memory_optimizer_mb"), ".1f"),
                      ratio(r, "lora_speedup"), ratio(r, "lora_rss_ratio"),
                      ratio(r, "pytorch_over_anetrain"), ratio(r, "rss_anetrain_over_pytorch")]
        lines.append(cells)
    return render_table(headers, lines, markdown, text_columns=4)


def main(argv=None):
    ap = Parser(prog="bench/lora.py",
                description="LoRA vs full fine-tuning, anetrain beside PyTorch.")
    ap.add_argument("--configs", default="stories15M,stories110M",
                    help="comma-separated whole-model workloads (default stories15M,stories110M)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the four runs (default 3)")
    ap.add_argument("--steps", type=int, default=4, help="timed steps per run (default 4)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps per run first (default 1)")
    ap.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    ap.add_argument("--alpha", type=float, default=16.0, help="LoRA alpha (default 16)")
    ap.add_argument("--targets", default=",".join(TARGETS),
                    help="adapted weights, of wq,wk,wv,wo,w1,w2,w3 (default all seven)")
    ap.add_argument("--seq", type=int, help="override every config's sequence length")
    ap.add_argument("--batch", type=int, help="override every config's batch size")
    ap.add_argument("--anetrain", help="anetrain binary (default build/anetrain in the repo)")
    ap.add_argument("--python", default=sys.executable or "/usr/bin/python3",
                    help="Python running the PyTorch baseline (default: this one)")
    ap.add_argument("--pytorch-malloc", choices=["heap", "default"], default="heap",
                    help="pytorch_baseline.py --malloc (default heap: the faster PyTorch here)")
    ap.add_argument("--omp-wait-policy", default="passive", choices=["active", "passive"],
                    help="OMP_WAIT_POLICY for every process (default passive)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds allowed per run (default 900)")
    ap.add_argument("--wait-idle", type=float, default=10,
                    help="seconds to wait for a quiet machine before each run (default 10)")
    ap.add_argument("--save", help="also write the rows and every run's JSON to this file")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    whole = [c for c in PRESETS if not PRESETS[c]["block_only"]]
    bad = [c for c in configs if c not in whole]
    if not configs or bad:
        ap.error(f"--configs: {', '.join(bad) or '(none given)'} is not a whole-model config: "
                 f"use {', '.join(whole)}")
    targets = args.targets.split(",")
    if not targets or any(t not in TARGETS for t in targets) or len(set(targets)) != len(targets):
        ap.error(f"--targets '{args.targets}': name distinct weights of {','.join(TARGETS)}")
    if args.rounds <= 0 or args.steps <= 0 or args.warmup < 0:
        ap.error("--rounds and --steps must be positive, --warmup non-negative")
    if args.rank <= 0 or not args.alpha > 0:
        ap.error("--rank and --alpha must be positive")
    if (args.seq is not None and args.seq <= 0) or (args.batch is not None and args.batch <= 0):
        ap.error("--seq and --batch must be positive")
    if args.anetrain is None:
        args.anetrain = os.path.join(repo_root(), "build", "anetrain")
    if not (os.path.isfile(args.anetrain) and os.access(args.anetrain, os.X_OK)):
        ap.error(f"anetrain binary '{args.anetrain}' not found or not executable: build it "
                 f"first or pass --anetrain PATH")

    env = dict(os.environ, OMP_WAIT_POLICY=args.omp_wait_policy)
    load_before = os.getloadavg()
    rows, raw, errors = [], [], 0
    for config in configs:
        seq, batch = shape_of(config, args)
        results = {run: [] for run in RUNS}
        failed = set()
        for rnd in range(args.rounds):
            order = RUNS[rnd % len(RUNS):] + RUNS[:rnd % len(RUNS)]
            for impl, mode in order:
                if (impl, mode) in failed:
                    continue
                label = f"{impl} {mode} {config} round {rnd + 1}/{args.rounds}"
                print(f"{PROG}: running {label}", file=sys.stderr)
                if args.wait_idle > 0:
                    wait_for_quiet(args.wait_idle, label, PROG)
                try:
                    res = run_one(command(args, impl, mode, config, seq, batch), env, args.timeout, label)
                    if res.get("mode") != mode:
                        raise CompareError(f"{label}: the run reports mode {res.get('mode')!r}, "
                                           f"not {mode!r} (an anetrain build without bench --lora-rank?)")
                except CompareError as e:
                    print(f"{PROG}: error: {e}", file=sys.stderr)
                    failed.add((impl, mode))
                    errors += 1
                    continue
                results[(impl, mode)].append(res)
                raw.append(dict(res, impl=impl, mode=mode, round=rnd + 1, config=config))
        trained = {impl: results[(impl, "lora")][0].get("trained_params")
                   for impl in ("anetrain", "pytorch") if results[(impl, "lora")]}
        if len(set(trained.values())) > 1:
            print(f"{PROG}: warning: {config}: anetrain trains {trained['anetrain']} adapter "
                  f"parameters, PyTorch {trained['pytorch']}: the two do not run the same LoRA",
                  file=sys.stderr)
        for impl, mode in RUNS:
            row = {"config": config, "impl": impl, "mode": mode, "seq": seq, "batch": batch,
                   "rank": args.rank}
            if results[(impl, mode)]:
                row.update(summarize(results[(impl, mode)]))
                row["tokens_per_s"] = batch * seq / (row["ms_per_step"] / 1e3)
            else:
                row["failed"] = True
            rows.append(row)
    add_ratios(rows)
    load_after = os.getloadavg()

    torch_version = sorted({r.get("torch") for r in raw if r.get("torch")})
    blas = sorted({r.get("blas") for r in raw if r.get("blas")})
    notes = (f"machine: {machine()}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after. "
             f"{args.rounds} rounds x {args.steps} steps (+{args.warmup} warm-up) per run, median of "
             f"the rounds' medians; fp32; PyTorch {', '.join(torch_version) or '?'} "
             f"(BLAS {', '.join(blas) or '?'}, 2 threads, malloc {args.pytorch_malloc}); "
             f"OMP_WAIT_POLICY={args.omp_wait_policy}. "
             f"LoRA: rank {args.rank}, alpha {args.alpha:g}, targets {args.targets}, no dropout; "
             f"random base weights. formula MB: anetrain's memory formula (optimizer MB its "
             f"AdamW-state part). LoRA speed-up = full FT ms / LoRA ms in the same framework; "
             f"PyTorch/anetrain > 1: anetrain faster.")
    return finish(format_table(rows, args.markdown), notes, args.save, rows, raw, errors)


if __name__ == "__main__":
    sys.exit(main())
