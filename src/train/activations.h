// Buffers of one micro-batch's forward pass that the backward pass reads, sized for [B, S].
// One AttentionTaps + FfnTaps set per layer, or a single shared set when activations are
// recomputed in backward (then only each block's two residual-stream inputs are kept).
#pragma once

#include <cstdint>
#include <vector>

#include "core/aligned_buffer.h"
#include "kernels/kernels.h"

namespace anetrain {

// q, k and v live back to back in one buffer ([H*E + 2*G*E, T]), and so do dq, dk, dv: with
// Wq, Wk, Wv adjacent in the parameter layout, a backend can run the three projections (and
// their input and weight gradients) as one larger GEMM.
struct QkvBuffer {
  FloatBuffer data;
  int64_t k_offset = 0, v_offset = 0;
  void allocate(const KernelDims& d);
  float* q() { return data.data(); }
  float* k() { return data.data() + k_offset; }
  float* v() { return data.data() + v_offset; }
};

struct AttentionTaps {
  FloatBuffer xnorm, rms_inv, attn, lse;
  QkvBuffer qkv;  // after RoPE (q, k)
  void allocate(const KernelDims& d);
};

struct FfnTaps {
  FloatBuffer xnorm, rms_inv, h1, h3, gate;
  void allocate(const KernelDims& d);
};

struct Activations {
  // resid[l]: input of block l ([D, T]); resid[L] feeds the final norm. mid[l]: the stream
  // between block l's attention and FFN.
  std::vector<FloatBuffer> resid, mid;
  std::vector<AttentionTaps> attention;  // L sets, or 1 when recomputing
  std::vector<FfnTaps> ffn;
  FloatBuffer final_xnorm, final_rms_inv, logits;  // logits: [T, V]

  // Backward scratch, reused by every layer.
  FloatBuffer block_out, dres, dmid, dxnorm, dh1, dh3, dattn, probs, dprobs;
  QkvBuffer dqkv;

  // keep_probs: allocate [H, B, S, S] P and dP (backends that materialize them).
  void allocate(const KernelDims& d, int n_layers, bool recompute, bool for_training,
                bool keep_probs = true);
  int64_t bytes() const;
};

}  // namespace anetrain
