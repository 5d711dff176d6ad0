// The training step's fused kernels, declared once. Each backend (backends/cpu, backends/ane)
// implements them with exactly these signatures; docs/DESIGN.md draws where they sit in a step.
//
// Layout: every activation is channel-first, [C, T] row-major with T = B*S: channel c of
// sequence b at position s lives at [c * T + b * S + s]. For B = 1 this is the ANE's
// [1, C, 1, S] surface; for B > 1 the sequences sit side by side along the contiguous axis,
// so one GEMM covers the whole micro-batch. Weights are [out, in] row-major (Meta's layout),
// so a projection is Y[out, T] = W[out, in] * X[in, T] with no transposes.
//
// Kernels never add residuals and never compute weight gradients: that host work is shared by
// every backend (train/host_ops.h), as in the seed, where the CPU does it beside the ANE.
//
// kernels/kernel_table.h lists the kernels; adding one starts there.
#pragma once

#include <cstdint>

#include "model/dims.h"

namespace anetrain {

// A LoRA adapter beside a frozen projection (model/lora.h): Y = W X becomes
// W X + scale B (A X), never forming W + scale B A. Inactive (a == nullptr) for a weight without
// one. Forward kernels write the tap ax = A X, which the host's adapter gradients read.
// With dropout (training only), the adapter sees drop * X instead of X (elementwise; drop holds
// 0 or 1 / (1 - p)): forward ax = A (drop * X), and an input-gradient share is
// drop * (A^T scale B^T dY).
struct LoraAdapter {
  const float* a = nullptr;     // [r, in]
  const float* b = nullptr;     // [out, r]
  float* ax = nullptr;          // [r, T] tap
  float* scratch = nullptr;     // [r, T] backward kernels' scratch
  const float* drop = nullptr;  // [in, T] dropout mask, or null: no dropout
  int64_t r = 0;
  float scale = 0;  // alpha / r
  bool active() const { return a != nullptr; }
};

// RMSNorm -> Q,K,V projections -> RoPE on Q,K -> causal SDPA (GQA: query head h reads kv head
// h / (H/G)) -> Wo. `y` excludes the residual.
struct AttentionForwardArgs {
  const float* x;                  // [D, T] block input (residual stream)
  const float* norm_w;             // [D]
  const float *wq, *wk, *wv, *wo;  // [H*E, D], [G*E, D], [G*E, D], [D, H*E]
  float* y;                        // [D, T] out
  // Taps kept for backward:
  float* xnorm;    // [D, T] normed input
  float* rms_inv;  // [T]    1 / rms(x) per token
  float* q;        // [H*E, T] after RoPE
  float* k;        // [G*E, T] after RoPE
  float* v;        // [G*E, T]
  float* attn;     // [H*E, T] SDPA output, before Wo
  float* lse;      // [H, T]   log-sum-exp of each scaled, masked score row (recomputes P)
  // Optional LoRA adapters, added to the projections before RoPE (Wo's is host work).
  LoraAdapter lora_q = {}, lora_k = {}, lora_v = {};
};

// RMSNorm -> W1, W3 -> silu(h1) * h3 -> W2. `y` excludes the residual.
struct FfnForwardArgs {
  const float* x;             // [D, T]
  const float* norm_w;        // [D]
  const float *w1, *w3, *w2;  // [F, D], [F, D], [D, F]
  float* y;                   // [D, T] out
  float* xnorm;               // [D, T] taps
  float* rms_inv;             // [T]
  float* h1;                  // [F, T] W1 xnorm
  float* h3;                  // [F, T] W3 xnorm
  float* gate;                // [F, T] silu(h1) * h3
  // Optional LoRA adapters, added to h1 and h3 before the gate (W2's is host work).
  LoraAdapter lora_1 = {}, lora_3 = {};
};

// dgate = W2^T dy; dh3 = dgate * silu(h1); dh1 = dgate * h3 * silu'(h1);
// dxnorm = W1^T dh1 + W3^T dh3.
struct FfnBackwardArgs {
  const float* dy;  // [D, T]
  const float *w1, *w3, *w2;
  const float *h1, *h3;  // taps
  float* dxnorm;         // [D, T] out
  float* dh1;            // [F, T] out (host: dW1 = dh1 xnorm^T)
  float* dh3;            // [F, T] out (host: dW3 = dh3 xnorm^T)
  // Optional LoRA adapter of W2: dgate gets its path's share before the gate's backward (the
  // shares of W1's and W3's adapters in dxnorm are host work).
  LoraAdapter lora_2 = {};
};

// Part 1: dattn = Wo^T dy; per head P is recomputed from q, k and lse (causal);
// dV = sum over the group's heads of dattn_h P; dP = dattn_h^T V.
// Without materialized P and dP (probs == nullptr), part 1 produces dattn only and part 2
// everything else, dV included: each P tile is then built once, not once per part.
struct SdpaBackward1Args {
  const float* dy;               // [D, T]
  const float* wo;               // [D, H*E]
  const float *q, *k, *v, *lse;  // taps
  float* dattn;                  // [H*E, T] out
  float* dv;      // [G*E, T] out (not written when probs == nullptr: part 2 writes it)
  float* probs;   // [H, B, S, S] out: P[h][b][i][j], row i = query position
  float* dprobs;  // [H, B, S, S] out: dP
  // probs == dprobs == nullptr (backends that do not materialize attention probabilities,
  // see Backend::materializes_attention_probs): part 2 recomputes P and dP per tile instead.
  // Optional LoRA adapter of Wo: dattn gets its path's share before it is used.
  LoraAdapter lora_o = {};
};

// Part 2 (no weights): dS = P * (dP - rowsum(P * dP)) / sqrt(E); dQ = dS K; dK = dS^T Q;
// then RoPE's inverse rotation, so dq and dk are gradients of the projections before RoPE.
// May overwrite dprobs with dS.
struct SdpaBackward2Args {
  const float *q, *k;  // taps (after RoPE)
  const float* probs;
  float* dprobs;  // in: dP; clobbered
  float* dq;      // [H*E, T] out
  float* dk;      // [G*E, T] out
  // Only when probs == nullptr: what recomputing P and dP per tile needs, and dV.
  const float* v = nullptr;      // [G*E, T] tap
  const float* dattn = nullptr;  // [H*E, T] from part 1
  const float* lse = nullptr;    // [H, T] tap
  float* dv = nullptr;           // [G*E, T] out
};

// dxnorm = Wq^T dq + Wk^T dk + Wv^T dv.
struct QkvBackwardArgs {
  const float *dq, *dk, *dv;
  const float *wq, *wk, *wv;
  float* dxnorm;  // [D, T] out
};

// Final RMSNorm -> classifier -> softmax cross-entropy. Logits are token-major [T, V] because
// the softmax runs across the vocabulary. With targets == nullptr only logits are produced.
// Otherwise logits are overwritten by dlogits = (softmax - onehot) * grad_scale.
struct ClassifierLossArgs {
  const float* x;          // [D, T]
  const float* norm_w;     // [D]
  const float* wcls;       // [V, D]
  const int32_t* targets;  // [T] or nullptr
  float grad_scale;        // d(total loss)/d(per-token loss), e.g. 1 / (T * accum)
  float* logits;           // [T, V] out (dlogits when targets are given)
  float* xnorm;            // [D, T] tap
  float* rms_inv;          // [T]
  float* dxnorm;           // [D, T] out when targets are given
  double* loss_sum;        // out: sum over tokens of -log softmax[target]
};

}  // namespace anetrain
