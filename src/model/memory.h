// The training-memory formula of docs/DESIGN.md "Memory", so `anetrain bench` can print what a
// run should take beside the peak RSS it measured.
#pragma once

#include <cstdint>

#include "model/config.h"
#include "model/lora.h"

namespace anetrain {

struct TrainingMemory {
  double state_bytes = 0;       // parameters and gradients (8 bytes each) plus optimizer_bytes
  double optimizer_bytes = 0;   // the optimizer's state (AdamW's two moments: 8 bytes each)
  double activation_bytes = 0;  // kept for backward, plus backward scratch and logits
  double total() const { return state_bytes + activation_bytes; }
};

// For B sequences of length S, fp32 everywhere, with an optimizer holding
// `optimizer_bytes_per_param` bytes of state per parameter (Optimizer::state_bytes_per_param()
// in train/optimizer.h). `recompute` keeps only each block's two residual-stream inputs plus
// one shared set of taps. Per-thread attention tiles (128 x S floats, a few MB at most) and
// bf16 mode's rounded copies (2 bytes per parameter plus per-call activations) are left out.
// With `lora` (LoRA fine-tuning, model/lora.h) the base weights are frozen: 4 bytes per base
// parameter, and gradients and optimizer state for the adapters only, plus the adapters' taps
// (A X and a scratch of rank x T floats each) and, with dropout, one mask per target kind.
TrainingMemory training_memory(const ModelConfig& c, int64_t B, int64_t S, bool recompute,
                               double optimizer_bytes_per_param, const LoraConfig* lora = nullptr);

}  // namespace anetrain
