// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): the update is the
// sign of an interpolation between the momentum and the gradient, so every parameter moves by
// exactly lr (plus weight decay). One state tensor, "m", the momentum. Per parameter, with g
// the (clipped) gradient:
//   p = p * (1 - lr * weight_decay)                    decoupled weight decay, as AdamW
//   p = p - lr * sign(beta1 * m + (1 - beta1) * g)     sign(0) = 0
//   m = beta2 * m + (1 - beta2) * g
// The paper's defaults are beta1 0.9, beta2 0.99 and an lr 3-10x below AdamW's.
#include <memory>

#include "train/optimizer.h"

namespace anetrain {
namespace {

struct LionStep {
  float b1, b2, lr, grad_multiplier;
};

// n consecutive parameters sharing one weight-decay factor; a free function with __restrict
// pointers so the loop vectorizes (see adam_span in train/adamw.cpp).
void lion_span(const LionStep& a, float shrink, float* __restrict p, const float* __restrict g,
               float* __restrict m, int64_t n) {
  const float b1 = a.b1, b2 = a.b2, lr = a.lr, c = a.grad_multiplier;
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * c;
    const float u = b1 * m[i] + (1.0f - b1) * gi;
    const float sign = static_cast<float>(u > 0.0f) - static_cast<float>(u < 0.0f);
    p[i] = p[i] * shrink - lr * sign;
    m[i] = b2 * m[i] + (1.0f - b2) * gi;
  }
}

class Lion final : public Optimizer {
 public:
  Lion(const TrainConfig& config, const ParamLayout& layout)
      : Optimizer("lion", "host Lion", config, layout, {"m"}) {}

  void update(float* params, const float* grads, float lr, int64_t /*step*/,
              float grad_multiplier) override {
    const LionStep at{config_.beta1, config_.beta2, lr, grad_multiplier};
    float* m = state("m").data();
    for_each_span(lr, [&](const Span& sp) {
      lion_span(at, sp.shrink, params + sp.begin, grads + sp.begin, m + sp.state,
                sp.end - sp.begin);
    });
  }
};

}  // namespace

std::unique_ptr<Optimizer> make_lion(const TrainConfig& config, const ParamLayout& layout) {
  return std::make_unique<Lion>(config, layout);
}

}  // namespace anetrain
