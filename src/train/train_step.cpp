#include "train/train_step.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/profiler.h"
#include "train/host_ops.h"

namespace anetrain {

constexpr int64_t kGrowthInterval = 200;  // good steps before a dynamic loss scale doubles

TrainStep::TrainStep(Transformer& model, const TrainConfig& config, const ParamLayout& layout,
                     GradExchange* exchange, TrainedAdapters adapters)
    : model_(model),
      config_(config),
      exchange_(exchange),
      adapters_(adapters),
      ranks_(exchange ? static_cast<int>(exchange->plan().counts.size()) : 1),
      grads_(adapters.layout ? adapters.layout->params().total() : layout.total()),
      inputs_(model.dims().T()),
      targets_(model.dims().T()) {
  scale_.scale = config.loss_scale > 0 ? config.loss_scale : 1.0f;
  if (adapters.layout)
    model.use_adapters(*adapters.layout, adapters.values, grads_.data(), /*base_gradients=*/false);
}

StepStats TrainStep::run(int64_t step, int64_t horizon, float* params, Optimizer& optimizer,
                         const BatchSource& next_batch) {
  // Tokens of the whole job's step: every rank's gradients are sums over its own tokens scaled
  // by the job's count, so their sum over ranks is the mean over the global batch.
  const double T = static_cast<double>(model_.dims().T()) * ranks_ * config_.grad_accum;
  const float scale = scale_.scale;
  const float grad_scale = scale / static_cast<float>(T);
  double loss_sum = 0.0;
  float* grads = grads_.data();
  // A frozen base has no gradient of its own (the adapters' go to grads_ through use_adapters),
  // and its GradReady ranges would be the base layout's: adapters are exchanged after backward.
  float* base_grads = adapters_.layout ? nullptr : grads;
  const bool overlap = exchange_ && exchange_->overlapping() && !adapters_.layout;
  const GradReady ready = [&](int64_t begin, int64_t end) { exchange_->ready(grads, begin, end); };
  // Alone, the norm of the gradients is summed as the last micro-batch finishes each weight's
  // (the adapters' after backward; over ranks it is the norm of the sums, known only after the
  // exchange).
  if (!exchange_) norm_.start(grads, static_cast<int64_t>(grads_.size()));
  GradNorm* norm_as_finished = exchange_ || adapters_.layout ? nullptr : &norm_;
  for (int micro = 0; micro < config_.grad_accum; ++micro) {
    next_batch(inputs_.data(), targets_.data());
    if (adapters_.layout)
      model_.set_adapter_dropout_seed(adapters_.dropout_seed ^
                                      (static_cast<uint64_t>(step) << 16 | micro) *
                                          0xD6E8FEB86659FD93ull);
    const bool last = micro + 1 == config_.grad_accum;
    loss_sum += model_.forward_backward(
        params, inputs_.data(), targets_.data(), grad_scale, base_grads,
        micro == 0 ? GradWrite::kOverwrite : GradWrite::kAccumulate,
        last && overlap ? ready : GradReady(), last ? norm_as_finished : nullptr);
  }
  // The gradients of the parameters this process updates (all of them but with a sharded
  // optimizer) are the job's sums after finish().
  StepStats stats;
  if (exchange_) {
    exchange_->finish(grads);
    exchange_->sum_over_ranks(&loss_sum);
  }
  // The norm of the gradients as they are: scaled by the loss scale, if any.
  auto scaled_norm = [&] {
    if (!exchange_) return norm_.finish();
    const int64_t summed = exchange_->plan().end - exchange_->plan().begin;
    ProfileScope scope("host grad norm", MemoryBytes{4.0 * static_cast<double>(summed)});
    return exchange_->norm(grads);
  };
  float* trained = adapters_.layout ? adapters_.values : params;
  const auto update_start = std::chrono::steady_clock::now();
  auto finish_stats = [&] {
    if (exchange_) stats.wait_ms = exchange_->wait_seconds() * 1e3;
    stats.update_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - update_start)
            .count();
    return stats;
  };
  stats.loss = loss_sum / T;
  stats.loss_scale = scale;
  stats.lr = learning_rate(config_, step, horizon);
  if (!std::isfinite(stats.loss)) {
    stats.skipped = true;
    stats.not_finite = "loss";
    return finish_stats();
  }
  // One pass over the gradients for the norm, whatever the loss scale: the gradients stay
  // scaled, the norm is divided by the scale and the update reads them times clip / scale.
  // (Exact for the usual power-of-two scales: the same bits as unscaling them first.)
  stats.grad_norm = scaled_norm();
  if (!std::isfinite(stats.grad_norm)) {  // nothing is applied
    stats.skipped = true;
    if (scale != 1.0f) {
      // fp16 overflow somewhere in backward: drop this step's gradients entirely. Only a
      // dynamic scale that can still shrink makes that expected; otherwise it is divergence.
      if (!config_.dynamic_loss_scale || scale <= 1.0f) stats.not_finite = "gradient norm";
      if (config_.dynamic_loss_scale) {
        scale_.scale = std::max(1.0f, scale / 2);
        scale_.good_steps = 0;
      }
    } else {
      stats.not_finite = "gradient norm";
    }
    return finish_stats();
  }
  stats.grad_norm /= scale;
  if (scale != 1.0f && config_.dynamic_loss_scale && ++scale_.good_steps >= kGrowthInterval) {
    scale_.scale = std::min(65536.0f, scale * 2);
    scale_.good_steps = 0;
  }
  {
    ProfileScope scope(optimizer.profile_label(), MemoryBytes{optimizer.update_bytes()});
    optimizer.update(trained, grads, stats.lr, step + 1,
                     clip_coefficient(stats.grad_norm, config_.grad_clip) / scale);
  }
  if (exchange_) exchange_->share_updated(trained);
  return finish_stats();
}

}  // namespace anetrain
