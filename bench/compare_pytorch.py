#!/usr/bin/python3
"""Speed comparison: anetrain vs PyTorch on the same training workloads.

Usage:
  bench/compare_pytorch.py [--configs layer768,stories15M] [--steps N] [--rounds R]
      [--precision fp32[,bf16]] [--anetrain PATH] [--markdown]

Runs `<anetrain> bench --config C --steps N --json --set seq_len=S --set batch_size=B` and
bench/pytorch_baseline.py alternately, R rounds, swapping which goes first each round so
neither always runs on a cooler or warmer machine. Each run reports the median ms/step of its
N steps; the table shows the median of the rounds' medians, tokens/s and GFLOPS derived from
it with one FLOP formula for both sides, % of the machine's peak, peak RSS, and the ratio
pytorch_ms / anetrain_ms (above 1: anetrain is faster). A step faster than the peak it is set
against shows "over peak" instead of a percentage above 100 (the peak measured a slower unit).
PyTorch runs with pytorch_baseline.py --malloc heap unless --pytorch-malloc default.

This module imports nothing heavy: bench/pytorch_baseline.py takes the workload table and the
FLOP formula from here, so both sides and the table agree on what a step is.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# Workloads: model dims and the (seq, batch) the comparison runs at. stories110M runs at
# seq 256 (anetrain's preset trains at 1024) so both stories models use the same window.
PRESETS = {
    "tiny": dict(dim=64, hidden_dim=192, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=512,
                 seq=64, batch=4, block_only=False),
    "stories15M": dict(dim=288, hidden_dim=768, n_layers=6, n_heads=6, n_kv_heads=6,
                       vocab_size=32000, seq=256, batch=8, block_only=False),
    "stories110M": dict(dim=768, hidden_dim=2048, n_layers=12, n_heads=12, n_kv_heads=12,
                        vocab_size=32000, seq=256, batch=8, block_only=False),
    # One transformer block alone: no embedding, no classifier.
    "layer768": dict(dim=768, hidden_dim=2048, n_layers=1, n_heads=12, n_kv_heads=12,
                     vocab_size=32000, seq=512, batch=1, block_only=True),
}

# Peak throughput of the 2-core benchmark machine (AMD EPYC, CPU family 26 = Zen 5, whose
# cores have two full 512-bit FMA pipes: 64 fp32 FLOP/cycle): 2 cores x 64 FLOP/cycle x 4.0 GHz
# = 512, twice that for bf16. This nominal figure is only a fallback: by default each anetrain
# round also measures the peak (`bench --measure-peak`, an FMA / VDPBF16PS loop on both cores;
# 475-548 GFLOPS fp32 seen on this VM as its clock drifts), and "% peak" uses the median of the
# measurements of that row's rounds. --peak-fp32 / --peak-bf16 fix a value instead.
PEAK_GFLOPS = {"fp32": 512.0, "bf16": 1024.0}


def step_flops(cfg, seq, batch):
    """Matmul FLOPs of one training step: 3x the forward (forward, dX, dW), full S x S attention."""
    D, F, H, G = cfg["dim"], cfg["hidden_dim"], cfg["n_heads"], cfg["n_kv_heads"]
    E = D // H
    S = seq
    layer = 2 * S * (D * H * E + 2 * D * G * E + H * E * D) + 2 * S * 3 * D * F + 2 * 2 * S * S * H * E
    forward = cfg["n_layers"] * layer
    if not cfg["block_only"]:
        forward += 2 * S * D * cfg["vocab_size"]
    return 3 * forward * batch


class CompareError(Exception):
    """A problem to report as one line and exit 2."""


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_idle_fraction(seconds=0.5):
    """Fraction of CPU time idle over a short window (Linux /proc/stat), or None."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)  # idle + iowait, total
    try:
        a = sample()
        time.sleep(seconds)
        b = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (b[0] - a[0]) / max(1, b[1] - a[1])


def wait_for_quiet(max_wait, label, prog="compare_pytorch"):
    """Other jobs on a 2-core machine distort timings badly; wait a little, else warn."""
    deadline = time.monotonic() + max_wait
    while True:
        idle = cpu_idle_fraction()
        if idle is None or idle >= 0.9:
            return
        if time.monotonic() >= deadline:
            print(f"{prog}: warning: machine busy before {label} ({idle:.0%} idle); "
                  f"its timing is unreliable", file=sys.stderr)
            return
        time.sleep(1.0)


def last_json_line(stdout):
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                return None
            return obj if isinstance(obj, dict) else None
    return None


def run_one(cmd, env, timeout, label):
    """Runs one benchmark process; returns its parsed JSON result. Raises CompareError."""
    try:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise CompareError(f"{label}: timed out after {timeout} s") from None
    except OSError as e:
        raise CompareError(f"{label}: cannot run {cmd[0]}: {e.strerror}") from None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise CompareError(f"{label}: exited with status {proc.returncode}: {tail}")
    result = last_json_line(proc.stdout)
    if result is None:
        raise CompareError(f"{label}: last stdout line is not a JSON object")
    ms = result.get("ms_per_step")
    if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not ms > 0:
        raise CompareError(f"{label}: JSON has no positive ms_per_step: {result}")
    return result


def anetrain_cmd(args, config, precision, seq, batch):
    cmd = [args.anetrain, "bench", "--config", config, "--steps", str(args.steps), "--json",
           "--set", f"seq_len={seq}", "--set", f"batch_size={batch}"]
    if PRESETS[config]["block_only"]:
        cmd.append("--block")
    if precision != "fp32":
        cmd += ["--precision", precision]
    if args.measure_peak:
        cmd.append("--measure-peak")
    return cmd


def pytorch_cmd(args, config, precision, seq, batch):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_baseline.py")
    return [args.python, script, "--config", config, "--seq", str(seq), "--batch", str(batch),
            "--steps", str(args.steps), "--warmup", str(args.warmup), "--precision", precision,
            "--malloc", args.pytorch_malloc, "--json"]


def row_peak(args, precision, anetrain_runs):
    """The peak GFLOPS a row's "% peak" is taken against, and where it came from."""
    given = args.peak_fp32 if precision == "fp32" else args.peak_bf16
    if given is not None:
        return given, "given"
    measured = [r["measured_peak_gflops"] for r in anetrain_runs
                if isinstance(r.get("measured_peak_gflops"), (int, float))]
    if measured:
        return statistics.median(measured), "measured"
    return PEAK_GFLOPS[precision], "nominal"


def summarize(runs, cfg, seq, batch, peak):
    """Aggregates one impl's rounds into a table row (dict)."""
    ms_list = [r["ms_per_step"] for r in runs]
    ms = statistics.median(ms_list)
    gflops = step_flops(cfg, seq, batch) / (ms / 1e3) / 1e9
    rss = [r.get("peak_rss_mb") for r in runs if isinstance(r.get("peak_rss_mb"), (int, float))]
    return {"ms_per_step": ms, "ms_min": min(ms_list), "ms_max": max(ms_list),
            "tokens_per_s": batch * seq / (ms / 1e3), "gflops": gflops,
            "pct_peak": 100.0 * gflops / peak,
            "peak_rss_mb": max(rss) if rss else None, "rounds": len(ms_list)}


def describe_peaks(peaks_used):
    """'fp32 535 (measured) / bf16 1081 (measured) GFLOPS', ranges when rows differ."""
    parts = []
    for precision, used in peaks_used.items():
        values = sorted(p for p, _ in used)
        sources = "/".join(sorted({s for _, s in used}))
        shown = f"{values[0]:.0f}" if values[-1] - values[0] < 0.5 else f"{values[0]:.0f}-{values[-1]:.0f}"
        parts.append(f"{precision} {shown} ({sources})")
    return " / ".join(parts) + " GFLOPS" if parts else "no peak"


def shown_pct_peak(row):
    """The "% peak" cell: never a figure above 100. A step faster than the peak means the peak
    loop measured a slower unit than the GEMMs used (say VDPBF16PS while the GEMMs ran on AMX
    tiles): the peak is wrong, not the step, so no percentage is shown."""
    if row["pct_peak"] > 100.0:
        return "over peak"
    return f"{row['pct_peak']:.1f}"


def format_table(rows, markdown):
    headers = ["config", "precision", "impl", "ms/step", "range ms", "tokens/s", "GFLOPS",
               "% peak", "RSS MB", "pytorch/anetrain"]
    lines = []
    for r in rows:
        if r.get("failed"):
            cells = [r["config"], r["precision"], r["impl"], "failed", "", "", "", "", "", ""]
        else:
            cells = [r["config"], r["precision"], r["impl"], f"{r['ms_per_step']:.1f}",
                     f"{r['ms_min']:.1f}-{r['ms_max']:.1f}", f"{r['tokens_per_s']:.0f}",
                     f"{r['gflops']:.1f}", shown_pct_peak(r),
                     "" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:.0f}",
                     "" if r.get("ratio") is None else f"{r['ratio']:.2f}x"]
        lines.append(cells)
    return render_table(headers, lines, markdown, text_columns=3)


def render_table(headers, lines, markdown, text_columns):
    """Rows of cell strings as Markdown or aligned text; the first text_columns left-aligned,
    the rest (figures) right-aligned."""
    if markdown:
        out = ["| " + " | ".join(headers) + " |",
               "|" + "|".join("---" if i < text_columns else "---:" for i in range(len(headers))) + "|"]
        out += ["| " + " | ".join(c for c in cells) + " |" for cells in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i < text_columns else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths])] + [fmt(c) for c in lines])


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare anetrain and PyTorch training-step speed.")
    ap.add_argument("--configs", default="layer768,stories15M",
                    help=f"comma-separated workloads from {', '.join(PRESETS)} (default layer768,stories15M)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per run (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="PyTorch untimed steps per run (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    ap.add_argument("--precision", default="fp32", help="fp32, bf16 or a list: fp32,bf16 (default fp32)")
    ap.add_argument("--anetrain", default=None, help="anetrain binary (default build/anetrain in the repo)")
    ap.add_argument("--seq", type=int, help="override every workload's sequence length")
    ap.add_argument("--batch", type=int, help="override every workload's batch size")
    ap.add_argument("--python", default=sys.executable or "/usr/bin/python3",
                    help="Python running the PyTorch baseline (default: this one)")
    ap.add_argument("--omp-wait-policy", default="passive", choices=["active", "passive"],
                    help="OMP_WAIT_POLICY for both processes (default passive: robust when other "
                         "jobs share the cores; active is faster on an idle machine, PyTorch's "
                         "layer768 by 10-15%%, anetrain's by 2-4%%)")
    ap.add_argument("--peak-fp32", type=float,
                    help="fp32 peak GFLOPS for %% peak (default: measured by anetrain each round)")
    ap.add_argument("--peak-bf16", type=float,
                    help="bf16 peak GFLOPS for %% peak (default: measured by anetrain each round)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds allowed per run (default 1800)")
    ap.add_argument("--wait-idle", type=float, default=30,
                    help="seconds to wait for a quiet machine before each run (default 30)")
    ap.add_argument("--pytorch-malloc", choices=["heap", "default"], default="heap",
                    help="pytorch_baseline.py --malloc (default heap: on VMs where page faults "
                         "are expensive glibc's default returns freed memory and PyTorch loses "
                         "3-4x to faults; heap is PyTorch at its fastest)")
    ap.add_argument("--save", help="also write all per-round results to this JSON file")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args(argv)

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    unknown = [c for c in configs if c not in PRESETS]
    if not configs or unknown:
        ap.error(f"unknown config(s) {', '.join(unknown) or '(none given)'}: use {', '.join(PRESETS)}")
    if not precisions or any(p not in ("fp32", "bf16") for p in precisions):
        ap.error("--precision must be fp32, bf16 or fp32,bf16")
    if args.steps <= 0 or args.rounds <= 0 or args.warmup < 0:
        ap.error("--steps and --rounds must be positive, --warmup non-negative")
    for name in ("peak_fp32", "peak_bf16"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            ap.error(f"--{name.replace('_', '-')} must be positive")
    # Measure the peak alongside each anetrain round unless both are given.
    args.measure_peak = args.peak_fp32 is None or args.peak_bf16 is None
    peaks_used = {}  # precision -> list of (peak, source)
    peak_units = {}  # precision -> what anetrain's peak loop ran on

    if args.anetrain is None:
        args.anetrain = os.path.join(repo_root(), "build", "anetrain")
    if not (os.path.isfile(args.anetrain) and os.access(args.anetrain, os.X_OK)):
        print(f"compare_pytorch: error: anetrain binary '{args.anetrain}' not found or not "
              f"executable: build it first (scripts/setup.sh) or pass --anetrain PATH",
              file=sys.stderr)
        return 2

    # Both sides run on OpenMP (libgomp): the same wait policy for both keeps the comparison
    # fair (left unset, libgomp spins briefly before sleeping, between the two policies).
    pytorch_env = dict(os.environ, OMP_WAIT_POLICY=args.omp_wait_policy)
    anetrain_env = dict(os.environ, OMP_WAIT_POLICY=args.omp_wait_policy)
    rows, raw, errors = [], [], 0
    for config in configs:
        cfg = PRESETS[config]
        seq = args.seq or cfg["seq"]
        batch = args.batch or cfg["batch"]
        for precision in precisions:
            results = {"anetrain": [], "pytorch": []}
            failed = set()
            for rnd in range(args.rounds):
                # Alternate who goes first: thermal and cache state drift over a session.
                order = ["anetrain", "pytorch"] if rnd % 2 == 0 else ["pytorch", "anetrain"]
                for impl in order:
                    if impl in failed:
                        continue
                    label = f"{impl} {config} {precision} round {rnd + 1}/{args.rounds}"
                    print(f"compare_pytorch: running {label}", file=sys.stderr)
                    if args.wait_idle > 0:
                        wait_for_quiet(args.wait_idle, label)
                    build = anetrain_cmd if impl == "anetrain" else pytorch_cmd
                    env = anetrain_env if impl == "anetrain" else pytorch_env
                    try:
                        res = run_one(build(args, config, precision, seq, batch), env, args.timeout, label)
                    except CompareError as e:
                        print(f"compare_pytorch: error: {e}", file=sys.stderr)
                        failed.add(impl)
                        errors += 1
                        continue
                    results[impl].append(res)
                    raw.append(dict(res, impl=impl, round=rnd + 1, config=config,
                                    precision=precision, seq=seq, batch=batch))
            if results["anetrain"]:
                reported = [r.get("gflops") for r in results["anetrain"] if isinstance(r.get("gflops"), (int, float))]
                if reported:
                    # Both columns use our formula; a mismatch means the two sides count FLOPs
                    # differently (or anetrain ran another workload), worth knowing.
                    ours = step_flops(cfg, seq, batch) / (results["anetrain"][0]["ms_per_step"] / 1e3) / 1e9
                    if abs(reported[0] - ours) > 0.02 * ours:
                        print(f"compare_pytorch: warning: anetrain reports {reported[0]:.1f} GFLOPS for "
                              f"{config}, our formula gives {ours:.1f}", file=sys.stderr)
            summary = {}
            for r in results["anetrain"]:
                if r.get("peak_unit"):
                    peak_units.setdefault(precision, set()).add(r["peak_unit"])
            peak, source = row_peak(args, precision, results["anetrain"])
            peaks_used.setdefault(precision, []).append((peak, source))
            for impl in ("anetrain", "pytorch"):
                row = {"config": config, "precision": precision, "impl": impl}
                if results[impl]:
                    row.update(summarize(results[impl], cfg, seq, batch, peak))
                    row["peak_gflops"], row["peak_source"] = peak, source
                    summary[impl] = row
                else:
                    row["failed"] = True
                rows.append(row)
            if "anetrain" in summary and "pytorch" in summary:
                summary["anetrain"]["ratio"] = summary["pytorch"]["ms_per_step"] / summary["anetrain"]["ms_per_step"]

    blas = sorted({r.get("blas") for r in raw if r["impl"] == "pytorch" and r.get("blas")})
    torch_version = sorted({r.get("torch") for r in raw if r["impl"] == "pytorch" and r.get("torch")})
    notes = (f"{args.rounds} rounds x {args.steps} steps; PyTorch {', '.join(torch_version) or '?'} "
             f"(BLAS {', '.join(blas) or '?'}, 2 threads, malloc {args.pytorch_malloc}); "
             f"OMP_WAIT_POLICY={args.omp_wait_policy} for both; "
             f"% peak against {describe_peaks(peaks_used)}; "
             f"pytorch/anetrain > 1 means anetrain is faster")
    if peak_units:
        notes += "; peak loops: " + ", ".join(
            f"{p} on {' / '.join(sorted(u))}" for p, u in peak_units.items())
    bandwidth = [r["measured_bandwidth_gbs"] for r in raw if r["impl"] == "anetrain"
                 and isinstance(r.get("measured_bandwidth_gbs"), (int, float))]
    if bandwidth:
        notes += (f"; memory bandwidth (in place) {min(bandwidth):.0f}-{max(bandwidth):.0f} GB/s "
                  "measured alongside")
    if any(not r.get("failed") and r["pct_peak"] > 100.0 for r in rows):
        notes += ("\n\"over peak\": the step ran faster than the measured peak, so that peak is "
                  "not the machine's fastest unit for this precision and no % is shown")
    return finish(format_table(rows, args.markdown), notes, args.save, rows, raw, errors)


def finish(table, notes, save, rows, raw, errors):
    """Prints the table and its notes, saves rows and runs as JSON if asked; the exit status."""
    print(table)
    print()
    print(notes)
    if save:
        with open(save, "w") as f:
            json.dump({"rows": rows, "runs": raw, "notes": notes}, f, indent=1)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
