#include "train/train_step.h"

#include <algorithm>
#include <cmath>

#include "train/host_ops.h"

namespace anetrain {

constexpr int64_t kGrowthInterval = 200;  // good steps before a dynamic loss scale doubles

TrainStep::TrainStep(Transformer& model, const TrainConfig& config, const ParamLayout& layout)
    : model_(model),
      config_(config),
      grads_(layout.total()),
      inputs_(model.dims().T()),
      targets_(model.dims().T()) {
  scale_.scale = config.loss_scale > 0 ? config.loss_scale : 1.0f;
}

StepStats TrainStep::run(int64_t step, int64_t horizon, float* params, Optimizer& optimizer,
                         const BatchSource& next_batch) {
  const int64_t T = model_.dims().T();
  const float scale = scale_.scale;
  const float grad_scale = scale / static_cast<float>(T * config_.grad_accum);
  double loss_sum = 0.0;
  for (int micro = 0; micro < config_.grad_accum; ++micro) {
    next_batch(inputs_.data(), targets_.data());
    loss_sum +=
        model_.forward_backward(params, inputs_.data(), targets_.data(), grad_scale, grads_.data(),
                                micro == 0 ? GradWrite::kOverwrite : GradWrite::kAccumulate);
  }
  StepStats stats;
  stats.loss = loss_sum / (static_cast<double>(T) * config_.grad_accum);
  const int64_t n = static_cast<int64_t>(grads_.size());
  stats.loss_scale = scale;
  stats.lr = learning_rate(config_, step, horizon);
  if (!std::isfinite(stats.loss)) {
    stats.skipped = true;
    stats.not_finite = "loss";
    return stats;
  }
  if (scale != 1.0f) {
    const double norm = global_grad_norm(grads_.data(), n);
    if (!std::isfinite(norm)) {
      // fp16 overflow somewhere in backward: drop this step's gradients entirely. Only a
      // dynamic scale that can still shrink makes that expected; otherwise it is divergence.
      stats.skipped = true;
      stats.grad_norm = norm;
      if (!config_.dynamic_loss_scale || scale <= 1.0f) stats.not_finite = "gradient norm";
      if (config_.dynamic_loss_scale) {
        scale_.scale = std::max(1.0f, scale / 2);
        scale_.good_steps = 0;
      }
      return stats;
    }
    const float unscale = 1.0f / scale;
    for (float& g : grads_) g *= unscale;
    if (config_.dynamic_loss_scale && ++scale_.good_steps >= kGrowthInterval) {
      scale_.scale = std::min(65536.0f, scale * 2);
      scale_.good_steps = 0;
    }
  }
  stats.grad_norm =
      optimizer.clipped_update(params, grads_.data(), stats.lr, step + 1, config_.grad_clip);
  if (!std::isfinite(stats.grad_norm)) {  // clipped_update applied nothing
    stats.skipped = true;
    stats.not_finite = "gradient norm";
  }
  return stats;
}

}  // namespace anetrain
