#!/usr/bin/python3
"""Draws a run's loss curve (training loss per step, validation loss) from DIR/metrics.jsonl
into DIR/loss.png. Several runs are drawn on one set of axes, labelled by directory name
(then --out is required). Usage: tools/plot_metrics.py RUN_DIR [RUN_DIR...] [--out FILE]"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402


def read_run(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    train, val = [], []
    try:
        for line in open(path):
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "loss" in r:
                train.append((r["step"], r["loss"]))
            if "val_loss" in r:
                val.append((r["step"], r["val_loss"]))
    except OSError as e:
        sys.exit(f"plot_metrics: cannot read '{path}': {e.strerror}")
    if not train:
        sys.exit(f"plot_metrics: '{path}' holds no training steps")
    return train, val


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("run_dirs", nargs="+", metavar="run_dir")
    p.add_argument("--out")
    a = p.parse_args()
    if len(a.run_dirs) > 1 and not a.out:
        sys.exit("plot_metrics: several runs need --out FILE for the picture")
    fig, ax = plt.subplots(figsize=(7, 4))
    for run_dir in a.run_dirs:
        train, val = read_run(run_dir)
        name = os.path.basename(os.path.abspath(run_dir))
        prefix = f"{name}: " if len(a.run_dirs) > 1 else ""
        ax.plot(*zip(*train), label=prefix + "train loss", linewidth=1)
        if val:
            ax.plot(*zip(*val), "o-", label=prefix + "validation loss")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(" vs ".join(os.path.basename(os.path.abspath(d)) for d in a.run_dirs))
    ax.grid(alpha=0.3)
    ax.legend()
    out = a.out or os.path.join(a.run_dirs[0], "loss.png")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"plot_metrics: wrote {out}")


if __name__ == "__main__":
    main()
