#!/usr/bin/python3
"""PyTorch reference ("golden") for anetrain's forward, backward and optimizer.

Usage: tools/torch_golden.py --case DIR --out FILE

DIR holds config.json, model.safetensors (initial F32 weights, Meta names) and batches.bin
(little-endian int32 [steps, grad_accum, batch_size, seq_len + 1]). FILE receives, as F32
safetensors: logits and loss0 of step 0's first micro-batch, grad.<name> of step 0's averaged
loss before clipping, per-step losses / grad_norm / lr, and final.<name> after all steps.

LoRA: when DIR also holds lora.json ({"rank", "alpha", "targets": ["wq", ...]}) and
adapters.safetensors (initial F32 adapters, "layers.N.attention.wq.lora_A" [rank, in] and
"...lora_B" [out, rank] for every block and target), the base weights are frozen and each
targeted projection computes x W^T + (alpha / rank) (x A^T) B^T. AdamW (with weight decay on
every adapter tensor, as anetrain's optimizer over the adapters' layout applies it), clipping
and the grad norm are over the adapters alone; grad.<name> and final.<name> are the adapters'.

The model is written out functionally (no nn.Module) so the same code runs in float32 for the
golden file and in float64 for finite-difference checks, and so every op the C++ side must
mirror is visible in one place. torch 1.13 has no scaled_dot_product_attention, hence the
hand-written attention.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import SafetensorsError, read_safetensors, write_safetensors  # noqa: E402


class GoldenError(ValueError):
    """Bad input: reported as one line, exit status 2."""


# ---------------------------------------------------------------------------------------------
# Config

_INT_KEYS = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len",
             "batch_size", "grad_accum", "warmup_steps", "steps"]
_FLOAT_KEYS = ["norm_eps", "rope_theta", "lr", "min_lr_frac", "weight_decay", "beta1", "beta2",
               "adam_eps", "grad_clip"]
_BOOL_KEYS = ["tied_embeddings", "decay_norms"]


def read_json_object(path):
    try:
        with open(path) as f:
            obj = json.load(f)
    except OSError as e:
        raise GoldenError(f"{path}: cannot read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise GoldenError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise GoldenError(f"{path}: must hold a JSON object")
    return obj


def load_config(path):
    cfg = read_json_object(path)
    missing = [k for k in _INT_KEYS + _FLOAT_KEYS + _BOOL_KEYS if k not in cfg]
    if missing:
        raise GoldenError(f"{path}: missing keys {', '.join(missing)}")
    # bool is a subclass of int in Python, so check it explicitly: "dim": true is a mistake.
    for k in _INT_KEYS:
        v = cfg[k]
        if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, float) and v.is_integer())):
            raise GoldenError(f"{path}: '{k}' must be an integer, got {v!r}")
        cfg[k] = int(v)
    for k in _FLOAT_KEYS:
        if isinstance(cfg[k], bool) or not isinstance(cfg[k], (int, float)):
            raise GoldenError(f"{path}: '{k}' must be a number, got {cfg[k]!r}")
        cfg[k] = float(cfg[k])
    for k in _BOOL_KEYS:
        if not isinstance(cfg[k], bool):
            raise GoldenError(f"{path}: '{k}' must be true or false, got {cfg[k]!r}")
    positive = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "seq_len",
                "batch_size", "grad_accum", "steps"]
    for k in positive:
        if cfg[k] <= 0:
            raise GoldenError(f"{path}: '{k}' must be positive, got {cfg[k]}")
    if cfg["vocab_size"] < 2:
        raise GoldenError(f"{path}: 'vocab_size' must be at least 2")
    if cfg["warmup_steps"] < 0:
        raise GoldenError(f"{path}: 'warmup_steps' must be >= 0")
    if cfg["dim"] % cfg["n_heads"]:
        raise GoldenError(f"{path}: dim {cfg['dim']} is not divisible by n_heads {cfg['n_heads']}")
    if (cfg["dim"] // cfg["n_heads"]) % 2:
        raise GoldenError(f"{path}: head dim (dim / n_heads) must be even for RoPE")
    if cfg["n_heads"] % cfg["n_kv_heads"]:
        raise GoldenError(f"{path}: n_kv_heads {cfg['n_kv_heads']} must divide n_heads {cfg['n_heads']}")
    if cfg["norm_eps"] <= 0 or cfg["rope_theta"] <= 0:
        raise GoldenError(f"{path}: norm_eps and rope_theta must be positive")
    return cfg


LORA_TARGETS = ["wq", "wk", "wv", "wo", "w1", "w2", "w3"]  # anetrain's order within a block
_LORA_MODULE = {"wq": "attention.wq", "wk": "attention.wk", "wv": "attention.wv",
                "wo": "attention.wo", "w1": "feed_forward.w1", "w2": "feed_forward.w2",
                "w3": "feed_forward.w3"}


def load_lora_config(path, cfg):
    """lora.json: {"rank": int >= 1, "alpha": number > 0, "targets": [known names, no repeats]}."""
    lora = read_json_object(path)
    missing = [k for k in ("rank", "alpha", "targets") if k not in lora]
    if missing:
        raise GoldenError(f"{path}: missing keys {', '.join(missing)}")
    rank, alpha, targets = lora["rank"], lora["alpha"], lora["targets"]
    if isinstance(rank, bool) or not (isinstance(rank, int) or
                                      (isinstance(rank, float) and rank.is_integer())):
        raise GoldenError(f"{path}: 'rank' must be an integer, got {rank!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or \
            not math.isfinite(alpha) or alpha <= 0:
        raise GoldenError(f"{path}: 'alpha' must be a positive number, got {alpha!r}")
    if not isinstance(targets, list) or not targets or \
            not all(isinstance(t, str) for t in targets):
        raise GoldenError(f"{path}: 'targets' must be a non-empty list of names from "
                          f"{', '.join(LORA_TARGETS)}")
    unknown = [t for t in targets if t not in LORA_TARGETS]
    if unknown:
        raise GoldenError(f"{path}: unknown targets {', '.join(unknown)} (known: "
                          f"{', '.join(LORA_TARGETS)})")
    if len(set(targets)) != len(targets):
        raise GoldenError(f"{path}: 'targets' names a weight twice: {', '.join(targets)}")
    rank = int(rank)
    smallest = min(min(lora_weight_shape(cfg, t)) for t in targets)
    if rank < 1 or rank > smallest:
        raise GoldenError(f"{path}: 'rank' {rank} is out of range: use 1 to {smallest} "
                          f"(the smallest dimension of a targeted weight)")
    return {"rank": rank, "alpha": float(alpha), "targets": list(targets),
            "scale": float(alpha) / rank}


def lora_weight_shape(cfg, target):
    """[out, in] of a target's base weight."""
    D, F_, H, G = cfg["dim"], cfg["hidden_dim"], cfg["n_heads"], cfg["n_kv_heads"]
    E = D // H
    return {"wq": [H * E, D], "wk": [G * E, D], "wv": [G * E, D], "wo": [D, H * E],
            "w1": [F_, D], "w2": [D, F_], "w3": [F_, D]}[target]


def adapter_shapes(cfg, lora):
    """Adapter names and shapes in anetrain's LoraLayout order (blocks, then targets)."""
    shapes = {}
    r = lora["rank"]
    for n in range(cfg["n_layers"]):
        for t in LORA_TARGETS:
            if t not in lora["targets"]:
                continue
            out, in_ = lora_weight_shape(cfg, t)
            p = f"layers.{n}.{_LORA_MODULE[t]}."
            shapes[p + "lora_A"] = [r, in_]
            shapes[p + "lora_B"] = [out, r]
    return shapes


def param_shapes(cfg):
    """Expected parameter names and shapes, in the C++ ParamLayout order."""
    D, F_, H, G, V = cfg["dim"], cfg["hidden_dim"], cfg["n_heads"], cfg["n_kv_heads"], cfg["vocab_size"]
    E = D // H
    shapes = {"tok_embeddings.weight": [V, D]}
    for n in range(cfg["n_layers"]):
        p = f"layers.{n}."
        shapes[p + "attention_norm.weight"] = [D]
        shapes[p + "attention.wq.weight"] = [H * E, D]
        shapes[p + "attention.wk.weight"] = [G * E, D]
        shapes[p + "attention.wv.weight"] = [G * E, D]
        shapes[p + "attention.wo.weight"] = [D, H * E]
        shapes[p + "ffn_norm.weight"] = [D]
        shapes[p + "feed_forward.w1.weight"] = [F_, D]
        shapes[p + "feed_forward.w2.weight"] = [D, F_]
        shapes[p + "feed_forward.w3.weight"] = [F_, D]
    shapes["norm.weight"] = [D]
    if not cfg["tied_embeddings"]:
        shapes["output.weight"] = [V, D]
    return shapes


# ---------------------------------------------------------------------------------------------
# Model (functional; dtype follows the parameters)

def rmsnorm(x, weight, eps):
    # x / sqrt(mean(x^2) + eps): eps inside the sqrt, as in llama2.c and Meta's reference.
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def rope_tables(seq_len, head_dim, theta, dtype):
    """cos/sin of shape [S, E/2] for llama2.c-style RoPE (adjacent pairs (2i, 2i+1))."""
    # Computed in float64 and rounded once, so the reference carries no avoidable error from
    # the table itself; an implementation computing angles in float differs by ~1 ulp * pos.
    i = torch.arange(0, head_dim // 2, dtype=torch.float64)
    freq = theta ** (-2.0 * i / head_dim)
    angle = torch.arange(seq_len, dtype=torch.float64)[:, None] * freq[None, :]
    return torch.cos(angle).to(dtype), torch.sin(angle).to(dtype)


def apply_rope(x, cos, sin):
    """x: [B, S, heads, E]; rotates each pair (x[2i], x[2i+1]) by angle pos * freq_i."""
    B, S, nh, E = x.shape
    pairs = x.reshape(B, S, nh, E // 2, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).reshape(B, S, nh, E)


def linear(x, params, name, lora):
    """x W^T for base weight `name`, plus the LoRA path scale (x A^T) B^T when `lora` (None, or
    {"scale", "adapters": name -> tensor}) holds an adapter for it."""
    y = F.linear(x, params[name])
    if lora is not None:
        prefix = name[:-len("weight")]
        a = lora["adapters"].get(prefix + "lora_A")
        if a is not None:
            y = y + lora["scale"] * F.linear(F.linear(x, a), lora["adapters"][prefix + "lora_B"])
    return y


def attention(n, params, p, cfg, cos, sin, lora):
    B, S, D = n.shape
    H, G = cfg["n_heads"], cfg["n_kv_heads"]
    E = D // H
    q = apply_rope(linear(n, params, p + "attention.wq.weight", lora).view(B, S, H, E), cos, sin)
    k = apply_rope(linear(n, params, p + "attention.wk.weight", lora).view(B, S, G, E), cos, sin)
    v = linear(n, params, p + "attention.wv.weight", lora).view(B, S, G, E)
    # GQA: query head h reads kv head h // (H/G); repeat_interleave expands kv heads in
    # exactly that order (kv head g serves query heads g*H/G .. (g+1)*H/G - 1).
    if G != H:
        k = k.repeat_interleave(H // G, dim=2)
        v = v.repeat_interleave(H // G, dim=2)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, S, E]
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(E)
    causal = torch.ones(S, S, dtype=torch.bool, device=n.device).triu(1)  # True where j > i
    scores = scores.masked_fill(causal, float("-inf"))
    out = torch.matmul(torch.softmax(scores, dim=-1), v)  # [B, H, S, E]
    return linear(out.transpose(1, 2).reshape(B, S, H * E), params, p + "attention.wo.weight", lora)


def block(x, params, layer, cfg, cos, sin, lora):
    p = f"layers.{layer}."
    eps = cfg["norm_eps"]
    n = rmsnorm(x, params[p + "attention_norm.weight"], eps)
    h = x + attention(n, params, p, cfg, cos, sin, lora)
    n = rmsnorm(h, params[p + "ffn_norm.weight"], eps)
    ff = F.silu(linear(n, params, p + "feed_forward.w1.weight", lora)) * \
        linear(n, params, p + "feed_forward.w3.weight", lora)
    return h + linear(ff, params, p + "feed_forward.w2.weight", lora)


def forward(params, cfg, tokens, lora=None):
    """tokens: int64 [B, S] -> logits [B, S, V] in the parameters' dtype. `lora`: None, or
    {"scale", "adapters": name -> tensor} adding the adapters' paths (see linear())."""
    emb = params["tok_embeddings.weight"]
    S = tokens.shape[1]
    cos, sin = rope_tables(S, cfg["dim"] // cfg["n_heads"], cfg["rope_theta"], emb.dtype)
    x = emb[tokens]
    for layer in range(cfg["n_layers"]):
        x = block(x, params, layer, cfg, cos, sin, lora)
    x = rmsnorm(x, params["norm.weight"], cfg["norm_eps"])
    w_cls = emb if cfg["tied_embeddings"] else params["output.weight"]
    return F.linear(x, w_cls)


def loss_fn(logits, targets):
    """Mean cross-entropy over all B*S positions."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


# ---------------------------------------------------------------------------------------------
# Training

def lr_at(cfg, t):
    lr, warmup, total = cfg["lr"], cfg["warmup_steps"], cfg["steps"]
    if t < warmup:
        return lr * (t + 1) / warmup
    ratio = min(1.0, max(0.0, (t - warmup) / max(1, total - warmup)))
    lr_min = lr * cfg["min_lr_frac"]
    return lr_min + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (lr - lr_min)


def is_norm(name):
    return name.endswith("norm.weight")


def global_grad_norm(params):
    # Same reduction as torch.nn.utils.clip_grad_norm_ (norm of per-tensor norms), so the
    # reported value is identical whether or not clipping is enabled.
    return torch.norm(torch.stack([torch.norm(p.grad.detach(), 2.0) for p in params]), 2.0)


def make_optimizer(params, cfg):
    decay = [p for n, p in params.items() if cfg["decay_norms"] or not is_norm(n)]
    no_decay = [p for n, p in params.items() if not cfg["decay_norms"] and is_norm(n)]
    groups = [{"params": decay, "weight_decay": cfg["weight_decay"]}]
    if no_decay:  # empty when decay_norms is true; torch rejects groups with no params
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]),
                             eps=cfg["adam_eps"])


def train(params, cfg, batches, lora=None):
    """Runs cfg['steps'] steps in place on params (with `lora`, on its adapters over the frozen
    params); returns the golden record (dict of tensors)."""
    out = {}
    trained = lora["adapters"] if lora is not None else params
    plist = list(trained.values())
    opt = make_optimizer(trained, cfg)
    steps, accum = cfg["steps"], cfg["grad_accum"]
    losses, norms, lrs = [], [], []
    for t in range(steps):
        lr_t = lr_at(cfg, t)
        for g in opt.param_groups:
            g["lr"] = lr_t
        opt.zero_grad(set_to_none=False)
        micro = []
        for m in range(accum):
            seq = batches[t, m]
            logits = forward(params, cfg, seq[:, :-1], lora)
            loss = loss_fn(logits, seq[:, 1:])
            # Divide before backward so the accumulated gradient is the mean over micro-batches.
            (loss / accum).backward()
            micro.append(loss.item())
            if t == 0 and m == 0:
                out["logits"] = logits.detach().clone()
                out["loss0"] = loss.detach().reshape(1).clone()
        if t == 0:
            for name, p in trained.items():
                out["grad." + name] = p.grad.detach().clone()
        if cfg["grad_clip"] > 0:
            norm = torch.nn.utils.clip_grad_norm_(plist, cfg["grad_clip"])
        else:
            norm = global_grad_norm(plist)
        opt.step()
        losses.append(sum(micro) / len(micro))
        norms.append(float(norm))
        lrs.append(lr_t)
    out["losses"] = torch.tensor(losses, dtype=torch.float32)
    out["grad_norm"] = torch.tensor(norms, dtype=torch.float32)
    out["lr"] = torch.tensor(lrs, dtype=torch.float32)
    for name, p in trained.items():
        out["final." + name] = p.detach().clone()
    return out


# ---------------------------------------------------------------------------------------------
# Case loading

def read_f32_tensors(path, expected, what):
    """The F32 tensors of safetensors file `path`, exactly the names and shapes of `expected`
    (name -> shape), as torch tensors in `expected`'s order."""
    try:
        tensors, _ = read_safetensors(path)
    except SafetensorsError as e:
        raise GoldenError(str(e)) from None
    missing = [n for n in expected if n not in tensors]
    extra = [n for n in tensors if n not in expected]
    if missing or extra:
        raise GoldenError(f"{path}: tensors do not match {what} (missing: "
                          f"{', '.join(missing) or 'none'}; unexpected: {', '.join(extra) or 'none'})")
    out = {}
    for name, shape in expected.items():
        a = tensors[name]
        if a.dtype != np.float32:
            raise GoldenError(f"{path}: '{name}' is {a.dtype}, expected F32")
        if list(a.shape) != shape:
            raise GoldenError(f"{path}: '{name}' has shape {list(a.shape)}, expected {shape}")
        out[name] = torch.from_numpy(a)
    return out


def load_case(case_dir):
    """Returns (cfg, params: name -> float32 leaf tensor, batches: int64 tensor, lora). Without
    lora.json, lora is None and every param requires grad; with it, lora is {"rank", "alpha",
    "targets", "scale", "adapters": name -> float32 leaf tensor requiring grad} and the params
    are frozen."""
    if not os.path.isdir(case_dir):
        raise GoldenError(f"case directory '{case_dir}' does not exist")
    cfg = load_config(os.path.join(case_dir, "config.json"))
    lora_path = os.path.join(case_dir, "lora.json")
    adapters_path = os.path.join(case_dir, "adapters.safetensors")
    lora = None
    if os.path.exists(lora_path):
        lora = load_lora_config(lora_path, cfg)
        if not os.path.exists(adapters_path):
            raise GoldenError(f"{adapters_path}: missing (lora.json asks for LoRA, which needs "
                              f"the initial adapters)")
        adapters = read_f32_tensors(adapters_path, adapter_shapes(cfg, lora), "lora.json")
        lora["adapters"] = {n: a.requires_grad_(True) for n, a in adapters.items()}
    elif os.path.exists(adapters_path):
        raise GoldenError(f"{adapters_path}: adapters without lora.json (its rank, alpha and "
                          f"targets)")
    params = read_f32_tensors(os.path.join(case_dir, "model.safetensors"), param_shapes(cfg),
                              "config")
    for p in params.values():
        p.requires_grad_(lora is None)

    batch_path = os.path.join(case_dir, "batches.bin")
    dims = (cfg["steps"], cfg["grad_accum"], cfg["batch_size"], cfg["seq_len"] + 1)
    want = int(np.prod(dims)) * 4
    try:
        size = os.path.getsize(batch_path)
    except OSError as e:
        raise GoldenError(f"{batch_path}: cannot read ({e.strerror})") from None
    if size != want:
        raise GoldenError(f"{batch_path}: {size} bytes, expected {want} (int32 {list(dims)})")
    tokens = np.fromfile(batch_path, dtype="<i4").reshape(dims)
    if tokens.min() < 0 or tokens.max() >= cfg["vocab_size"]:
        raise GoldenError(f"{batch_path}: token ids must lie in [0, {cfg['vocab_size']}), "
                          f"found {tokens.min()}..{tokens.max()}")
    return cfg, params, torch.from_numpy(tokens.astype(np.int64)), lora


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", required=True, help="directory with config.json, model.safetensors, "
                    "batches.bin (and for LoRA lora.json, adapters.safetensors)")
    ap.add_argument("--out", required=True, help="output safetensors file")
    args = ap.parse_args(argv)
    try:
        cfg, params, batches, lora = load_case(args.case)
        record = train(params, cfg, batches, lora)
        write_safetensors(args.out, {k: v.to(torch.float32) for k, v in record.items()},
                          {"generator": "tools/torch_golden.py", "torch": torch.__version__})
    except GoldenError as e:
        print(f"torch_golden: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"torch_golden: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
