// Running tools/torch_golden.py, the PyTorch reference of a training run, from a test: writing
// a case directory (config.json, model.safetensors, batches.bin), running the script on it,
// feeding the same batches to TrainStep and comparing tensors with the golden file's.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "support/test_util.h"

namespace anetrain::testing {

// Relative error of a against reference b, measured in the 2-norm of the whole tensor (robust to
// individual near-zero entries) plus the worst element scaled by the tensor's largest entry.
struct Diff {
  double norm_rel = 0, max_rel = 0;
};
Diff compare(const float* a, const std::vector<float>& b);

// The `tiny` preset reshaped into a small GQA model (three query heads per kv head, 3 layers,
// an untied head) trained on batches of 3 with 2 micro-batches per step.
RunConfig gqa_golden_config();

// Writes the case's config.json (`config` with "steps": steps), model.safetensors (`params`,
// laid out by ParamLayout(config.model)) and batches.bin: int32 windows [steps, grad_accum,
// batch_size, seq_len + 1] of a learnable token stream, which it returns.
std::vector<int32_t> write_golden_case(const TempDir& dir, const RunConfig& config, int steps,
                                       const std::vector<float>& params);

// Runs tools/torch_golden.py (with $ANETRAIN_PYTHON, or /usr/bin/python3) on `dir`, writing
// dir/golden.safetensors. PyTorch missing is a failure, not a skip: scripts/setup.sh installs it.
::testing::AssertionResult run_torch_golden(const TempDir& dir);

// TrainStep's batch source over the windows write_golden_case wrote: micro-batch after
// micro-batch, in order.
class GoldenBatches {
 public:
  GoldenBatches(std::vector<int32_t> windows, int64_t batch, int64_t seq)
      : windows_(std::move(windows)), batch_(batch), seq_(seq) {}
  void next(int32_t* inputs, int32_t* targets);
  void rewind() { next_ = 0; }

 private:
  std::vector<int32_t> windows_;
  int64_t batch_, seq_, next_ = 0;
};

}  // namespace anetrain::testing
