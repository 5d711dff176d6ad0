// One optimizer step: grad_accum micro-batches of forward/backward, global-norm clipping, the
// scheduled learning rate and the optimizer's update. Shared by the trainer and the golden
// test, so the test exercises exactly the code that trains. Under data parallelism (an
// exchange over several ranks) each rank's micro-batch is its slice of the global one, and the
// gradients, loss and norm are the job's (dist/grad_exchange.h).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "dist/grad_exchange.h"
#include "train/grad_norm.h"
#include "train/optimizer.h"
#include "train/transformer.h"

namespace anetrain {

struct StepStats {
  double loss = 0;       // mean cross-entropy over the step's tokens (before the update)
  double grad_norm = 0;  // global norm before clipping
  double wait_ms = 0;    // waiting for other ranks (data parallel)
  double update_ms = 0;  // the norm, the optimizer's update and (sharded) the weights' gather
  float lr = 0;
  bool skipped = false;  // no update: gradients overflowed (loss scaling) or not_finite
  // Set when the loss or the gradient norm is not finite ("loss", "gradient norm") other than
  // as a loss-scale overflow: the step was not applied, and the trainer counts it.
  const char* not_finite = nullptr;
  float loss_scale = 1;  // the scale this step used
};

// Loss-scaling state, saved in checkpoints so that resume stays exact.
struct LossScaleState {
  float scale = 1;
  int64_t good_steps = 0;
};

// Fills inputs and targets ([B*S] each, index b*S + s) for the next micro-batch.
using BatchSource = std::function<void(int32_t* inputs, int32_t* targets)>;

// LoRA fine-tuning (model/lora.h): the step trains these adapters, laid out by `layout`, and
// the model's own weights stay frozen.
struct TrainedAdapters {
  const LoraLayout* layout = nullptr;
  float* values = nullptr;
  uint64_t dropout_seed = 0;  // with the step and micro-batch, seeds the dropout masks
};

class TrainStep {
 public:
  // `exchange`: the job's gradient exchange (over the trained values: the model's weights, or
  // the adapters), or null for a process training alone. With `adapters`, the step installs
  // them in `model` (Transformer::use_adapters, frozen base) and its gradients, clipping and
  // optimizer are the adapters'.
  TrainStep(Transformer& model, const TrainConfig& config, const ParamLayout& layout,
            GradExchange* exchange = nullptr, TrainedAdapters adapters = {});
  // `step` is 0-based; `horizon` the schedule's total steps. `params` are the model's weights
  // (updated unless adapters are trained).
  StepStats run(int64_t step, int64_t horizon, float* params, Optimizer& optimizer,
                const BatchSource& next_batch);
  // The last step's gradients of what is trained, before clipping, times its loss scale.
  const FloatBuffer& grads() const { return grads_; }
  LossScaleState& loss_scale() { return scale_; }

 private:
  Transformer& model_;
  TrainConfig config_;
  GradExchange* exchange_;
  TrainedAdapters adapters_;
  int ranks_;
  FloatBuffer grads_;
  GradNorm norm_;  // without an exchange: summed as backward finishes each weight gradient
  std::vector<int32_t> inputs_, targets_;
  LossScaleState scale_;
};

}  // namespace anetrain
