// attention_forward on the CPU: RMSNorm, Q/K/V projections, RoPE, causal SDPA per
// (sequence, head), Wo. Scores for one head are an S x S block that lives only while that head
// is processed; the backward pass recomputes P from q, k and the saved log-sum-exp.
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/elementwise.h"
#include "backends/cpu/scratch.h"
#include "core/gemm.h"
#include "core/parallel.h"

namespace anetrain::cpu {

void CpuBackend::attention_forward(const KernelDims& d, const AttentionForwardArgs& a) {
  const int64_t D = d.D, T = d.T(), S = d.S, E = d.E, QD = d.QD(), KD = d.KD();
  rmsnorm_forward(a.x, a.norm_w, D, T, d.norm_eps, a.xnorm, a.rms_inv);
  gemm(Trans::kNo, Trans::kNo, QD, T, D, 1.0f, a.wq, D, a.xnorm, T, 0.0f, a.q, T);
  gemm(Trans::kNo, Trans::kNo, KD, T, D, 1.0f, a.wk, D, a.xnorm, T, 0.0f, a.k, T);
  gemm(Trans::kNo, Trans::kNo, KD, T, D, 1.0f, a.wv, D, a.xnorm, T, 0.0f, a.v, T);
  rope_rotate(a.q, d.H, d, 1.0f);
  rope_rotate(a.k, d.G, d, 1.0f);

  const float scale = 1.0f / std::sqrt(static_cast<float>(E));
  const int64_t group = d.H / d.G;
  // One task per (sequence b, query head h); each GEMM inside runs on one thread.
  parallel_for(d.B * d.H, [&](int64_t task0, int64_t task1) {
    float* scores = thread_scratch(S * S);
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t b = task / d.H, h = task % d.H, g = h / group;
      const float* qh = a.q + h * E * T + b * S;
      const float* kg = a.k + g * E * T + b * S;
      const float* vg = a.v + g * E * T + b * S;
      // scores[i, j] = scale * sum_e q[e, i] k[e, j]
      gemm_fp32(Trans::kYes, Trans::kNo, S, S, E, scale, qh, T, kg, T, 0.0f, scores, S);
      float* lse = a.lse + h * T + b * S;
      for (int64_t i = 0; i < S; ++i) {
        float* row = scores + i * S;
        float max = row[0];
        for (int64_t j = 1; j <= i; ++j) max = std::max(max, row[j]);
        float sum = 0.0f;
        for (int64_t j = 0; j <= i; ++j) {
          row[j] = std::exp(row[j] - max);
          sum += row[j];
        }
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j <= i; ++j) row[j] *= inv;
        for (int64_t j = i + 1; j < S; ++j) row[j] = 0.0f;  // causal mask
        lse[i] = max + std::log(sum);
      }
      // attn[e, i] = sum_j v[e, j] P[i, j]
      gemm_fp32(Trans::kNo, Trans::kYes, E, S, S, 1.0f, vg, T, scores, S, 0.0f,
           a.attn + h * E * T + b * S, T);
    }
  });
  gemm(Trans::kNo, Trans::kNo, D, T, QD, 1.0f, a.wo, QD, a.attn, T, 0.0f, a.y, T);
}

}  // namespace anetrain::cpu
