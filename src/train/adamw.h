// AdamW with decoupled weight decay (Loshchilov & Hutter), matching torch.optim.AdamW's update
// order. State tensors "m" and "v", the first and second moments.
#pragma once

#include "train/optimizer.h"

namespace anetrain {

class AdamW : public Optimizer {
 public:
  AdamW(const TrainConfig& config, const ParamLayout& layout);
  void update(float* params, const float* grads, float lr, int64_t step,
              float grad_multiplier = 1.0f) override;
  FloatBuffer& m() { return state("m"); }
  FloatBuffer& v() { return state("v"); }
};

}  // namespace anetrain
