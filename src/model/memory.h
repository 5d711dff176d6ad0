// The training-memory formula of docs/DESIGN.md "Memory", so `anetrain bench` can print what a
// run should take beside the peak RSS it measured.
#pragma once

#include <cstdint>

#include "model/config.h"

namespace anetrain {

struct TrainingMemory {
  double state_bytes = 0;       // parameters, gradients, two AdamW moments: 16 bytes each
  double activation_bytes = 0;  // kept for backward, plus backward scratch and logits
  double total() const { return state_bytes + activation_bytes; }
};

// For B sequences of length S, fp32 everywhere. `recompute` keeps only each block's two
// residual-stream inputs plus one shared set of taps. Per-thread attention tiles (128 x S
// floats, a few MB at most) and bf16 mode's rounded copies (2 bytes per parameter plus
// per-call activations) are left out.
TrainingMemory training_memory(const ModelConfig& c, int64_t B, int64_t S, bool recompute);

}  // namespace anetrain
