// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): the update is the
// sign of an interpolation between the momentum and the gradient, so every parameter moves by
// exactly lr (plus weight decay). One state tensor, "m", the momentum. Per parameter, with g
// the (clipped) gradient:
//   p = p * (1 - lr * weight_decay)             decoupled weight decay, as AdamW
//   p = p - lr * sign(beta1 * m + (1 - beta1) * g)     sign(0) = 0
//   m = beta2 * m + (1 - beta2) * g
// The paper's defaults are beta1 0.9, beta2 0.99 and an lr 3-10x below AdamW's.
#pragma once

#include "train/optimizer.h"

namespace anetrain {

class Lion : public Optimizer {
 public:
  Lion(const TrainConfig& config, const ParamLayout& layout);
  void update(float* params, const float* grads, float lr, int64_t step,
              float grad_multiplier = 1.0f) override;
};

}  // namespace anetrain
