// FLOP counting, one convention everywhere (docs/DESIGN.md "FLOP counting"): a training step
// costs 3 x the forward pass's matrix-multiply FLOPs (forward, plus input gradients, plus
// weight gradients), 2 FLOPs per multiply-add, attention counted as a full S x S product per
// head (the causal half that is skipped is still counted, as PyTorch and llm.c baselines do).
// Element-wise work (norms, RoPE, softmax, SiLU, the optimizer) is not counted.
#pragma once

#include <cstdint>

#include "model/config.h"

namespace anetrain {

// Forward matmul FLOPs of one block for B sequences of length S.
double block_forward_flops(const ModelConfig& c, int64_t B, int64_t S);

// Forward matmul FLOPs of the whole model (blocks + classifier) for B x S tokens.
double model_forward_flops(const ModelConfig& c, int64_t B, int64_t S);

inline double training_flops(double forward_flops) { return 3.0 * forward_flops; }

}  // namespace anetrain
