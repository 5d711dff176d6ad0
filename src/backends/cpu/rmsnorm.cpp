#include "backends/cpu/rmsnorm.h"

#include <algorithm>
#include <cmath>

#include "backends/cpu/vec_math.h"
#include "core/parallel.h"
#include "core/scratch.h"

namespace anetrain::cpu {

void rmsnorm_forward(const float* x, const float* w, int64_t C, int64_t T, float eps, float* out,
                     float* rms_inv) {
  // Token blocks in parallel; within a block, channels outer and tokens inner so every loop is
  // a contiguous, vectorizable stream.
  parallel_for(
      T,
      [&](int64_t t0, int64_t t1) {
        const int64_t n = t1 - t0;
        float* sumsq = thread_scratch(n, 2);
        std::fill(sumsq, sumsq + n, 0.0f);
        for (int64_t c = 0; c < C; ++c) {
          const float* row = x + c * T + t0;
          for (int64_t t = 0; t < n; ++t) sumsq[t] += row[t] * row[t];
        }
        for (int64_t t = 0; t < n; ++t)
          rms_inv[t0 + t] = 1.0f / std::sqrt(sumsq[t] / static_cast<float>(C) + eps);
        for (int64_t c = 0; c < C; ++c) {
          const float* row = x + c * T + t0;
          float* o = out + c * T + t0;
          const float wc = w[c];
          for (int64_t t = 0; t < n; ++t) o[t] = row[t] * rms_inv[t0 + t] * wc;
        }
      },
      64);
}

void rmsnorm_backward(const float* dout, const float* x, const float* w, const float* rms_inv,
                      const float* dx_residual, int64_t C, int64_t T, float* dx, float* dw,
                      GradWrite write) {
  // With xhat = x * r (r = rms_inv) and out = xhat * w:
  //   dw[c] (+)= sum_t dout[c,t] xhat[c,t]
  //   dx[c,t] = r[t] * (g[c,t] - xhat[c,t] * mean_c(g[., t] xhat[., t])),  g = dout * w.
  parallel_for(
      T,
      [&](int64_t t0, int64_t t1) {
        const int64_t n = t1 - t0;
        float* mean_gx = thread_scratch(n, 3);
        std::fill(mean_gx, mean_gx + n, 0.0f);
        for (int64_t c = 0; c < C; ++c) {
          const float* d = dout + c * T + t0;
          const float* xr = x + c * T + t0;
          for (int64_t t = 0; t < n; ++t) mean_gx[t] += d[t] * w[c] * xr[t] * rms_inv[t0 + t];
        }
        for (int64_t t = 0; t < n; ++t) mean_gx[t] /= static_cast<float>(C);
        for (int64_t c = 0; c < C; ++c) {
          const float* d = dout + c * T + t0;
          const float* xr = x + c * T + t0;
          const float* res = dx_residual ? dx_residual + c * T + t0 : nullptr;
          float* o = dx + c * T + t0;
          for (int64_t t = 0; t < n; ++t) {
            const float r = rms_inv[t0 + t];
            o[t] = (res ? res[t] : 0.0f) + r * (d[t] * w[c] - xr[t] * r * mean_gx[t]);
          }
        }
      },
      64);
  if (dw == nullptr) return;  // frozen gains (LoRA)
  // dw by channel, summed over all tokens in kLanes fixed lanes (deterministic, and
  // vectorized: one chain would wait on each add's latency, far below the memory's rate).
  parallel_for(C, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float lane[kLanes] = {};
      const float* d = dout + c * T;
      const float* xr = x + c * T;
      int64_t t = 0;
      for (; t + kLanes <= T; t += kLanes)
        for (int k = 0; k < kLanes; ++k) lane[k] += d[t + k] * xr[t + k] * rms_inv[t + k];
      for (; t < T; ++t) lane[0] += d[t] * xr[t] * rms_inv[t];
      float sum = 0.0f;
      for (float l : lane) sum += l;
      dw[c] = write == GradWrite::kAccumulate ? dw[c] + sum : sum;
    }
  });
}

}  // namespace anetrain::cpu
