// AdamW with decoupled weight decay (Loshchilov & Hutter), matching torch.optim.AdamW's
// update order, global-norm gradient clipping matching torch.nn.utils.clip_grad_norm_, and the
// warmup + cosine learning-rate schedule.
#pragma once

#include <cstdint>
#include <vector>

#include "core/aligned_buffer.h"
#include "model/config.h"
#include "model/params.h"

namespace anetrain {

// lr at 0-based step t of total: linear warmup to lr over warmup steps ((t+1)/warmup), then
// cosine from lr down to lr * min_lr_frac at the last step.
float learning_rate(const TrainConfig& c, int64_t step, int64_t total_steps);

// sqrt(sum g^2) over all gradients, summed in a fixed order (deterministic).
double global_grad_norm(const float* grads, int64_t n);

// The factor that brings a global norm down to max_norm (1 when it is already below, or when
// max_norm <= 0), computed as torch.nn.utils.clip_grad_norm_ does.
float clip_coefficient(double norm, float max_norm);


class AdamW {
 public:
  AdamW(const TrainConfig& config, const ParamLayout& layout);
  // One update; `step` is the 1-based count of updates including this one (bias correction).
  // The update reads grads[i] * grad_multiplier, which is how the trainer clips: folding the
  // clip coefficient in here saves a read-modify-write pass over every gradient (the update is
  // memory-bound) and gives the same floats as clipping in place first.
  void update(float* params, const float* grads, float lr, int64_t step,
              float grad_multiplier = 1.0f);
  // The end of every step: the global gradient norm, then update() with the clip coefficient
  // folded in. Returns the norm (before clipping). Profiled as "host grad norm", "host AdamW".
  double clipped_update(float* params, const float* grads, float lr, int64_t step,
                        float max_norm);
  FloatBuffer& m() { return m_; }
  FloatBuffer& v() { return v_; }

 private:
  TrainConfig config_;
  FloatBuffer m_, v_;
  // One (offset, numel) range per tensor with its weight decay: 0 for norms by default.
  std::vector<std::pair<int64_t, int64_t>> decay_ranges_;
  std::vector<float> range_decay_;
};

}  // namespace anetrain
