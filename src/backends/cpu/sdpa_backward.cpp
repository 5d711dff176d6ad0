// sdpa_backward1 and sdpa_backward2 on the CPU, split where the seed splits them on the ANE:
// part 1 carries the Wo^T product and everything that needs V, part 2 has no weights.
// Tasks are (sequence, kv head) so the heads sharing a kv head accumulate dV and dK in one
// thread without races.
#include <cmath>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/elementwise.h"
#include "backends/cpu/scratch.h"
#include "core/gemm.h"
#include "core/parallel.h"

namespace anetrain::cpu {
namespace {

// P[i, j] = exp(scale * q_i . k_j - lse_i) for j <= i, 0 above: one head's attention
// probabilities rebuilt from the forward pass's log-sum-exp.
void recompute_probs(const float* qh, const float* kg, const float* lse, int64_t S, int64_t E,
                     int64_t T, float scale, float* P) {
  gemm_fp32(Trans::kYes, Trans::kNo, S, S, E, scale, qh, T, kg, T, 0.0f, P, S);
  for (int64_t i = 0; i < S; ++i) {
    float* row = P + i * S;
    for (int64_t j = 0; j <= i; ++j) row[j] = std::exp(row[j] - lse[i]);
    for (int64_t j = i + 1; j < S; ++j) row[j] = 0.0f;
  }
}

}  // namespace

void CpuBackend::sdpa_backward1(const KernelDims& d, const SdpaBackward1Args& a) {
  const int64_t D = d.D, T = d.T(), S = d.S, E = d.E, QD = d.QD();
  gemm(Trans::kYes, Trans::kNo, QD, T, D, 1.0f, a.wo, QD, a.dy, T, 0.0f, a.dattn, T);
  const float scale = 1.0f / std::sqrt(static_cast<float>(E));
  const int64_t group = d.H / d.G;
  parallel_for(d.B * d.G, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t b = task / d.G, g = task % d.G;
      const float* kg = a.k + g * E * T + b * S;
      const float* vg = a.v + g * E * T + b * S;
      float* dvg = a.dv + g * E * T + b * S;
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const float* qh = a.q + h * E * T + b * S;
        const float* dah = a.dattn + h * E * T + b * S;
        const float* lse = a.lse + h * T + b * S;
        const bool keep = a.probs != nullptr;
        float* P = keep ? a.probs + (h * d.B + b) * S * S : thread_scratch(S * S, 0);
        float* dP = keep ? a.dprobs + (h * d.B + b) * S * S : nullptr;
        recompute_probs(qh, kg, lse, S, E, T, scale, P);
        // dP[i, j] = sum_e dattn[e, i] v[e, j] (recomputed in part 2 when not kept)
        if (keep) gemm_fp32(Trans::kYes, Trans::kNo, S, S, E, 1.0f, dah, T, vg, T, 0.0f, dP, S);
        // dv[e, j] += sum_i dattn[e, i] P[i, j]
        gemm_fp32(Trans::kNo, Trans::kNo, E, S, S, 1.0f, dah, T, P, S, h == g * group ? 0.0f : 1.0f,
             dvg, T);
      }
    }
  });
}

void CpuBackend::sdpa_backward2(const KernelDims& d, const SdpaBackward2Args& a) {
  const int64_t T = d.T(), S = d.S, E = d.E;
  const float scale = 1.0f / std::sqrt(static_cast<float>(E));
  const int64_t group = d.H / d.G;
  parallel_for(d.B * d.G, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t b = task / d.G, g = task % d.G;
      const float* kg = a.k + g * E * T + b * S;
      float* dkg = a.dk + g * E * T + b * S;
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const float* qh = a.q + h * E * T + b * S;
        const float* P;
        float* dS;
        if (a.probs) {
          P = a.probs + (h * d.B + b) * S * S;
          dS = a.dprobs + (h * d.B + b) * S * S;
        } else {
          // Recompute this head's P (as in part 1) and dP into per-thread scratch.
          float* p = thread_scratch(S * S, 0);
          recompute_probs(qh, kg, a.lse + h * T + b * S, S, E, T, scale, p);
          dS = thread_scratch(S * S, 1);
          gemm_fp32(Trans::kYes, Trans::kNo, S, S, E, 1.0f, a.dattn + h * E * T + b * S, T,
                    a.v + g * E * T + b * S, T, 0.0f, dS, S);
          P = p;
        }
        // Softmax backward, row by row: dS = P * (dP - sum_j P dP) * scale.
        for (int64_t i = 0; i < S; ++i) {
          const float* p = P + i * S;
          float* ds = dS + i * S;
          float dot = 0.0f;
          for (int64_t j = 0; j <= i; ++j) dot += p[j] * ds[j];
          for (int64_t j = 0; j <= i; ++j) ds[j] = p[j] * (ds[j] - dot) * scale;
          for (int64_t j = i + 1; j < S; ++j) ds[j] = 0.0f;
        }
        // dq[e, i] = sum_j k[e, j] dS[i, j]
        gemm_fp32(Trans::kNo, Trans::kYes, E, S, S, 1.0f, kg, T, dS, S, 0.0f,
             a.dq + h * E * T + b * S, T);
        // dk[e, j] += sum_i q[e, i] dS[i, j]
        gemm_fp32(Trans::kNo, Trans::kNo, E, S, S, 1.0f, qh, T, dS, S, h == g * group ? 0.0f : 1.0f,
             dkg, T);
      }
    }
  });
  rope_rotate(a.dq, d.H, d, -1.0f);
  rope_rotate(a.dk, d.G, d, -1.0f);
}

}  // namespace anetrain::cpu
