// Element-wise building blocks of the CPU backend's fused kernels, on channel-first [C, T]
// buffers. Loops run along T (contiguous), so the compiler vectorizes them; work is split
// across the pinned pool by channel or by token block.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace anetrain::cpu {

// Rotates interleaved pairs (2i, 2i+1) of every head in x [heads*E, B*S] by angle
// direction * pos * theta^(-2i/E) (llama2.c's RoPE). direction -1 applies the inverse,
// which is RoPE's backward because the rotation is orthogonal.
void rope_rotate(float* x, int64_t heads, const KernelDims& d, float direction);
// rope_rotate of q's H heads and k's G heads: one pass (one parallel region) when k directly
// follows q, as in the trainer's fused [QD + 2 KD, T] layout.
void rope_rotate_qk(float* q, float* k, const KernelDims& d, float direction);

// SwiGLU's gate, gate = silu(h1) * h3, over n elements (on the pool).
void swiglu_forward(const float* h1, const float* h3, int64_t n, float* gate);
// Its input gradients from dgate: dh1 = dgate * h3 * silu'(h1), and dh3 = dgate * silu(h1)
// written over dgate (dgate_in_dh3 holds dgate on entry, dh3 on return).
void swiglu_backward(const float* h1, const float* h3, int64_t n, float* dgate_in_dh3, float* dh1);

// True when Wq, Wk, Wv are one [QD + 2 KD, D] block and the three [C, T] activations
// (q, k, v or dq, dk, dv) one [QD + 2 KD, T] block, so the projections fuse into one GEMM
// (the trainer lays them out so; other callers get three GEMMs).
inline bool qkv_adjacent(const KernelDims& d, const float* wq, const float* wk, const float* wv,
                         const float* q, const float* k, const float* v) {
  const int64_t T = d.T();
  return wk == wq + d.QD() * d.D && wv == wk + d.KD() * d.D && k == q + d.QD() * T &&
         v == k + d.KD() * T;
}

}  // namespace anetrain::cpu
