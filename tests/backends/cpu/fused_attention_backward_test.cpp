// The CPU backend's two SDPA backward paths give the same bits: P and dP handed from part 1 to
// part 2 ([H, B, S, S] buffers), or recomputed per head inside part 2 (probs == nullptr, what
// the trainer uses so that attention memory does not grow with H x B x S^2).
#include <gtest/gtest.h>

#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/parallel.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

TEST(CpuAttentionBackward, RecomputedAndMaterializedPathsAgreeExactly) {
  init_thread_pool();
  ModelConfig c;
  c.dim = 48, c.n_heads = 6, c.n_kv_heads = 2, c.hidden_dim = 64, c.seq_len = 150;
  // 150 positions: a full causal tile and a partial one (kQueryTile = 128).
  const KernelDims d = KernelDims::from(c, 2, 150);
  const int64_t T = d.T(), D = d.D, QD = d.QD(), KD = d.KD();
  uint64_t seed = 4;
  auto random = [&](int64_t n, double s) { return testing::random_normal(seed++, n, s); };
  std::vector<float> x = random(D * T, 1), norm(D, 1.0f), wq = random(QD * D, 0.2),
                     wk = random(KD * D, 0.2), wv = random(KD * D, 0.2), wo = random(D * QD, 0.2);
  std::vector<float> y(D * T), xn(D * T), rms(T), q(QD * T), k(KD * T), v(KD * T), attn(QD * T),
      lse(d.H * T);
  cpu::CpuBackend cpu;
  cpu.attention_forward(d, {.x = x.data(),
                            .norm_w = norm.data(),
                            .wq = wq.data(),
                            .wk = wk.data(),
                            .wv = wv.data(),
                            .wo = wo.data(),
                            .y = y.data(),
                            .xnorm = xn.data(),
                            .rms_inv = rms.data(),
                            .q = q.data(),
                            .k = k.data(),
                            .v = v.data(),
                            .attn = attn.data(),
                            .lse = lse.data()});
  const std::vector<float> dy = random(D * T, 0.1);
  std::vector<float> dattn1(QD * T), dv1(KD * T), dq1(QD * T), dk1(KD * T);
  std::vector<float> probs(d.H * d.B * d.S * d.S), dprobs(probs.size());
  cpu.sdpa_backward1(d, {.dy = dy.data(),
                         .wo = wo.data(),
                         .q = q.data(),
                         .k = k.data(),
                         .v = v.data(),
                         .lse = lse.data(),
                         .dattn = dattn1.data(),
                         .dv = dv1.data(),
                         .probs = probs.data(),
                         .dprobs = dprobs.data()});
  cpu.sdpa_backward2(d, {.q = q.data(),
                         .k = k.data(),
                         .probs = probs.data(),
                         .dprobs = dprobs.data(),
                         .dq = dq1.data(),
                         .dk = dk1.data()});
  std::vector<float> dattn2(QD * T), dv2(KD * T), dq2(QD * T), dk2(KD * T);
  cpu.sdpa_backward1(d, {.dy = dy.data(),
                         .wo = wo.data(),
                         .q = q.data(),
                         .k = k.data(),
                         .v = v.data(),
                         .lse = lse.data(),
                         .dattn = dattn2.data(),
                         .dv = dv2.data(),
                         .probs = nullptr,
                         .dprobs = nullptr});
  cpu.sdpa_backward2(d, {.q = q.data(),
                         .k = k.data(),
                         .probs = nullptr,
                         .dprobs = nullptr,
                         .dq = dq2.data(),
                         .dk = dk2.data(),
                         .v = v.data(),
                         .dattn = dattn2.data(),
                         .lse = lse.data(),
                         .dv = dv2.data()});
  EXPECT_EQ(dattn1, dattn2);
  EXPECT_EQ(dv1, dv2);
  EXPECT_EQ(dq1, dq2);
  EXPECT_EQ(dk1, dk2);
}

}  // namespace
}  // namespace anetrain
