// FLOP counting, one convention everywhere (docs/DESIGN.md "FLOP counting"): a training step
// costs 3 x the forward pass's matrix-multiply FLOPs (forward, plus input gradients, plus
// weight gradients), 2 FLOPs per multiply-add, attention counted as a full S x S product per
// head (the causal half that is skipped is still counted, as PyTorch and llm.c baselines do).
// Element-wise work (norms, RoPE, softmax, SiLU, the optimizer) is not counted.
//
// The formula of each fused kernel is written here once: the model totals below add them up,
// and the profiler's kernel rows (kernels/kernel_table.h) count them per call.
#pragma once

#include <cstdint>

#include "model/config.h"
#include "model/dims.h"
#include "model/lora.h"

namespace anetrain {

// One call of each kernel of kernels/kernels.h at dims d (all B sequences).
double attention_forward_flops(const KernelDims& d);
double ffn_forward_flops(const KernelDims& d);
double ffn_backward_flops(const KernelDims& d);
// `materialized`: P and dP pass from part 1 to part 2; otherwise part 2 rebuilds P and does
// dV, dP, dQ and dK itself (kernels.h).
double sdpa_backward1_flops(const KernelDims& d, bool materialized);
double sdpa_backward2_flops(const KernelDims& d, bool materialized);
double qkv_backward_flops(const KernelDims& d);
// `with_gradient`: targets were given, so the kernel also computes dxnorm = Wclsᵀ dlogits.
double classifier_loss_flops(const KernelDims& d, bool with_gradient);

// Forward matmul FLOPs of one block for B sequences of length S.
double block_forward_flops(const ModelConfig& c, int64_t B, int64_t S);

// Forward matmul FLOPs of the whole model (blocks + classifier) for B x S tokens.
double model_forward_flops(const ModelConfig& c, int64_t B, int64_t S);

inline double training_flops(double forward_flops) { return 3.0 * forward_flops; }

// One LoRA training step of the whole model (model/lora.h) for B x S tokens: the base is
// frozen, so its projections and classifier cost 2 x their forward FLOPs (forward and input
// gradients, no weight gradients), attention's S x S products 3 x as in training_flops, and
// every adapter 3 x its forward 2·T·r·(in + out) (A X, then B (A X)).
double lora_training_flops(const ModelConfig& c, int64_t B, int64_t S, const LoraLayout& lora);

}  // namespace anetrain
