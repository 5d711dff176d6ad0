// AdamW with decoupled weight decay (Loshchilov & Hutter), matching torch.optim.AdamW's update
// order. State tensors "m" and "v", the first and second moments.
#include <cmath>
#include <memory>

#include "train/optimizer.h"

namespace anetrain {
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
    p[i] *= shrink;             // decoupled weight decay first, as torch.optim.AdamW does
    m[i] = b1 * m[i] + (1.0f - b1) * gi;
    v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    const float denom = std::sqrt(v[i]) / bias2_sqrt + eps;
    p[i] -= step_size * m[i] / denom;
  }
}

class AdamW final : public Optimizer {
 public:
  AdamW(const TrainConfig& config, const ParamLayout& layout)
      : Optimizer("adamw", "host AdamW", config, layout, {"m", "v"}) {}

  void update(float* params, const float* grads, float lr, int64_t step,
              float grad_multiplier) override {
    const float b1 = config_.beta1, b2 = config_.beta2, eps = config_.adam_eps;
    const double bias1 = 1.0 - std::pow(static_cast<double>(b1), static_cast<double>(step));
    const double bias2 = 1.0 - std::pow(static_cast<double>(b2), static_cast<double>(step));
    const float step_size = static_cast<float>(lr / bias1);
    const float bias2_sqrt = static_cast<float>(std::sqrt(bias2));
    const AdamStep at{b1, b2, eps, step_size, bias2_sqrt, grad_multiplier};
    float* m = state("m").data();
    float* v = state("v").data();
    for_each_span(lr, [&](const Span& sp) {
      adam_span(at, sp.shrink, params + sp.begin, grads + sp.begin, m + sp.state, v + sp.state,
                sp.end - sp.begin);
    });
  }
};

}  // namespace

std::unique_ptr<Optimizer> make_adamw(const TrainConfig& config, const ParamLayout& layout) {
  return std::make_unique<AdamW>(config, layout);
}

}  // namespace anetrain
