#!/usr/bin/python3
"""PyTorch side of anetrain's speed comparison: one training step of the same Llama model.

Usage:
  bench/pytorch_baseline.py --config layer768|stories15M|stories110M|tiny
      [--seq S] [--batch B] [--steps N] [--warmup W] [--precision fp32|bf16] [--json]
      [--lora-rank R [--lora-alpha A] [--lora-targets wq,wk,wv,wo,w1,w2,w3] [--lora-dropout P]]
      [--malloc default|heap]

Each timed step is forward + loss + backward + AdamW step + zero_grad, exactly what a training
loop does. Prints the median ms/step over --steps timed steps (after --warmup untimed ones) and
tokens/s; --json prints one JSON line instead, for bench/compare_pytorch.py.

layer768 times one transformer block alone (no embedding, no classifier) on a random input
x [B, S, 768] with loss = (y * r).sum() / numel for a fixed random r. x requires grad so the
backward also produces dx, as it would for a block inside a stack; otherwise PyTorch would
skip the input-gradient GEMMs (anetrain's layer768 bench must compute dx too for the two
sides to do the same work, and the FLOP formula counts it).

--lora-rank R times a LoRA step instead, as `anetrain bench --lora-rank R` does (whole models
only): every base weight (embedding, norms, projections) has requires_grad=False, and each
targeted projection W [out, in] of every block gets A [R, in] (Kaiming-uniform, bound
1/sqrt(in)) and B [out, R] (zeros) as trainable parameters, y = W x + (alpha/R) B (A x), with
dropout on the adapter's input when --lora-dropout > 0; W + BA is never formed. The step is
forward + loss + backward (autograd computes input gradients through the frozen weights but
no weight gradients for them) + global-norm clipping at 1.0 + AdamW over the adapters only
(weight decay 0.1, as anetrain decays every adapter) + zero_grad. Like anetrain's bench, the
base weights are random: timing does not depend on their values.

Tuning choices (measured on the 2-core Zen 5 box; see the comments at each site): 2 intra-op
threads, OMP_WAIT_POLICY=passive (active is 10-15% faster, but only on an idle machine),
OpenBLAS forced onto its AVX-512 kernels, baddbmm to fuse the 1/sqrt(E) scale and causal
mask into the QK^T GEMM, AdamW with foreach=True. Tried and not
kept: complex-multiply RoPE (no gain), matmul + masked_fill attention (slower), per-tensor
AdamW (slower), BLIS instead of OpenBLAS (1.7x slower here), glibc malloc tunables (no effect
there; on a later VM with expensive page faults they matter: --malloc heap).
fp32 GEMMs go through the system BLAS, so install an optimized one (apt: libopenblas0-openmp);
with Debian's reference BLAS the fp32 numbers are ~20x worse and a warning is printed.

--malloc heap keeps freed memory in glibc's heap instead of returning it (see use_heap_malloc):
on a VM where page faults are expensive PyTorch's whole-model steps run several times faster,
and its peak RSS grows by the memory kept. The default leaves glibc's malloc as it is.
"""

import os

# OpenMP reads this once when the runtime starts, i.e. when torch is imported, so it must be
# set before the import. Measured on the 2-core box (layer768 fp32): on an idle machine
# active waiting is 10-15% faster (workers spin between the many short parallel regions);
# with one core taken by another process passive wins (210 vs 260 ms), and under a parallel
# build active collapsed to ~2 s/step. This machine is shared, so passive is the default;
# pass OMP_WAIT_POLICY=active in the environment (compare_pytorch.py --omp-wait-policy
# active) for best-case numbers on a quiet machine.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def _cpu_has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512f " in f.read().replace("\n", " ")
    except OSError:
        return False


# Debian's torch does its fp32 GEMMs through the system libblas.so.3. OpenBLAS 0.3.21 and
# BLIS 0.9 predate this CPU (Zen 5, family 26) and fall back to AVX2 kernels (OpenBLAS:
# Haswell) or generic ones (BLIS); their AVX-512 kernels run about 1.7x (OpenBLAS) and 5x
# (BLIS) faster on it. These variables are read when the library loads, i.e. at
# `import torch`, so they are set here. This machine's environment pins
# OPENBLAS_CORETYPE=Haswell, so a plain setdefault would not take: we override it, and
# ANETRAIN_OPENBLAS_CORETYPE lets a user choose another core type explicitly.
if os.environ.get("ANETRAIN_OPENBLAS_CORETYPE"):
    os.environ["OPENBLAS_CORETYPE"] = os.environ["ANETRAIN_OPENBLAS_CORETYPE"]
elif _cpu_has_avx512():
    os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
if _cpu_has_avx512():
    os.environ.setdefault("BLIS_ARCH_TYPE", "skx")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# The workload table and FLOP formula live in compare_pytorch.py (which imports no torch), so
# this script, anetrain's comparison table and its GFLOPS column cannot disagree.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_pytorch import PRESETS, step_flops  # noqa: E402

NORM_EPS = 1e-5
ROPE_THETA = 10000.0


def init_params(cfg, gen):
    """Random init like anetrain's: norms 1, N(0, 0.02), wo/w2 scaled by 1/sqrt(2L)."""
    D, F_, H, G, V = cfg["dim"], cfg["hidden_dim"], cfg["n_heads"], cfg["n_kv_heads"], cfg["vocab_size"]
    E = D // H
    std = 0.02
    resid = std / math.sqrt(2 * cfg["n_layers"])

    def normal(shape, s=std):
        return (torch.randn(shape, generator=gen) * s).requires_grad_(True)

    params = {}
    if not cfg["block_only"]:
        params["tok_embeddings.weight"] = normal([V, D])
    for n in range(cfg["n_layers"]):
        p = f"layers.{n}."
        params[p + "attention_norm.weight"] = torch.ones(D, requires_grad=True)
        params[p + "attention.wq.weight"] = normal([H * E, D])
        params[p + "attention.wk.weight"] = normal([G * E, D])
        params[p + "attention.wv.weight"] = normal([G * E, D])
        params[p + "attention.wo.weight"] = normal([D, H * E], resid)
        params[p + "ffn_norm.weight"] = torch.ones(D, requires_grad=True)
        params[p + "feed_forward.w1.weight"] = normal([F_, D])
        params[p + "feed_forward.w2.weight"] = normal([D, F_], resid)
        params[p + "feed_forward.w3.weight"] = normal([F_, D])
    if not cfg["block_only"]:
        params["norm.weight"] = torch.ones(D, requires_grad=True)
        # Tied embeddings: the classifier reuses tok_embeddings.weight (no output.weight).
    return params


# --lora-targets names (anetrain's) and the weights they adapt.
LORA_TARGETS = {"wq": "attention.wq", "wk": "attention.wk", "wv": "attention.wv",
                "wo": "attention.wo", "w1": "feed_forward.w1", "w2": "feed_forward.w2",
                "w3": "feed_forward.w3"}


def freeze_and_add_adapters(params, cfg, rank, targets, gen):
    """Freezes every base weight; returns {"layers.N.attention.wq": (A, B)} trainable adapters."""
    for p in params.values():
        p.requires_grad_(False)
    adapters = {}
    for n in range(cfg["n_layers"]):
        for t in LORA_TARGETS:  # block order, then anetrain's target order
            if t not in targets:
                continue
            name = f"layers.{n}.{LORA_TARGETS[t]}"
            out, inp = params[name + ".weight"].shape
            bound = 1.0 / math.sqrt(inp)
            a = ((torch.rand([rank, inp], generator=gen) * 2 - 1) * bound).requires_grad_(True)
            adapters[name] = (a, torch.zeros([out, rank], requires_grad=True))
    return adapters


class Model:
    """The Llama-2 model of tools/torch_golden.py, with per-shape constants precomputed."""

    def __init__(self, cfg, params, seq, adapters=None, lora_scale=0.0, lora_dropout=0.0):
        self.cfg, self.params = cfg, params
        self.adapters, self.lora_scale, self.lora_dropout = adapters or {}, lora_scale, lora_dropout
        D, H = cfg["dim"], cfg["n_heads"]
        E = D // H
        i = torch.arange(0, E // 2, dtype=torch.float64)
        angle = torch.arange(seq, dtype=torch.float64)[:, None] * ROPE_THETA ** (-2.0 * i / E)
        # [S, 1, E/2] broadcasts over heads in the [B, S, heads, E/2] pair layout.
        self.cos = torch.cos(angle).float()[:, None, :]
        self.sin = torch.sin(angle).float()[:, None, :]
        # Additive causal mask consumed by baddbmm: one fused GEMM does scale, QK^T and mask
        # instead of separate matmul, div and masked_fill passes over the S x S scores.
        self.mask = torch.full((seq, seq), float("-inf")).triu(1)

    def linear(self, x, name):
        """x W^T for the weight `name` ("layers.0.attention.wq"), plus its LoRA path if any."""
        y = F.linear(x, self.params[name + ".weight"])
        adapter = self.adapters.get(name)
        if adapter is None:
            return y
        a, b = adapter
        if self.lora_dropout > 0:
            x = F.dropout(x, self.lora_dropout, training=True)
        # The scale multiplies the rank-R intermediate: the same product, fewer multiplies.
        return y + F.linear(F.linear(x, a) * self.lora_scale, b)

    @staticmethod
    def rmsnorm(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS) * w

    def rope(self, x):
        B, S, nh, E = x.shape
        pairs = x.view(B, S, nh, E // 2, 2)
        a, b = pairs[..., 0], pairs[..., 1]
        c, s = self.cos.to(x.dtype), self.sin.to(x.dtype)
        return torch.stack((a * c - b * s, a * s + b * c), dim=-1).view(B, S, nh, E)

    def block(self, x, layer):
        P = self.params
        p = f"layers.{layer}."
        B, S, D = x.shape
        H, G = self.cfg["n_heads"], self.cfg["n_kv_heads"]
        E = D // H
        n = self.rmsnorm(x, P[p + "attention_norm.weight"])
        q = self.rope(self.linear(n, p + "attention.wq").view(B, S, H, E))
        k = self.rope(self.linear(n, p + "attention.wk").view(B, S, G, E))
        v = self.linear(n, p + "attention.wv").view(B, S, G, E)
        if G != H:  # GQA: query head h reads kv head h // (H/G)
            k = k.repeat_interleave(H // G, dim=2)
            v = v.repeat_interleave(H // G, dim=2)
        q = q.transpose(1, 2).reshape(B * H, S, E)
        k = k.transpose(1, 2).reshape(B * H, S, E)
        v = v.transpose(1, 2).reshape(B * H, S, E)
        mask = self.mask[:S, :S].to(q.dtype)
        scores = torch.baddbmm(mask, q, k.transpose(1, 2), beta=1.0, alpha=1.0 / math.sqrt(E))
        att = torch.bmm(torch.softmax(scores, dim=-1), v)
        att = att.view(B, H, S, E).transpose(1, 2).reshape(B, S, H * E)
        h = x + self.linear(att, p + "attention.wo")
        n = self.rmsnorm(h, P[p + "ffn_norm.weight"])
        ff = F.silu(self.linear(n, p + "feed_forward.w1")) * self.linear(n, p + "feed_forward.w3")
        return h + self.linear(ff, p + "feed_forward.w2")

    def logits(self, tokens):
        emb = self.params["tok_embeddings.weight"]
        x = emb[tokens]
        for layer in range(self.cfg["n_layers"]):
            x = self.block(x, layer)
        return F.linear(self.rmsnorm(x, self.params["norm.weight"]), emb)


def blas_library():
    """Which BLAS serves torch's fp32 GEMMs here: openblas, blis, mkl, reference or unknown."""
    # Debian's torch links libblas.so.3, which update-alternatives points at whichever BLAS
    # package is installed; the mapped file's directory tells which one was loaded.
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "/" in line}
    except OSError:
        return "unknown"
    if any("libmkl" in p for p in paths):
        return "mkl"
    for p in sorted(paths):
        if os.path.basename(p).startswith("libblas.so"):
            d = os.path.dirname(p)
            return "openblas" if "openblas" in d else "blis" if "blis" in d else \
                "reference" if d.endswith("/blas") else "unknown"
    return "unknown"


def use_heap_malloc():
    """glibc serves every block above its mmap threshold (32 MB at most; here the logits, their
    gradient and the larger activations) with a fresh mmap() and returns it with munmap() when
    freed, so each step faults those pages in again. On the Zen 5 VM of 2026-12 that made
    PyTorch's stories15M step 4.0-4.3 s instead of 1.1-1.3 s. Without mmap and with trimming
    only above 2 GB, freed blocks are reused, already mapped. Returns False if libc refuses."""
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's malloc.h
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))


def make_optimizer(params):
    decay = [p for n, p in params.items() if not n.endswith("norm.weight")]
    no_decay = [p for n, p in params.items() if n.endswith("norm.weight")]
    # foreach=True batches the per-tensor update into multi-tensor kernels: fewer passes and
    # less dispatch overhead than the default per-parameter loop.
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=3e-4, betas=(0.9, 0.95), eps=1e-8, foreach=True)


def build_step(cfg, seq, batch, precision, seed=1234, lora=None):
    """Returns a zero-argument function running one training step, and the number of trained
    parameters. `lora`: None (full fine-tuning) or dict(rank, alpha, targets, dropout)."""
    gen = torch.Generator().manual_seed(seed)
    params = init_params(cfg, gen)
    if lora is None:
        model = Model(cfg, params, seq)
        opt = make_optimizer(params)
        trained = list(params.values())
    else:
        adapters = freeze_and_add_adapters(params, cfg, lora["rank"], lora["targets"], gen)
        model = Model(cfg, params, seq, adapters, lora["alpha"] / lora["rank"], lora["dropout"])
        trained = [t for pair in adapters.values() for t in pair]
        opt = torch.optim.AdamW(trained, lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                                foreach=True)
    autocast = precision == "bf16"
    if cfg["block_only"]:
        x = torch.randn(batch, seq, cfg["dim"], generator=gen).requires_grad_(True)
        r = torch.randn(batch, seq, cfg["dim"], generator=gen)

        def loss_fn():
            y = model.block(x, 0)
            return (y.float() * r).sum() / y.numel()
    else:
        tokens = torch.randint(0, cfg["vocab_size"], (batch, seq + 1), generator=gen)
        inputs, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

        def loss_fn():
            logits = model.logits(inputs)
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn()
        loss.backward()
        if lora is not None:
            # anetrain clips every step; PyTorch's full fine-tuning baseline above never has.
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        # set_to_none: the next backward writes fresh gradients instead of adding into zeroed ones.
        opt.zero_grad(set_to_none=True)
        if cfg["block_only"]:
            x.grad = None
        return loss.item()

    return step, sum(t.numel() for t in trained)


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch training-step benchmark (anetrain comparison)")
    ap.add_argument("--config", required=True, choices=sorted(PRESETS))
    ap.add_argument("--seq", type=int, help="sequence length (default: the preset's)")
    ap.add_argument("--batch", type=int, help="batch size (default: the preset's)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads (default 2: the machine's cores)")
    ap.add_argument("--seed", type=int, default=1234, help="seed for weights, inputs and tokens")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    ap.add_argument("--lora-rank", type=int, help="time a LoRA step with rank-R adapters (frozen base)")
    ap.add_argument("--lora-alpha", type=float, default=16.0, help="LoRA scale alpha/R (default 16)")
    ap.add_argument("--lora-targets", default=",".join(LORA_TARGETS),
                    help="weights to adapt, of wq,wk,wv,wo,w1,w2,w3 (default all)")
    ap.add_argument("--lora-dropout", type=float, default=0.0, help="dropout on adapter inputs (default 0)")
    ap.add_argument("--malloc", choices=["default", "heap"], default="default",
                    help="heap: glibc keeps freed memory mapped for reuse (faster where page "
                         "faults are expensive, higher RSS); default: glibc as configured")
    args = ap.parse_args(argv)
    cfg = PRESETS[args.config]
    seq = cfg["seq"] if args.seq is None else args.seq
    batch = cfg["batch"] if args.batch is None else args.batch
    if seq <= 0 or batch <= 0 or args.steps <= 0 or args.warmup < 0:
        ap.error("--seq, --batch and --steps must be positive, --warmup non-negative")
    lora = None
    if args.lora_rank is not None:
        targets = [t for t in args.lora_targets.split(",") if t]
        if args.lora_rank <= 0 or not targets or any(t not in LORA_TARGETS for t in targets) \
                or len(set(targets)) != len(targets) or not args.lora_alpha > 0 \
                or not 0 <= args.lora_dropout < 1:
            ap.error("--lora-rank must be positive, --lora-targets a list of distinct "
                     "wq,wk,wv,wo,w1,w2,w3, --lora-alpha positive, --lora-dropout in [0, 1)")
        if cfg["block_only"]:
            ap.error(f"--lora-rank times whole models; {args.config} is one block")
        lora = dict(rank=args.lora_rank, alpha=args.lora_alpha, targets=targets,
                    dropout=args.lora_dropout)

    if args.malloc == "heap" and not use_heap_malloc():
        print("pytorch_baseline: error: glibc refused mallopt for --malloc heap", file=sys.stderr)
        return 1
    torch.set_num_threads(args.threads)
    step, trained_params = build_step(cfg, seq, batch, args.precision, args.seed, lora)
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t0) * 1e3)
    if not math.isfinite(loss):
        print(f"pytorch_baseline: error: loss is {loss}", file=sys.stderr)
        return 1
    blas = blas_library()
    if blas == "reference" and args.precision == "fp32":
        # The netlib reference BLAS runs ~30x slower than an optimized one: such a baseline
        # would flatter anetrain, so say so loudly.
        print("pytorch_baseline: warning: torch is using the reference BLAS; install "
              "libopenblas0-openmp (apt) for a meaningful fp32 baseline", file=sys.stderr)
    ms = statistics.median(times)
    tokens_per_s = batch * seq / (ms / 1e3)
    # step_flops counts full fine-tuning's work; a LoRA step does less and other work, so its
    # GFLOPS are not reported here (anetrain's bench has the LoRA formula).
    gflops = None if lora else step_flops(cfg, seq, batch) / (ms / 1e3) / 1e9
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux
    mode = "full" if lora is None else "lora"
    if args.json:
        result = {"impl": "pytorch", "config": args.config, "precision": args.precision,
                  "mode": mode, "trained_params": trained_params,
                  "ms_per_step": round(ms, 3), "tokens_per_s": round(tokens_per_s, 1),
                  "steps": args.steps, "seq": seq, "batch": batch,
                  "peak_rss_mb": round(rss_mb, 1),
                  "malloc": args.malloc, "threads": args.threads, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                  "blas": blas,
                  "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""), "torch": torch.__version__}
        if gflops is not None:
            result["gflops"] = round(gflops, 2)
        if lora:
            result.update(lora_rank=lora["rank"], lora_alpha=lora["alpha"],
                          lora_targets=",".join(lora["targets"]), lora_dropout=lora["dropout"])
        print(json.dumps(result))
    else:
        what = "" if lora is None else f" LoRA rank {lora['rank']} ({trained_params} trained parameters)"
        speed = "" if gflops is None else f", {gflops:.1f} GFLOPS"
        print(f"pytorch {torch.__version__} {args.config} {args.precision}{what} seq={seq} batch={batch} "
              f"threads={args.threads} blas={blas}: {ms:.1f} ms/step (median of {args.steps}, "
              f"min {min(times):.1f}, max {max(times):.1f}), {tokens_per_s:.0f} tokens/s"
              f"{speed}, peak RSS {rss_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
