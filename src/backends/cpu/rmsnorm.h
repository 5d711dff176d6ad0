// RMSNorm on channel-first [C, T] buffers, forward and backward together: the forward runs
// inside the CPU backend's fused kernels, the backward is host work for every backend (the
// seed's CPU does norms' backward beside the ANE), and the two share one definition of
// rms_inv.
#pragma once

#include <cstdint>

#include "core/grad_write.h"

namespace anetrain::cpu {

// out[c,t] = x[c,t] * rms_inv[t] * w[c], rms_inv[t] = 1 / sqrt(mean_c x[c,t]^2 + eps).
void rmsnorm_forward(const float* x, const float* w, int64_t C, int64_t T, float eps, float* out,
                     float* rms_inv);

// Backward of out = x * rms_inv * w. Given dout [C, T], writes or accumulates dw[c] and writes
// dx = dx_residual + d(norm)/dx, so the residual path's gradient is added in the same pass
// (dx_residual may be nullptr for none; dx may alias dx_residual). dw may be nullptr: frozen
// gains (LoRA), no weight gradient.
void rmsnorm_backward(const float* dout, const float* x, const float* w, const float* rms_inv,
                      const float* dx_residual, int64_t C, int64_t T, float* dx, float* dw,
                      GradWrite write);

}  // namespace anetrain::cpu
