// Kernel calls with their tensors by name, for code that treats every kernel alike: the ANE
// programs' check (programs/program_check.h) and the backend conformance tests
// (tests/backends/kernel_conformance_test.cpp). A tensor is named after its argument in
// kernels/kernels.h and laid out as the kernel holds it: activations [C, T], P and dP
// [H, B, S, S], logits [T, V]; classifier_loss's loss_sum is a one-value tensor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/rng.h"
#include "model/params.h"

namespace anetrain {

using NamedTensors = std::map<std::string, std::vector<float>>;

// A call's LoRA adapters (kernels.h LoraAdapter) by target t, the suffix of the argument's name
// (lora_q -> "q"; q, k, v, o, 1, 2, 3): A [r, in] and B [out, r]. A dropout mask is the input
// "drop_<t>" [in, T]; a forward kernel's tap the output "ax_<t>" [r, T].
struct CallAdapters {
  int64_t rank = 0;  // 0: no adapters
  float scale = 0;
  NamedTensors a, b;
};

struct KernelCall {
  Kernel kernel = Kernel::kAttentionForward;
  NamedTensors inputs;           // what the kernel reads besides its weights
  NamedTensors outputs;          // what it wrote
  std::vector<int32_t> targets;  // classifier_loss
  CallAdapters adapters;         // the kernel's own (lora_q, lora_k, lora_v for attention, ...)
};

// Adapters for reference_calls: rank 0 for none; dropout > 0 gives every adapter a mask.
struct CallLora {
  int64_t rank = 0;
  float scale = 1.5f;
  float dropout = 0;
};

// Runs call.kernel on `backend` with call.inputs and the weights of block 0 (and the head) of
// `params`, replacing call.outputs with what it wrote. `materialized`: sdpa_backward1 hands P
// and dP to sdpa_backward2 (Backend::materializes_attention_probs()); otherwise part 1 writes
// dattn only and part 2 reads v, dattn and lse and writes dv too. Inputs are never modified.
void run_kernel_call(Backend& backend, const KernelDims& d, const ParamLayout& layout,
                     const float* params, KernelCall& call, bool materialized);

// Parameters of a one-block model to check kernels with: init_params(0.02, seed), then norm
// gains near 1 but not exactly (1 + 0.1 N(0, 1) drawn from rng), so a dropped gain shows.
std::vector<float> check_params(const ModelConfig& one_block, const ParamLayout& layout,
                                uint64_t seed, Rng& rng);

// One call of every kernel, indexed by Kernel, consistent as in a training step: the CPU
// backend (P and dP materialized) runs them in step order on random block inputs (N(0, 1)) and
// output gradients (N(0, 1e-2), as after loss scaling), each call reading what the calls
// before it wrote. sdpa_backward2's outputs also hold part 1's dv, which part 2 writes when P
// and dP are not materialized. With lora.rank > 0 every kernel that takes adapters gets them
// (random A and B, the path about as large as the projection beside it; masks with dropout).
std::vector<KernelCall> reference_calls(const KernelDims& d, const ParamLayout& layout,
                                        const float* params, Rng& rng, const CallLora& lora = {});

}  // namespace anetrain
