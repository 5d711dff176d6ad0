// Tests the CPU backend's forward kernels (attention_forward with every tap, ffn_forward with
// every tap, classifier_loss's logits and loss) against the double scalar reference of
// reference_model.h on random inputs at realistic scale, for GQA, MHA (G = H), MQA (G = 1),
// peaked attention and a size large enough to run multi-threaded. First, KernelReference pins
// the reference itself to hand-derived values, since everything else is judged against it.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "kernels/kernel_test_util.h"
#include "kernels/reference_model.h"

namespace anetrain {
namespace {

using kernel_test::Case;
using kernel_test::close;
using kernel_test::normal;
using kernel_test::to_double;
using kernel_test::Tolerance;
using ref::Buf;

// fp32 kernels against the double reference on the same (float) inputs. Every value is a sum
// of at most D or F products of O(1) and O(0.1) numbers, so fp32 rounding leaves ~1e-7..1e-6
// relative error. The cases use at most 3% of these bounds; the rest is headroom for other
// GEMM libraries' summation orders (Accelerate on macOS) and thread counts, while a wrong
// index, mask, frequency or eps still misses by orders of magnitude.
constexpr Tolerance kNormTol{1e-6, 1e-5};  // xnorm, rms_inv: one reduction over D
// q, k: RoPE in the kernel uses a float frequency, so angles up to S rad carry ~1e-7 * S
// absolute error on top of the projection's rounding.
constexpr Tolerance kProjTol{2e-5, 1e-4};    // q, k, v, h1, h3, gate
constexpr Tolerance kAttnTol{2e-5, 1e-4};    // attn, lse, y (attention)
constexpr Tolerance kFfnOutTol{1e-5, 1e-4};  // y (FFN)
constexpr Tolerance kLogitTol{2e-5, 1e-4};   // logits
constexpr double kLossRtol = 1e-5;  // loss_sum: T terms, each with fp32 rounding in its softmax

// ---------------------------------------------------------------------------------------------
// The reference, against values derived by hand.

KernelDims tiny_dims(int64_t D, int64_t H, int64_t G, int64_t B, int64_t S) {
  return {.D = D,
          .F = 4,
          .H = H,
          .G = G,
          .E = D / H,
          .V = 5,
          .B = B,
          .S = S,
          .norm_eps = 1e-5f,
          .rope_theta = 10000.0f};
}

TEST(KernelReference, RmsNormOfConstantVectorIsTheWeight) {
  // x = 3 in every channel: rms = 3, so out = w (up to eps).
  const Buf<double> x(4 * 2, 3.0), w = {1.0, 2.0, -1.0, 0.5};
  Buf<double> rms_inv;
  const Buf<double> out = ref::rmsnorm(x, w, 4, 2, 0.0, &rms_inv);
  for (int c = 0; c < 4; ++c)
    for (int t = 0; t < 2; ++t) EXPECT_NEAR(out[c * 2 + t], w[c], 1e-15);
  EXPECT_NEAR(rms_inv[0], 1.0 / 3.0, 1e-15);
}

TEST(KernelReference, RopeRotatesPairsByPositionTimesFrequency) {
  // E = 4: pair 0 turns by s rad, pair 1 by s * theta^(-1/2) = s / 100 rad. Two sequences of
  // length 3: the second restarts at s = 0.
  const KernelDims d = tiny_dims(4, 1, 1, 2, 3);
  const int64_t T = d.T();
  Buf<double> x(4 * T);
  for (int64_t t = 0; t < T; ++t)
    x[0 * T + t] = 1, x[1 * T + t] = 0, x[2 * T + t] = 0, x[3 * T + t] = 1;
  ref::rope(x, 1, d);
  for (int64_t t = 0; t < T; ++t) {
    const double s = static_cast<double>(t % 3);
    EXPECT_NEAR(x[0 * T + t], std::cos(s), 1e-15);
    EXPECT_NEAR(x[1 * T + t], std::sin(s), 1e-15);
    EXPECT_NEAR(x[2 * T + t], -std::sin(s / 100), 1e-15);
    EXPECT_NEAR(x[3 * T + t], std::cos(s / 100), 1e-15);
  }
}

TEST(KernelReference, SdpaIsCausalAndReadsTheGroupsKvHead) {
  // H = 4, G = 2: heads 0, 1 read kv head 0 and heads 2, 3 read kv head 1. With q = 0 every
  // score is 0, so position i averages v over positions 0..i of its own sequence.
  const KernelDims d = tiny_dims(8, 4, 2, 2, 3);
  const int64_t T = d.T(), E = d.E;
  const Buf<double> q(d.QD() * T, 0.0), k(d.KD() * T, 1.0);
  Buf<double> v(d.KD() * T);
  for (int64_t c = 0; c < d.KD(); ++c)
    for (int64_t t = 0; t < T; ++t) v[c * T + t] = 100.0 * c + t;
  const auto r = ref::sdpa(q, k, v, d);
  for (int64_t h = 0; h < d.H; ++h)
    for (int64_t e = 0; e < E; ++e)
      for (int64_t b = 0; b < d.B; ++b)
        for (int64_t i = 0; i < d.S; ++i) {
          const int64_t g = h / 2;
          double mean = 0;
          for (int64_t j = 0; j <= i; ++j) mean += v[(g * E + e) * T + b * d.S + j] / (i + 1);
          EXPECT_NEAR(r.attn[(h * E + e) * T + b * d.S + i], mean, 1e-12);
          EXPECT_NEAR(r.lse[h * T + b * d.S + i], std::log(i + 1.0), 1e-15);
        }
}

TEST(KernelReference, CrossEntropyOfUniformLogitsIsLogV) {
  const Buf<double> logits(3 * 5, 0.25);
  const int32_t targets[3] = {0, 4, 2};
  EXPECT_NEAR(ref::cross_entropy_sum(logits, targets, 5, 3), 3 * std::log(5.0), 1e-14);
}

// ---------------------------------------------------------------------------------------------
// The CPU backend against the reference.

class KernelForward : public ::testing::TestWithParam<Case> {
 protected:
  const Case& c = GetParam();
  const KernelDims d = kernel_test::dims_of(c);
  const int64_t D = d.D, F = d.F, T = d.T(), V = d.V;
  std::unique_ptr<Backend> backend = make_backend("cpu");
  Rng rng{0x6b65726e656c31ull};
  kernel_test::Weights w = kernel_test::random_weights(d, c.qk_std, rng);
  std::vector<float> x = kernel_test::normal(rng, d.T() * d.D, 1.0);

  std::string name(const char* tensor) const { return std::string(c.name) + " " + tensor; }
};

TEST_P(KernelForward, AttentionForwardMatchesReferenceWithAllTaps) {
  std::vector<float> y(D * T), xnorm(D * T), rms_inv(T), q(d.QD() * T), k(d.KD() * T),
      v(d.KD() * T), attn(d.QD() * T), lse(d.H * T);
  backend->attention_forward(d, {.x = x.data(),
                                 .norm_w = w.attn_norm.data(),
                                 .wq = w.wq.data(),
                                 .wk = w.wk.data(),
                                 .wv = w.wv.data(),
                                 .wo = w.wo.data(),
                                 .y = y.data(),
                                 .xnorm = xnorm.data(),
                                 .rms_inv = rms_inv.data(),
                                 .q = q.data(),
                                 .k = k.data(),
                                 .v = v.data(),
                                 .attn = attn.data(),
                                 .lse = lse.data()});
  const auto r = ref::attention_forward(d, to_double(x), to_double(w.attn_norm), to_double(w.wq),
                                        to_double(w.wk), to_double(w.wv), to_double(w.wo));
  EXPECT_TRUE(close(name("attention xnorm"), xnorm, r.xnorm, T, kNormTol));
  EXPECT_TRUE(close(name("attention rms_inv"), rms_inv, r.rms_inv, T, kNormTol));
  EXPECT_TRUE(close(name("attention q (post-RoPE)"), q, r.q, T, kProjTol));
  EXPECT_TRUE(close(name("attention k (post-RoPE)"), k, r.k, T, kProjTol));
  EXPECT_TRUE(close(name("attention v"), v, r.v, T, kProjTol));
  EXPECT_TRUE(close(name("attention attn"), attn, r.attn, T, kAttnTol));
  EXPECT_TRUE(close(name("attention lse"), lse, r.lse, T, kAttnTol));
  EXPECT_TRUE(close(name("attention y"), y, r.y, T, kAttnTol));
}

TEST_P(KernelForward, FfnForwardMatchesReferenceWithAllTaps) {
  std::vector<float> y(D * T), xnorm(D * T), rms_inv(T), h1(F * T), h3(F * T), gate(F * T);
  backend->ffn_forward(d, {.x = x.data(),
                           .norm_w = w.ffn_norm.data(),
                           .w1 = w.w1.data(),
                           .w3 = w.w3.data(),
                           .w2 = w.w2.data(),
                           .y = y.data(),
                           .xnorm = xnorm.data(),
                           .rms_inv = rms_inv.data(),
                           .h1 = h1.data(),
                           .h3 = h3.data(),
                           .gate = gate.data()});
  const auto r = ref::ffn_forward(d, to_double(x), to_double(w.ffn_norm), to_double(w.w1),
                                  to_double(w.w3), to_double(w.w2));
  EXPECT_TRUE(close(name("ffn xnorm"), xnorm, r.xnorm, T, kNormTol));
  EXPECT_TRUE(close(name("ffn rms_inv"), rms_inv, r.rms_inv, T, kNormTol));
  EXPECT_TRUE(close(name("ffn h1"), h1, r.h1, T, kProjTol));
  EXPECT_TRUE(close(name("ffn h3"), h3, r.h3, T, kProjTol));
  EXPECT_TRUE(close(name("ffn gate"), gate, r.gate, T, kProjTol));
  EXPECT_TRUE(close(name("ffn y"), y, r.y, T, kFfnOutTol));
}

TEST_P(KernelForward, ClassifierLogitsAndLossMatchReference) {
  const std::vector<int32_t> targets = kernel_test::random_tokens(rng, T, V);
  const auto r = ref::classifier_forward(d, to_double(x), to_double(w.final_norm),
                                         to_double(w.wcls), targets.data());

  // Without targets: logits only, and loss_sum / dxnorm are not touched.
  std::vector<float> logits(T * V), xnorm(D * T), rms_inv(T), dxnorm(D * T, 7.0f);
  double loss_sum = -1.0;
  backend->classifier_loss(d, {.x = x.data(),
                               .norm_w = w.final_norm.data(),
                               .wcls = w.wcls.data(),
                               .targets = nullptr,
                               .grad_scale = 1.0f,
                               .logits = logits.data(),
                               .xnorm = xnorm.data(),
                               .rms_inv = rms_inv.data(),
                               .dxnorm = dxnorm.data(),
                               .loss_sum = &loss_sum});
  EXPECT_TRUE(close(name("classifier logits"), logits, r.logits, V, kLogitTol));
  EXPECT_EQ(loss_sum, -1.0);
  EXPECT_EQ(dxnorm[0], 7.0f);

  // With targets: the summed loss (grad_scale must not scale it).
  backend->classifier_loss(d, {.x = x.data(),
                               .norm_w = w.final_norm.data(),
                               .wcls = w.wcls.data(),
                               .targets = targets.data(),
                               .grad_scale = 1.0f / static_cast<float>(T),
                               .logits = logits.data(),
                               .xnorm = xnorm.data(),
                               .rms_inv = rms_inv.data(),
                               .dxnorm = dxnorm.data(),
                               .loss_sum = &loss_sum});
  EXPECT_TRUE(close(name("classifier xnorm"), xnorm, r.xnorm, T, kNormTol));
  EXPECT_TRUE(close(name("classifier rms_inv"), rms_inv, r.rms_inv, T, kNormTol));
  EXPECT_NEAR(loss_sum, r.loss_sum, kLossRtol * std::fabs(r.loss_sum))
      << c.name << " classifier loss_sum";
  if (kernel_test::verbose())
    std::printf("[observed] %s classifier loss_sum: |err| %.3g of %.6g\n", c.name,
                std::fabs(loss_sum - r.loss_sum), r.loss_sum);
}

INSTANTIATE_TEST_SUITE_P(, KernelForward, ::testing::ValuesIn(kernel_test::kernel_cases()),
                         kernel_test::case_name);

}  // namespace
}  // namespace anetrain
