#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "core/error.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace anetrain {

float learning_rate(const TrainConfig& c, int64_t step, int64_t total_steps) {
  if (c.warmup_steps > 0 && step < c.warmup_steps)
    return c.lr * static_cast<float>(step + 1) / static_cast<float>(c.warmup_steps);
  const double span = std::max<int64_t>(1, total_steps - c.warmup_steps);
  double ratio = static_cast<double>(step - c.warmup_steps) / span;
  ratio = std::min(1.0, std::max(0.0, ratio));
  const double min_lr = c.lr * c.min_lr_frac;
  return static_cast<float>(min_lr + 0.5 * (1.0 + std::cos(M_PI * ratio)) * (c.lr - min_lr));
}

float clip_coefficient(double norm, float max_norm) {
  if (max_norm <= 0) return 1.0f;
  // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied only if < 1.
  const double coef = max_norm / (norm + 1e-6);
  return coef >= 1.0 ? 1.0f : static_cast<float>(coef);
}

Optimizer::Optimizer(std::string name, const char* profile_label, const TrainConfig& config,
                     const ParamLayout& layout, const std::vector<std::string>& state_names)
    : config_(config),
      name_(std::move(name)),
      profile_label_(profile_label),
      layout_(layout),
      shard_end_(layout.total()) {
  state_.reserve(state_names.size());
  for (const std::string& state_name : state_names)
    state_.push_back({state_name, FloatBuffer(layout.total(), 0.0f)});
  int64_t end = 0;  // for_each_span() walks the ranges as one back-to-back cover of the layout
  for (const ParamInfo& t : layout.tensors()) {
    ANETRAIN_CHECK(t.offset == end, "the optimizer needs the parameter tensors back to back");
    decay_ranges_.push_back({t.offset, t.numel});
    range_decay_.push_back(t.is_norm && !config.decay_norms ? 0.0f : config.weight_decay);
    end += t.numel;
  }
  ANETRAIN_CHECK(end == layout.total(),
                 "the optimizer: the parameter tensors must cover the whole layout");
}

FloatBuffer& Optimizer::state(const std::string& name) {
  return const_cast<FloatBuffer&>(std::as_const(*this).state(name));
}

const FloatBuffer& Optimizer::state(const std::string& name) const {
  for (const OptimizerState& s : state_)
    if (s.name == name) return s.values;
  throw std::logic_error("optimizer " + name_ + " has no state tensor '" + name + "'");
}

double Optimizer::state_bytes_per_param() const {
  return static_cast<double>(sizeof(float) * state_.size()) *
         static_cast<double>(shard_end_ - shard_begin_) / static_cast<double>(layout_.total());
}

double Optimizer::update_bytes() const {
  return 4.0 * static_cast<double>(shard_end_ - shard_begin_) *
         (3.0 + 2.0 * static_cast<double>(state_.size()));
}

void Optimizer::restrict_to(int64_t begin, int64_t end) {
  ANETRAIN_CHECK(0 <= begin && begin <= end && end <= layout_.total(), "bad optimizer shard");
  shard_begin_ = begin;
  shard_end_ = end;
  for (OptimizerState& s : state_) s.values = FloatBuffer(end - begin, 0.0f);
}

void Optimizer::for_each_span(float lr, const std::function<void(const Span&)>& span) const {
  // One parallel region over every parameter, not one per tensor: a model has hundreds of
  // tensors, and each region costs the pool a wake-up.
  const int64_t first = shard_begin_;
  parallel_for(
      shard_end_ - first,
      [&](int64_t c0, int64_t c1) {
        const int64_t s0 = first + c0, s1 = first + c1;
        // Ranges are back to back from 0 (checked in the constructor); start at the one holding s0.
        size_t r = std::upper_bound(decay_ranges_.begin(), decay_ranges_.end(), s0,
                                    [](int64_t i, const auto& range) { return i < range.first; }) -
                   decay_ranges_.begin() - 1;
        for (int64_t begin = s0; begin < s1; ++r) {
          const int64_t end = std::min(s1, decay_ranges_[r].first + decay_ranges_[r].second);
          span({.begin = begin,
                .end = end,
                .state = begin - first,
                .shrink = 1.0f - lr * range_decay_[r]});
          begin = end;
        }
      },
      4096);
}

double Optimizer::clipped_update(float* params, const float* grads, float lr, int64_t step,
                                 float max_norm, GradNorm& norm) {
  const double global = norm.finish();
  if (!std::isfinite(global)) return global;
  ProfileScope scope(profile_label_, MemoryBytes{update_bytes()});
  update(params, grads, lr, step, clip_coefficient(global, max_norm));
  return global;
}

}  // namespace anetrain
