// The CPU backend fuses the Q/K/V projections into one GEMM when Wq, Wk, Wv and the q, k, v
// (or dq, dk, dv) buffers are adjacent, as the trainer lays them out. Both paths must agree.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "core/parallel.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

double max_rel_diff(const float* a, const float* b, int64_t n) {
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  for (int64_t i = 0; i < n; ++i)
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  return worst / scale;
}

TEST(CpuFusedQkv, AdjacentBuffersGiveTheSameProjectionsAndGradients) {
  init_thread_pool();
  ModelConfig c;
  c.dim = 64, c.n_heads = 8, c.n_kv_heads = 2, c.hidden_dim = 96, c.seq_len = 40;
  const KernelDims d = KernelDims::from(c, 2, 40);
  const int64_t T = d.T(), D = d.D, QD = d.QD(), KD = d.KD();
  uint64_t seed = 7;
  auto random = [&](int64_t n, double s) { return testing::random_normal(seed++, n, s); };
  const std::vector<float> x = random(D * T, 1), norm(D, 1.0f), wo = random(D * QD, 0.2);
  // One [QD + 2 KD, D] weight block, and the same three matrices as separate copies.
  const std::vector<float> wqkv = random((QD + 2 * KD) * D, 0.2);
  const std::vector<float> wq(wqkv.begin(), wqkv.begin() + QD * D),
      wk(wqkv.begin() + QD * D, wqkv.begin() + (QD + KD) * D),
      wv(wqkv.begin() + (QD + KD) * D, wqkv.end());
  cpu::CpuBackend cpu;

  std::vector<float> y1(D * T), xn1(D * T), rms1(T), qkv((QD + 2 * KD) * T), attn1(QD * T),
      lse1(d.H * T);
  float *q1 = qkv.data(), *k1 = q1 + QD * T, *v1 = k1 + KD * T;
  cpu.attention_forward(d, {.x = x.data(),
                            .norm_w = norm.data(),
                            .wq = wqkv.data(),
                            .wk = wqkv.data() + QD * D,
                            .wv = wqkv.data() + (QD + KD) * D,
                            .wo = wo.data(),
                            .y = y1.data(),
                            .xnorm = xn1.data(),
                            .rms_inv = rms1.data(),
                            .q = q1,
                            .k = k1,
                            .v = v1,
                            .attn = attn1.data(),
                            .lse = lse1.data()});
  std::vector<float> y2(D * T), xn2(D * T), rms2(T), q2(QD * T), k2(KD * T), v2(KD * T),
      attn2(QD * T), lse2(d.H * T);
  cpu.attention_forward(d, {.x = x.data(),
                            .norm_w = norm.data(),
                            .wq = wq.data(),
                            .wk = wk.data(),
                            .wv = wv.data(),
                            .wo = wo.data(),
                            .y = y2.data(),
                            .xnorm = xn2.data(),
                            .rms_inv = rms2.data(),
                            .q = q2.data(),
                            .k = k2.data(),
                            .v = v2.data(),
                            .attn = attn2.data(),
                            .lse = lse2.data()});
  EXPECT_LT(max_rel_diff(q1, q2.data(), QD * T), 1e-6);
  EXPECT_LT(max_rel_diff(k1, k2.data(), KD * T), 1e-6);
  EXPECT_LT(max_rel_diff(v1, v2.data(), KD * T), 1e-6);
  EXPECT_LT(max_rel_diff(y1.data(), y2.data(), D * T), 1e-6);

  const std::vector<float> dqkv = random((QD + 2 * KD) * T, 0.1);
  std::vector<float> dx1(D * T), dx2(D * T);
  cpu.qkv_backward(d, {.dq = dqkv.data(),
                       .dk = dqkv.data() + QD * T,
                       .dv = dqkv.data() + (QD + KD) * T,
                       .wq = wqkv.data(),
                       .wk = wqkv.data() + QD * D,
                       .wv = wqkv.data() + (QD + KD) * D,
                       .dxnorm = dx1.data()});
  const std::vector<float> dq(dqkv.begin(), dqkv.begin() + QD * T),
      dk(dqkv.begin() + QD * T, dqkv.begin() + (QD + KD) * T),
      dv(dqkv.begin() + (QD + KD) * T, dqkv.end());
  cpu.qkv_backward(d, {.dq = dq.data(),
                       .dk = dk.data(),
                       .dv = dv.data(),
                       .wq = wq.data(),
                       .wk = wk.data(),
                       .wv = wv.data(),
                       .dxnorm = dx2.data()});
  EXPECT_LT(max_rel_diff(dx1.data(), dx2.data(), D * T), 1e-5);
  // A real difference (one of the three terms dropped) is far larger than the tolerance.
  std::vector<float> dx3(D * T);
  cpu.qkv_backward(d, {.dq = dq.data(),
                       .dk = dk.data(),
                       .dv = std::vector<float>(KD * T, 0.0f).data(),
                       .wq = wq.data(),
                       .wk = wk.data(),
                       .wv = wv.data(),
                       .dxnorm = dx3.data()});
  EXPECT_GT(max_rel_diff(dx3.data(), dx2.data(), D * T), 1e-2);
}

}  // namespace
}  // namespace anetrain
