// attention_forward on the CPU: RMSNorm, Q/K/V projections, RoPE, causal SDPA per
// (sequence, head), Wo. Scores live one causal tile of query rows at a time (at most
// kQueryTile x S floats per thread); the backward pass recomputes P from q, k and the saved
// log-sum-exp. The scores and P·V products run in the process's precision
// (attention_products.h); softmax and its statistics are fp32 either way.
#include <cmath>

#include "backends/cpu/attention_products.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/elementwise.h"
#include "backends/cpu/rmsnorm.h"
#include "backends/cpu/softmax_rows.h"
#include "backends/cpu/lora_path.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "core/scratch.h"

namespace anetrain::cpu {

void CpuBackend::attention_forward(const KernelDims& d, const AttentionForwardArgs& a) {
  const int64_t D = d.D, T = d.T(), S = d.S, E = d.E, QD = d.QD(), KD = d.KD();
  rmsnorm_forward(a.x, a.norm_w, D, T, d.norm_eps, a.xnorm, a.rms_inv);
  if (qkv_adjacent(d, a.wq, a.wk, a.wv, a.q, a.k, a.v)) {
    // One [QD + 2 KD, D] x [D, T] product instead of three smaller ones.
    gemm(Trans::kNo, Trans::kNo, QD + 2 * KD, T, D, 1.0f, a.wq, D, a.xnorm, T, 0.0f, a.q, T);
  } else {
    gemm(Trans::kNo, Trans::kNo, QD, T, D, 1.0f, a.wq, D, a.xnorm, T, 0.0f, a.q, T);
    gemm(Trans::kNo, Trans::kNo, KD, T, D, 1.0f, a.wk, D, a.xnorm, T, 0.0f, a.k, T);
    gemm(Trans::kNo, Trans::kNo, KD, T, D, 1.0f, a.wv, D, a.xnorm, T, 0.0f, a.v, T);
  }
  // LoRA adapters join the projections before RoPE, as the merged weights would.
  lora_forward(a.lora_q, D, QD, a.xnorm, T, a.q);
  lora_forward(a.lora_k, D, KD, a.xnorm, T, a.k);
  lora_forward(a.lora_v, D, KD, a.xnorm, T, a.v);
  rope_rotate_qk(a.q, a.k, d, 1.0f);

  const float scale = 1.0f / std::sqrt(static_cast<float>(E));
  const int64_t group = d.H / d.G;
  const AttnOperands ops = attention_operands({{a.q, QD * T}, {a.k, KD * T}, {a.v, KD * T}});
  const AttnOperand q = ops.op[0], k = ops.op[1], v = ops.op[2];
  // One task per (sequence b, query head h); each GEMM inside runs on one thread. Query rows
  // go in causal tiles (softmax_rows.h): tile [i0, i1) scores only keys [0, i1).
  parallel_for(d.B * d.H, [&](int64_t task0, int64_t task1) {
    float* scores = thread_scratch(kQueryTile * S);
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t b = task / d.H, h = task % d.H, g = h / group;
      const AttnOperand qh = q + (h * E * T + b * S);
      const AttnOperand kg = k + (g * E * T + b * S);
      const AttnOperand vg = v + (g * E * T + b * S);
      float* out = a.attn + h * E * T + b * S;
      for_each_query_tile(S, [&](int64_t i0, int64_t i1) {
        // scores[i - i0, j] = scale * sum_e q[e, i] k[e, j], j < i1
        attention_gemm(Trans::kYes, Trans::kNo, i1 - i0, i1, E, scale, qh + i0, T, kg, T, 0.0f,
                       scores, i1);
        causal_softmax_rows(scores, i1, i0, i1, a.lse + h * T + b * S + i0);
        // attn[e, i] = sum_j v[e, j] P[i, j]
        const AttnOperand P = tile_operand(scores, i1 - i0, i1, i1, 0);
        attention_gemm(Trans::kNo, Trans::kYes, E, i1 - i0, i1, 1.0f, vg, T, P, i1, 0.0f,
                       out + i0, T);
      });
    }
  });
  gemm(Trans::kNo, Trans::kNo, D, T, QD, 1.0f, a.wo, QD, a.attn, T, 0.0f, a.y, T);
}

}  // namespace anetrain::cpu
