#include "train/train_step.h"

#include <algorithm>

namespace anetrain {

TrainStep::TrainStep(Transformer& model, const TrainConfig& config, const ParamLayout& layout)
    : model_(model),
      config_(config),
      grads_(layout.total()),
      inputs_(model.dims().T()),
      targets_(model.dims().T()) {}

StepStats TrainStep::run(int64_t step, int64_t horizon, float* params, AdamW& optimizer,
                         const BatchSource& next_batch) {
  const int64_t T = model_.dims().T();
  const float grad_scale = 1.0f / static_cast<float>(T * config_.grad_accum);
  std::fill(grads_.begin(), grads_.end(), 0.0f);
  double loss_sum = 0.0;
  for (int micro = 0; micro < config_.grad_accum; ++micro) {
    next_batch(inputs_.data(), targets_.data());
    loss_sum += model_.forward_backward(params, inputs_.data(), targets_.data(), grad_scale,
                                        grads_.data());
  }
  StepStats stats;
  stats.loss = loss_sum / (static_cast<double>(T) * config_.grad_accum);
  const int64_t n = static_cast<int64_t>(grads_.size());
  stats.grad_norm = global_grad_norm(grads_.data(), n);
  clip_gradients(grads_.data(), n, stats.grad_norm, config_.grad_clip);
  stats.lr = learning_rate(config_, step, horizon);
  optimizer.update(params, grads_.data(), stats.lr, step + 1);
  return stats;
}

}  // namespace anetrain
