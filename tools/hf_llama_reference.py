#!/usr/bin/python3
"""A Llama in Hugging Face's conventions (PyTorch), to check anetrain's Hugging Face directories.

Usage:
  tools/hf_llama_reference.py logits --model DIR (--tokens 1,5,9 | --tokens-file FILE) --out FILE.npy
  tools/hf_llama_reference.py random --out DIR [--seed N] [--hidden-size 64] [--intermediate-size 96]
      [--layers 2] [--heads 4] [--kv-heads 2] [--vocab 40] [--max-positions 32] [--rope-theta T]
      [--eps E] [--tied] [--dtype f32|f16|bf16] [--shards N]
      [--tokens 1,5,9 | --tokens-file FILE] [--logits-out FILE.npy]

`logits` reads DIR/config.json and DIR/model.safetensors (or the shards that
DIR/model.safetensors.index.json names; F32, F16 or BF16) and writes the logits of one sequence
of token ids, float32 [T, V], as .npy. A tokens file holds ids separated by spaces, commas or
newlines.

`random` writes such a directory with random weights drawn from the seed, laid out as
transformers' save_pretrained lays out a LlamaForCausalLM (config.json, model.safetensors, or
model-0000i-of-0000n.safetensors with model.safetensors.index.json when --shards > 1), and with
--logits-out also the logits of the tokens, computed from the directory as written (so from
the rounded weights when --dtype is f16 or bf16).

The model follows transformers' modeling_llama, not anetrain's layout: RoPE rotates the two
halves of each head against each other (rotate_half), grouped-query attention repeats each
key/value head for its query heads (repeat_kv), RMSNorm takes eps from the config and the MLP
is down(silu(gate(x)) * up(x)). anetrain's export must reorder query and key rows to meet it.
Everything is computed in float64. Errors are one line on stderr, exit status 2.
"""

import argparse
import json
import math
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import SafetensorsError, read_safetensors, write_safetensors  # noqa: E402


class InputError(ValueError):
    """Bad input: reported as one line, exit status 2."""


# ---------------------------------------------------------------------------------------------
# The directory

def read_config(model_dir):
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path) as f:
            config = json.load(f)
        if not isinstance(config, dict):
            raise ValueError("not an object")
    except (OSError, ValueError) as e:  # json.JSONDecodeError is a ValueError
        raise InputError(f"{path}: cannot read a JSON object from it ({e})") from None
    if config.get("model_type", "llama") != "llama":
        raise InputError(f"{path}: model_type is {config['model_type']!r}, not 'llama'")
    required = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "vocab_size"]
    missing = [key for key in required if key not in config]
    if missing:
        raise InputError(f"{path}: key '{missing[0]}' is missing")
    config.setdefault("num_key_value_heads", config["num_attention_heads"])
    for key in required + ["num_key_value_heads"]:
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InputError(f"{path}: key '{key}' must be a positive integer, not {value!r}")
    config.setdefault("rms_norm_eps", 1e-6)
    config.setdefault("rope_theta", 10000.0)
    config.setdefault("tie_word_embeddings", False)
    if config["hidden_size"] % config["num_attention_heads"]:
        raise InputError(f"{path}: hidden_size is not a multiple of num_attention_heads")
    if config["num_attention_heads"] % config["num_key_value_heads"]:
        raise InputError(f"{path}: num_key_value_heads does not divide num_attention_heads")
    return config


def expected_shapes(config):
    """Hugging Face's tensor names and shapes for a config."""
    D, F = config["hidden_size"], config["intermediate_size"]
    H, G, V = config["num_attention_heads"], config["num_key_value_heads"], config["vocab_size"]
    E = D // H
    shapes = {"model.embed_tokens.weight": [V, D]}
    for layer in range(config["num_hidden_layers"]):
        prefix = f"model.layers.{layer}."
        shapes.update({
            prefix + "input_layernorm.weight": [D],
            prefix + "self_attn.q_proj.weight": [H * E, D],
            prefix + "self_attn.k_proj.weight": [G * E, D],
            prefix + "self_attn.v_proj.weight": [G * E, D],
            prefix + "self_attn.o_proj.weight": [D, H * E],
            prefix + "post_attention_layernorm.weight": [D],
            prefix + "mlp.gate_proj.weight": [F, D],
            prefix + "mlp.up_proj.weight": [F, D],
            prefix + "mlp.down_proj.weight": [D, F],
        })
    shapes["model.norm.weight"] = [D]
    if not config["tie_word_embeddings"]:
        shapes["lm_head.weight"] = [V, D]
    return shapes


def read_weights(model_dir, config):
    """The model's tensors as float64 torch tensors, by Hugging Face name."""
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    tensors = {}
    try:
        if os.path.isfile(single) or not os.path.isfile(index):
            tensors, _ = read_safetensors(single)
        else:
            with open(index) as f:
                weight_map = json.load(f)["weight_map"]
            for shard in sorted(set(weight_map.values())):
                tensors.update(read_safetensors(os.path.join(model_dir, shard))[0])
    except (SafetensorsError, OSError, KeyError, json.JSONDecodeError) as e:
        raise InputError(f"{model_dir}: cannot read the weights ({e})") from None
    weights = {}
    for name, shape in expected_shapes(config).items():
        if name not in tensors:
            raise InputError(f"{model_dir}: no tensor '{name}'")
        if list(tensors[name].shape) != shape:
            raise InputError(f"{model_dir}: tensor '{name}' has shape "
                                 f"{list(tensors[name].shape)}, expected {shape}")
        weights[name] = torch.from_numpy(tensors[name].astype(np.float64))
    return weights


# ---------------------------------------------------------------------------------------------
# The model, in transformers' conventions

def rms_norm(hidden, weight, eps):
    variance = hidden.pow(2).mean(-1, keepdim=True)
    return weight * (hidden * torch.rsqrt(variance + eps))


def rotary_cos_sin(length, head_dim, theta):
    """cos and sin [T, E]: frequency i (of E/2) fills columns i and i + E/2."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    freqs = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x, n_rep):
    """[G, T, E] -> [G * n_rep, T, E]: key/value head g serves query heads g*n_rep .. +n_rep-1."""
    if n_rep == 1:
        return x
    heads, length, dim = x.shape
    return x[:, None, :, :].expand(heads, n_rep, length, dim).reshape(heads * n_rep, length, dim)


def self_attention(hidden, weights, prefix, config, cos, sin):
    T = hidden.shape[0]
    H, G = config["num_attention_heads"], config["num_key_value_heads"]
    E = config["hidden_size"] // H

    def project(name, heads):
        return (hidden @ weights[prefix + name].T).view(T, heads, E).transpose(0, 1)

    q = project("self_attn.q_proj.weight", H)
    k = project("self_attn.k_proj.weight", G)
    v = project("self_attn.v_proj.weight", G)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    k, v = repeat_kv(k, H // G), repeat_kv(v, H // G)
    scores = q @ k.transpose(1, 2) / math.sqrt(E)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    probs = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
    out = (probs @ v).transpose(0, 1).reshape(T, H * E)
    return out @ weights[prefix + "self_attn.o_proj.weight"].T


def mlp(hidden, weights, prefix):
    gate = torch.nn.functional.silu(hidden @ weights[prefix + "mlp.gate_proj.weight"].T)
    up = hidden @ weights[prefix + "mlp.up_proj.weight"].T
    return (gate * up) @ weights[prefix + "mlp.down_proj.weight"].T


def llama_logits(config, weights, tokens):
    """Logits [T, V] (float64) of one sequence."""
    eps = config["rms_norm_eps"]
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    cos, sin = rotary_cos_sin(len(tokens), head_dim, float(config["rope_theta"]))
    hidden = weights["model.embed_tokens.weight"][torch.tensor(tokens, dtype=torch.long)]
    for layer in range(config["num_hidden_layers"]):
        prefix = f"model.layers.{layer}."
        normed = rms_norm(hidden, weights[prefix + "input_layernorm.weight"], eps)
        hidden = hidden + self_attention(normed, weights, prefix, config, cos, sin)
        normed = rms_norm(hidden, weights[prefix + "post_attention_layernorm.weight"], eps)
        hidden = hidden + mlp(normed, weights, prefix)
    hidden = rms_norm(hidden, weights["model.norm.weight"], eps)
    head = weights["model.embed_tokens.weight" if config["tie_word_embeddings"] else "lm_head.weight"]
    return hidden @ head.T


def write_logits(model_dir, tokens, out):
    config = read_config(model_dir)
    bad = [t for t in tokens if not 0 <= t < config["vocab_size"]]
    if bad:
        raise InputError(f"token id {bad[0]} is outside the vocabulary [0, {config['vocab_size']})")
    logits = llama_logits(config, read_weights(model_dir, config), tokens)
    np.save(out, logits.numpy().astype(np.float32))


# ---------------------------------------------------------------------------------------------
# A random directory

def write_random(args):
    D, H = args.hidden_size, args.heads
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": D,
        "intermediate_size": args.intermediate_size,
        "num_hidden_layers": args.layers,
        "num_attention_heads": H,
        "num_key_value_heads": args.kv_heads,
        "vocab_size": args.vocab,
        "max_position_embeddings": args.max_positions,
        "rms_norm_eps": args.eps,
        "rope_theta": args.rope_theta,
        "tie_word_embeddings": args.tied,
        "hidden_act": "silu",
        "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[args.dtype],
    }
    if D % H or (D // H) % 2 or H % args.kv_heads:
        raise InputError("the hidden size must split into heads of even size, and "
                             "--kv-heads must divide --heads")
    generator = torch.Generator().manual_seed(args.seed)
    tensors = {}
    for name, shape in expected_shapes(config).items():
        if len(shape) == 1:  # norm gains near 1, so a wrong gain shows
            value = 1.0 + 0.2 * torch.randn(shape, generator=generator)
        elif "embed_tokens" in name:
            value = torch.randn(shape, generator=generator)
        else:  # fan-in scaling keeps activations of order 1
            value = torch.randn(shape, generator=generator) / math.sqrt(shape[1])
        tensors[name] = {"f32": value, "f16": value.half().numpy(), "bf16": value.bfloat16()}[args.dtype]

    os.makedirs(args.out, exist_ok=True)
    names = list(tensors)
    if args.shards <= 1:
        write_safetensors(os.path.join(args.out, "model.safetensors"), tensors, {"format": "pt"})
    else:
        weight_map = {}
        per_shard = math.ceil(len(names) / args.shards)
        for i in range(args.shards):
            shard = f"model-{i + 1:05d}-of-{args.shards:05d}.safetensors"
            part = {n: tensors[n] for n in names[i * per_shard:(i + 1) * per_shard]}
            write_safetensors(os.path.join(args.out, shard), part, {"format": "pt"})
            weight_map.update({n: shard for n in part})
        with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


# ---------------------------------------------------------------------------------------------

def parse_tokens(args):
    if args.tokens is not None and args.tokens_file is not None:
        raise InputError("give --tokens or --tokens-file, not both")
    text = args.tokens
    if args.tokens_file is not None:
        try:
            with open(args.tokens_file) as f:
                text = f.read()
        except OSError as e:
            raise InputError(f"{args.tokens_file}: cannot read ({e.strerror})") from None
    if text is None:
        return None
    try:
        tokens = [int(t) for t in re.split(r"[\s,]+", text.strip()) if t]
    except ValueError:
        raise InputError("token ids must be integers separated by spaces or commas") from None
    if not tokens:
        raise InputError("no token ids given")
    return tokens


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = ap.add_subparsers(dest="mode", required=True)
    logits = modes.add_parser("logits", help="logits of a directory's model for one sequence")
    logits.add_argument("--model", required=True, help="Hugging Face Llama directory")
    logits.add_argument("--out", required=True, help="output .npy, float32 [T, V]")
    random = modes.add_parser("random", help="write a directory with random weights")
    random.add_argument("--out", required=True, help="directory to write")
    random.add_argument("--seed", type=int, default=0)
    random.add_argument("--hidden-size", type=int, default=64)
    random.add_argument("--intermediate-size", type=int, default=96)
    random.add_argument("--layers", type=int, default=2)
    random.add_argument("--heads", type=int, default=4)
    random.add_argument("--kv-heads", type=int, default=2)
    random.add_argument("--vocab", type=int, default=40)
    random.add_argument("--max-positions", type=int, default=32)
    random.add_argument("--rope-theta", type=float, default=10000.0)
    random.add_argument("--eps", type=float, default=1e-5)
    random.add_argument("--tied", action="store_true", help="lm_head shares embed_tokens")
    random.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    random.add_argument("--shards", type=int, default=1, help="safetensors files (> 1: an index)")
    random.add_argument("--logits-out", help="also write the logits of the tokens here (.npy)")
    for mode in (logits, random):
        mode.add_argument("--tokens", help="token ids, e.g. 1,5,9")
        mode.add_argument("--tokens-file", help="file of token ids")
    args = ap.parse_args(argv)
    try:
        run(args)
        return 0
    except (InputError, SafetensorsError, OSError) as e:
        print(f"hf_llama_reference: error: {e}", file=sys.stderr)
        return 2


def run(args):
    tokens = parse_tokens(args)
    if args.mode == "logits":
        if tokens is None:
            raise InputError("logits needs --tokens or --tokens-file")
        write_logits(args.model, tokens, args.out)
        return
    write_random(args)
    if args.logits_out:
        if tokens is None:
            raise InputError("--logits-out needs --tokens or --tokens-file")
        write_logits(args.out, tokens, args.logits_out)


if __name__ == "__main__":
    sys.exit(main())
