#include "train/optimizer.h"

#include <algorithm>
#include <cmath>

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

double global_grad_norm(const float* grads, int64_t n) {
  // Fixed 64 blocks summed in order: the result does not depend on the thread count.
  constexpr int64_t kBlocks = 64;
  double partial[kBlocks] = {};
  parallel_for(kBlocks, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      // Eight independent lanes (one 512-bit register of doubles) so the loop vectorizes; the
      // lanes' order is fixed, so the sum still does not depend on the machine or threads.
      // Measured 0.7 ms for 7M floats, against 2 ms for one scalar chain and 4 ms for
      // `omp simd reduction`, which GCC 12 compiles poorly here.
      double lane[8] = {};
      const int64_t end = n * (b + 1) / kBlocks;
      int64_t i = n * b / kBlocks;
      for (; i + 8 <= end; i += 8)
        for (int k = 0; k < 8; ++k) lane[k] += static_cast<double>(grads[i + k]) * grads[i + k];
      for (; i < end; ++i) lane[0] += static_cast<double>(grads[i]) * grads[i];
      double sum = 0.0;
      for (double l : lane) sum += l;
      partial[b] = sum;
    }
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return std::sqrt(total);
}

float clip_coefficient(double norm, float max_norm) {
  if (max_norm <= 0) return 1.0f;
  // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (norm + 1e-6), applied only if < 1.
  const double coef = max_norm / (norm + 1e-6);
  return coef >= 1.0 ? 1.0f : static_cast<float>(coef);
}

namespace {

struct AdamStep {
  float b1, b2, eps, step_size, bias2_sqrt, grad_multiplier;
};

// The update of n consecutive parameters sharing one weight-decay factor. A free function with
// __restrict pointers and by-value constants: that is what lets GCC vectorize it (as a lambda
// capturing by reference it stayed scalar, 3x slower).
void adam_span(const AdamStep& a, float shrink, float* __restrict p, const float* __restrict g,
               float* __restrict m, float* __restrict v, int64_t n) {
  const float b1 = a.b1, b2 = a.b2, eps = a.eps, step_size = a.step_size;
  const float bias2_sqrt = a.bias2_sqrt, c = a.grad_multiplier;
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * c;  // the same float product an in-place clip would store
    p[i] *= shrink;  // decoupled weight decay first, as torch.optim.AdamW does
    m[i] = b1 * m[i] + (1.0f - b1) * gi;
    v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    const float denom = std::sqrt(v[i]) / bias2_sqrt + eps;
    p[i] -= step_size * m[i] / denom;
  }
}

}  // namespace

AdamW::AdamW(const TrainConfig& config, const ParamLayout& layout)
    : config_(config), m_(layout.total(), 0.0f), v_(layout.total(), 0.0f) {
  int64_t end = 0;  // update() walks the ranges as one back-to-back cover of the layout
  for (const ParamInfo& t : layout.tensors()) {
    ANETRAIN_CHECK(t.offset == end, "AdamW needs the parameter tensors back to back");
    decay_ranges_.push_back({t.offset, t.numel});
    range_decay_.push_back(t.is_norm && !config.decay_norms ? 0.0f : config.weight_decay);
    end += t.numel;
  }
  ANETRAIN_CHECK(end == layout.total(), "AdamW: the parameter tensors must cover the whole layout");
}

void AdamW::update(float* params, const float* grads, float lr, int64_t step,
                   float grad_multiplier) {
  const float b1 = config_.beta1, b2 = config_.beta2, eps = config_.adam_eps;
  const double bias1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(step));
  const double bias2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(step));
  const float step_size = static_cast<float>(lr / bias1);
  const float bias2_sqrt = static_cast<float>(std::sqrt(bias2));
  const AdamStep at{b1, b2, eps, step_size, bias2_sqrt, grad_multiplier};
  // One parallel region over every parameter, not one per tensor: a model has hundreds of
  // tensors, and each region costs the pool a wake-up.
  const int64_t n = static_cast<int64_t>(m_.size());
  parallel_for(n, [&](int64_t s0, int64_t s1) {
    // Ranges are back to back from 0 (checked in the constructor); start at the one holding s0.
    size_t r = std::upper_bound(decay_ranges_.begin(), decay_ranges_.end(), s0,
                                [](int64_t i, const auto& range) { return i < range.first; }) -
               decay_ranges_.begin() - 1;
    for (int64_t begin = s0; begin < s1; ++r) {
      const int64_t end = std::min(s1, decay_ranges_[r].first + decay_ranges_[r].second);
      const float shrink = 1.0f - lr * range_decay_[r];
      adam_span(at, shrink, params + begin, grads + begin, m_.data() + begin, v_.data() + begin,
                end - begin);
      begin = end;
    }
  }, 4096);
}

double AdamW::clipped_update(float* params, const float* grads, float lr, int64_t step,
                             float max_norm) {
  double norm;
  {
    ProfileScope scope("host grad norm");
    norm = global_grad_norm(grads, static_cast<int64_t>(m_.size()));
  }
  ProfileScope scope("host AdamW");
  update(params, grads, lr, step, clip_coefficient(norm, max_norm));
  return norm;
}

}  // namespace anetrain
