// sdpa_backward1 and sdpa_backward2 on the CPU, split where the seed splits them on the ANE:
// part 1 carries the Wo^T product and everything that needs V, part 2 has no weights.
// Tasks are (sequence, kv head) so the heads sharing a kv head accumulate dV and dK in one
// thread without races. Within a head, query rows go in causal tiles (softmax_rows.h): tile
// [i0, i1) touches keys [0, i1) only.
//
// Two ways to get P and dP to part 2: backends that materialize them hand over [H, B, S, S]
// buffers (the contract the ANE programs fill, used by `ane check`); the CPU trainer passes
// nullptr, part 1 then stops after Wo^T dy and part 2 builds each tile's P once and uses it
// for dV, dS, dQ and dK together, so memory never holds H x B x S^2 and no tile's scores are
// computed twice (building P in both parts cost layer768 about 0.7 ms per step).
//
// The products run in the process's precision (attention_products.h): in bf16, q, k, v and
// dattn are rounded once per kernel, P and dS once per tile; dP, dS and the softmax backward
// stay fp32.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/cpu/attention_products.h"
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/lora_path.h"
#include "backends/cpu/elementwise.h"
#include "backends/cpu/softmax_rows.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "core/scratch.h"

namespace anetrain::cpu {
namespace {

// One head of one sequence, as strided views into the [C, T] activations.
struct HeadView {
  AttnOperand q;     // [E, S] ld T
  AttnOperand k;     // [E, S] ld T
  AttnOperand v;     // [E, S] ld T (part 2 only needs it when recomputing dP)
  AttnOperand da;    // dattn [E, S] ld T
  const float* lse;  // [S]
};

// ops: q, k, v, dattn as attention_operands() returned them.
HeadView head_view(const KernelDims& d, const AttnOperands& ops, const float* lse, int64_t b,
                   int64_t h) {
  const int64_t T = d.T(), S = d.S, E = d.E, g = h / (d.H / d.G);
  const int64_t q_at = h * E * T + b * S, kv_at = g * E * T + b * S;
  return {ops.op[0] + q_at, ops.op[1] + kv_at, ops.op[2] + kv_at, ops.op[3] + q_at,
          lse ? lse + h * T + b * S : nullptr};
}

// P rows [i0, i1) x keys [0, i1) into P (ld ldp): exp(scale * q_i . k_j - lse_i), 0 for j > i.
void tile_probs(const HeadView& hv, int64_t E, int64_t T, float scale, int64_t i0, int64_t i1,
                float* P, int64_t ldp) {
  attention_gemm(Trans::kYes, Trans::kNo, i1 - i0, i1, E, scale, hv.q + i0, T, hv.k, T, 0.0f, P,
                 ldp);
  causal_probs_from_lse(P, ldp, i0, i1, hv.lse + i0);
}

// dP rows [i0, i1) x keys [j0, j1): dP[i, j] = sum_e dattn[e, i] v[e, j].
void tile_dprobs(const HeadView& hv, int64_t E, int64_t T, int64_t i0, int64_t i1, int64_t j0,
                 int64_t j1, float* dP, int64_t ldd) {
  attention_gemm(Trans::kYes, Trans::kNo, i1 - i0, j1 - j0, E, 1.0f, hv.da + i0, T, hv.v + j0, T,
                 0.0f, dP + j0, ldd);
}

// dv[e, j] += sum_i dattn[e, i] P[i, j] over the tile's rows i in [i0, i1), keys j < i1.
void accumulate_dv(const HeadView& hv, int64_t E, int64_t T, int64_t i0, int64_t i1,
                   const float* P, int64_t ldp, float* dvg) {
  const AttnOperand p = tile_operand(P, i1 - i0, i1, ldp, 0);
  attention_gemm(Trans::kNo, Trans::kNo, E, i1, i1 - i0, 1.0f, hv.da + i0, T, p, ldp, 1.0f, dvg,
                 T);
}

// Zeroes columns [from, S) of a tile's rows [i0, i1) in a full [S, S] matrix (row ld S): the
// masked keys the tile never computes, for the materialized-P contract.
void zero_past_tile(float* rows, int64_t i0, int64_t i1, int64_t S) {
  for (int64_t r = 0; r < i1 - i0; ++r) std::fill(rows + r * S + i1, rows + r * S + S, 0.0f);
}

// Zeroes an [E, S] slice (ld T) that tiles then accumulate into.
void zero_slice(float* x, int64_t E, int64_t S, int64_t T) {
  for (int64_t e = 0; e < E; ++e) std::memset(x + e * T, 0, S * sizeof(float));
}

}  // namespace

void CpuBackend::sdpa_backward1(const KernelDims& d, const SdpaBackward1Args& a) {
  const int64_t D = d.D, T = d.T(), S = d.S, E = d.E, QD = d.QD();
  gemm(Trans::kYes, Trans::kNo, QD, T, D, 1.0f, a.wo, QD, a.dy, T, 0.0f, a.dattn, T);
  lora_input_grad(a.lora_o, QD, D, a.dy, T, a.dattn);
  if (a.probs == nullptr) return;  // part 2 builds P per tile and writes dV (kernels.h)
  const float scale = 1.0f / std::sqrt(static_cast<float>(E));
  const int64_t group = d.H / d.G, KD = d.KD();
  const AttnOperands ops = attention_operands(
      {{a.q, QD * T}, {a.k, KD * T}, {a.v, KD * T}, {a.dattn, QD * T}});
  parallel_for(d.B * d.G, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t b = task / d.G, g = task % d.G;
      float* dvg = a.dv + g * E * T + b * S;
      zero_slice(dvg, E, S, T);
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const HeadView hv = head_view(d, ops, a.lse, b, h);
        float* P_head = a.probs + (h * d.B + b) * S * S;
        float* dP_head = a.dprobs + (h * d.B + b) * S * S;
        for_each_query_tile(S, [&](int64_t i0, int64_t i1) {
          float* P = P_head + i0 * S;
          tile_probs(hv, E, T, scale, i0, i1, P, S);
          // The full-square contract: P is 0 and dP is complete past the tile's keys.
          zero_past_tile(P, i0, i1, S);
          tile_dprobs(hv, E, T, i0, i1, 0, i1, dP_head + i0 * S, S);
          tile_dprobs(hv, E, T, i0, i1, i1, S, dP_head + i0 * S, S);
          accumulate_dv(hv, E, T, i0, i1, P, S, dvg);
        });
      }
    }
  });
}

void CpuBackend::sdpa_backward2(const KernelDims& d, const SdpaBackward2Args& a) {
  const int64_t T = d.T(), S = d.S, E = d.E, QD = d.QD(), KD = d.KD();
  const float scale = 1.0f / std::sqrt(static_cast<float>(E));
  const int64_t group = d.H / d.G;
  const bool keep = a.probs != nullptr;
  ANETRAIN_CHECK(keep || (a.v && a.dattn && a.lse && a.dv),
                 "sdpa_backward2 without P and dP needs v, dattn, lse and dv (kernels.h)");
  // With P and dP handed over, only q and k are read.
  const AttnOperands ops = attention_operands({{a.q, QD * T},
                                               {a.k, KD * T},
                                               {keep ? nullptr : a.v, KD * T},
                                               {keep ? nullptr : a.dattn, QD * T}});
  parallel_for(d.B * d.G, [&](int64_t task0, int64_t task1) {
    for (int64_t task = task0; task < task1; ++task) {
      const int64_t b = task / d.G, g = task % d.G;
      float* dkg = a.dk + g * E * T + b * S;
      float* dvg = keep ? nullptr : a.dv + g * E * T + b * S;
      zero_slice(dkg, E, S, T);
      if (!keep) zero_slice(dvg, E, S, T);
      for (int64_t h = g * group; h < (g + 1) * group; ++h) {
        const HeadView hv = head_view(d, ops, a.lse, b, h);
        const int64_t head = (h * d.B + b) * S * S;
        for_each_query_tile(S, [&](int64_t i0, int64_t i1) {
          const int64_t ld = keep ? S : i1;
          const float* P;
          float* dS;
          if (keep) {
            P = a.probs + head + i0 * S;
            dS = a.dprobs + head + i0 * S;
          } else {
            float* p = thread_scratch(kQueryTile * S, 0);
            tile_probs(hv, E, T, scale, i0, i1, p, ld);
            accumulate_dv(hv, E, T, i0, i1, p, ld, dvg);
            dS = thread_scratch(kQueryTile * S, 1);
            tile_dprobs(hv, E, T, i0, i1, 0, i1, dS, ld);
            P = p;
          }
          causal_softmax_backward_rows(P, ld, dS, ld, i0, i1, scale);
          if (keep) zero_past_tile(dS, i0, i1, S);
          const AttnOperand ds = tile_operand(dS, i1 - i0, i1, ld, 1);
          // dq[e, i] = sum_j k[e, j] dS[i, j]
          attention_gemm(Trans::kNo, Trans::kYes, E, i1 - i0, i1, 1.0f, hv.k, T, ds, ld, 0.0f,
                         a.dq + h * E * T + b * S + i0, T);
          // dk[e, j] += sum_i q[e, i] dS[i, j], j < i1
          attention_gemm(Trans::kNo, Trans::kNo, E, i1, i1 - i0, 1.0f, hv.q + i0, T, ds, ld, 1.0f,
                         dkg, T);
        });
      }
    }
  });
  rope_rotate_qk(a.dq, a.dk, d, -1.0f);
}

}  // namespace anetrain::cpu
