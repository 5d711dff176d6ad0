// The CPU backend's attention kernels. Its two SDPA backward paths give the same bits, in fp32
// and in bf16: P and dP handed from part 1 to part 2 ([H, B, S, S] buffers), or recomputed per
// head inside part 2 (probs == nullptr, what the trainer uses so that attention memory does
// not grow with H x B x S^2). In bf16 mode the attention products take bf16 inputs with fp32
// accumulation: every output stays within a few bf16 roundings of fp32's, relative to its norm.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

// Everything the attention kernels write for one input, by name.
struct Outputs {
  std::vector<float> y, q, k, v, attn, lse, dattn, dv, dq, dk;
};

// Forward, then backward along one path (materialized P and dP, or recomputed).
// q_scale scales Wq (and so the scores): 1 gives O(1) scores.
Outputs run_attention(bool materialize, double q_scale = 0.2) {
  ModelConfig c;
  c.dim = 48, c.n_heads = 6, c.n_kv_heads = 2, c.hidden_dim = 64, c.seq_len = 150;
  // 150 positions: a full causal tile and a partial one (kQueryTile = 128).
  const KernelDims d = KernelDims::from(c, 2, 150);
  const int64_t T = d.T(), D = d.D, QD = d.QD(), KD = d.KD();
  uint64_t seed = 4;
  auto random = [&](int64_t n, double s) { return testing::random_normal(seed++, n, s); };
  std::vector<float> x = random(D * T, 1), norm(D, 1.0f), wq = random(QD * D, q_scale),
                     wk = random(KD * D, 0.2), wv = random(KD * D, 0.2), wo = random(D * QD, 0.2);
  const std::vector<float> dy = random(D * T, 0.1);
  Outputs o;
  o.y.resize(D * T), o.q.resize(QD * T), o.k.resize(KD * T), o.v.resize(KD * T);
  o.attn.resize(QD * T), o.lse.resize(d.H * T);
  std::vector<float> xn(D * T), rms(T);
  cpu::CpuBackend cpu;
  cpu.attention_forward(d, {.x = x.data(),
                            .norm_w = norm.data(),
                            .wq = wq.data(),
                            .wk = wk.data(),
                            .wv = wv.data(),
                            .wo = wo.data(),
                            .y = o.y.data(),
                            .xnorm = xn.data(),
                            .rms_inv = rms.data(),
                            .q = o.q.data(),
                            .k = o.k.data(),
                            .v = o.v.data(),
                            .attn = o.attn.data(),
                            .lse = o.lse.data()});
  o.dattn.resize(QD * T), o.dv.resize(KD * T), o.dq.resize(QD * T), o.dk.resize(KD * T);
  std::vector<float> probs, dprobs;
  if (materialize) probs.resize(d.H * d.B * d.S * d.S), dprobs.resize(probs.size());
  float* P = materialize ? probs.data() : nullptr;
  float* dP = materialize ? dprobs.data() : nullptr;
  cpu.sdpa_backward1(d, {.dy = dy.data(),
                         .wo = wo.data(),
                         .q = o.q.data(),
                         .k = o.k.data(),
                         .v = o.v.data(),
                         .lse = o.lse.data(),
                         .dattn = o.dattn.data(),
                         .dv = o.dv.data(),
                         .probs = P,
                         .dprobs = dP});
  cpu.sdpa_backward2(d, {.q = o.q.data(),
                         .k = o.k.data(),
                         .probs = P,
                         .dprobs = dP,
                         .dq = o.dq.data(),
                         .dk = o.dk.data(),
                         .v = materialize ? nullptr : o.v.data(),
                         .dattn = materialize ? nullptr : o.dattn.data(),
                         .lse = materialize ? nullptr : o.lse.data(),
                         .dv = materialize ? nullptr : o.dv.data()});
  return o;
}

void expect_paths_agree_exactly(const char* label) {
  const Outputs m = run_attention(true), r = run_attention(false);
  EXPECT_EQ(m.dattn, r.dattn) << label;
  EXPECT_EQ(m.dv, r.dv) << label;
  EXPECT_EQ(m.dq, r.dq) << label;
  EXPECT_EQ(m.dk, r.dk) << label;
}

TEST(CpuAttentionBackward, RecomputedAndMaterializedPathsAgreeExactly) {
  init_thread_pool();
  expect_paths_agree_exactly("fp32");
  testing::Bf16Scope bf16;
  if (!bf16.available()) GTEST_SKIP() << "no bf16 mode with this GEMM library";
  expect_paths_agree_exactly("bf16");
}

// ||a - b||_2 / ||b||_2 and max |a - b| / max |b|.
struct NormError {
  double l2 = 0, max = 0;
};
NormError norm_error(const std::vector<float>& a, const std::vector<float>& b) {
  double d2 = 0, b2 = 0, dmax = 0, bmax = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    d2 += d * d, b2 += static_cast<double>(b[i]) * b[i];
    dmax = std::max(dmax, std::fabs(d)), bmax = std::max(bmax, std::fabs(double{b[i]}));
  }
  return {std::sqrt(d2 / b2), dmax / bmax};
}

// bf16 keeps 8 significant bits: rounding moves a value by at most u = 2^-9 of itself.
constexpr double kBf16Unit = 1.0 / 512;

TEST(CpuAttention, Bf16KernelsStayWithinBf16RoundingOfFp32) {
  init_thread_pool();
  for (double q_scale : {0.2, 1.0}) {  // near-uniform and peaked softmax
    const Outputs fp32 = run_attention(false, q_scale);
    testing::Bf16Scope bf16;
    if (!bf16.available()) GTEST_SKIP() << "no bf16 mode with this GEMM library";
    const Outputs b = run_attention(false, q_scale);
    const std::pair<const char*, std::pair<const std::vector<float>*, const std::vector<float>*>>
        outputs[] = {{"q", {&b.q, &fp32.q}},          {"attn", {&b.attn, &fp32.attn}},
                     {"y", {&b.y, &fp32.y}},          {"lse", {&b.lse, &fp32.lse}},
                     {"dattn", {&b.dattn, &fp32.dattn}}, {"dv", {&b.dv, &fp32.dv}},
                     {"dq", {&b.dq, &fp32.dq}},       {"dk", {&b.dk, &fp32.dk}}};
    for (const auto& [name, pair] : outputs) {
      const NormError e = norm_error(*pair.first, *pair.second);
      std::printf("bf16 (%s) vs fp32, q_scale %.1f, %-5s: ||diff||/||ref|| %.2e (%.2f u), "
                  "max|diff|/max|ref| %.2e (%.2f u)\n",
                  bf16.units(), q_scale, name, e.l2, e.l2 / kBf16Unit, e.max, e.max / kBf16Unit);
      // Each product rounds both inputs (u each) and softmax turns an absolute score error into
      // a relative one in P, so errors grow with the score range: measured 0.5-7 u (norm) and
      // up to 25 u (max) here. A wrong operand, offset or tile gives errors of order 1.
      EXPECT_LT(e.l2, 24 * kBf16Unit) << name << " q_scale " << q_scale;
      EXPECT_LT(e.max, 64 * kBf16Unit) << name << " q_scale " << q_scale;
      // fp32 products here would give ~1e-7: bf16 mode must really round.
      EXPECT_GT(e.l2, kBf16Unit / 8) << name << " q_scale " << q_scale;
    }
  }
}

}  // namespace
}  // namespace anetrain
