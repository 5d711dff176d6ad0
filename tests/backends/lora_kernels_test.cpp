// A LoRA adapter inside the kernels computes what the merged weight W + scale B A computes: the
// projections before RoPE and the gate, and the input gradients through Wo and W2. On the CPU
// backend to fp32 rounding; on the ANE backend (fake driver, both pipelines: the adapters
// travel in the input surface) within the ANE kernel table's fp16 tolerance. The reference is
// always the CPU backend with the merged weights and no adapter.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backends/ane/ane_backend.h"
#include "backends/ane/runtime/fake_driver.h"
#include "backends/backend.h"
#include "backends/cpu/lora_path.h"
#include "core/parallel.h"
#include "model/config.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

using Buf = std::vector<float>;
constexpr int64_t kRank = 3;
constexpr float kScale = 0.7f;

// An adapter for a weight [out, in] with random A and B (B non-zero: the path must count).
struct TestAdapter {
  TestAdapter(uint64_t seed, int64_t out, int64_t in, int64_t T)
      : a(random_normal(seed, kRank * in, 0.3)),
        b(random_normal(seed + 1, out * kRank, 0.3)),
        ax(kRank * T),
        scratch(kRank * T),
        out(out),
        in(in) {}
  LoraAdapter arg() {
    return {.a = a.data(),
            .b = b.data(),
            .ax = ax.data(),
            .scratch = scratch.data(),
            .r = kRank,
            .scale = kScale};
  }
  Buf merged(const Buf& w) const {  // w + scale B A
    Buf m = w;
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) {
        double s = 0;
        for (int64_t k = 0; k < kRank; ++k)
          s += static_cast<double>(b[o * kRank + k]) * a[k * in + i];
        m[o * in + i] += static_cast<float>(kScale * s);
      }
    return m;
  }
  // The tap the kernel must have written: A x for x [in, T].
  Buf expected_tap(const Buf& x, int64_t T) const {
    Buf t(kRank * T, 0.0f);
    for (int64_t k = 0; k < kRank; ++k)
      for (int64_t i = 0; i < in; ++i)
        for (int64_t c = 0; c < T; ++c) t[k * T + c] += a[k * in + i] * x[i * T + c];
    return t;
  }
  Buf a, b, ax, scratch;
  int64_t out, in;
};

struct BackendUnderTest {
  const char* name;
  std::unique_ptr<Backend> (*make)();
  bool fp16;  // the ANE: the kernel table's tolerance; the CPU: 2e-5 of the largest value
};

void PrintTo(const BackendUnderTest& b, std::ostream* os) { *os << b.name; }

std::unique_ptr<Backend> ane_backend(const char* pipeline, const char* form = "proven") {
  return std::make_unique<ane::AneBackend>(
      std::make_unique<ane::FakeDriver>(),
      BackendOptions{.ane_pipeline = pipeline, .ane_program_form = form});
}

class LoraKernels : public ::testing::TestWithParam<BackendUnderTest> {
 protected:
  void SetUp() override {
    init_thread_pool();
    RunConfig c = load_config("tiny");  // GQA: 4 query heads over 2 kv heads
    d = KernelDims::from(c.model, 2, 32);  // the ANE needs S a multiple of 32
    backend = GetParam().make();
    cpu = make_backend("cpu", {});
  }
  // `got` against `want`, relative to want's largest value.
  void expect_near(const Buf& got, const Buf& want, const std::string& what, Kernel k) const {
    double scale = 0;
    for (float w : want) scale = std::max(scale, static_cast<double>(std::abs(w)));
    ASSERT_GT(scale, 0.0) << what << ": an all-zero reference checks nothing";
    const double tolerance =
        GetParam().fp16 ? ane::ane_kernel(k).tolerance * scale : 2e-5 * scale + 1e-6;
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], tolerance) << what << "[" << i << "]";
  }
  KernelDims d;
  std::unique_ptr<Backend> backend, cpu;
};

TEST_P(LoraKernels, AttentionForwardWithAdaptersEqualsMergedWeights) {
  const int64_t D = d.D, T = d.T(), QD = d.QD(), KD = d.KD();
  const Buf x = random_normal(1, D * T, 1.0), norm = random_normal(2, D, 1.0);
  const Buf wq = random_normal(3, QD * D, 0.1), wk = random_normal(4, KD * D, 0.1);
  const Buf wv = random_normal(5, KD * D, 0.1), wo = random_normal(6, D * QD, 0.1);
  TestAdapter lq(10, QD, D, T), lk(12, KD, D, T), lv(14, KD, D, T);
  auto run = [&](Backend& on, const Buf& q_w, const Buf& k_w, const Buf& v_w, bool adapters) {
    // Separate buffers, so the CPU kernel takes its three-GEMM path as well as the fused one.
    Buf y(D * T), xnorm(D * T), rms(T), q(QD * T), k(KD * T), v(KD * T), attn(QD * T), lse(d.H * T);
    AttentionForwardArgs args{.x = x.data(),
                              .norm_w = norm.data(),
                              .wq = q_w.data(),
                              .wk = k_w.data(),
                              .wv = v_w.data(),
                              .wo = wo.data(),
                              .y = y.data(),
                              .xnorm = xnorm.data(),
                              .rms_inv = rms.data(),
                              .q = q.data(),
                              .k = k.data(),
                              .v = v.data(),
                              .attn = attn.data(),
                              .lse = lse.data()};
    if (adapters) args.lora_q = lq.arg(), args.lora_k = lk.arg(), args.lora_v = lv.arg();
    on.run(d, args);
    return std::vector<Buf>{y, q, k, v, xnorm};
  };
  const auto with = run(*backend, wq, wk, wv, true);
  const auto merged = run(*cpu, lq.merged(wq), lk.merged(wk), lv.merged(wv), false);
  const char* names[] = {"y", "q", "k", "v"};
  for (int i = 0; i < 4; ++i) expect_near(with[i], merged[i], names[i], Kernel::kAttentionForward);
  // The taps the host's adapter gradients read: A xnorm.
  const Buf& xnorm = merged[4];
  expect_near(lq.ax, lq.expected_tap(xnorm, T), "ax_q", Kernel::kAttentionForward);
  expect_near(lk.ax, lk.expected_tap(xnorm, T), "ax_k", Kernel::kAttentionForward);
  expect_near(lv.ax, lv.expected_tap(xnorm, T), "ax_v", Kernel::kAttentionForward);
}

TEST_P(LoraKernels, FfnForwardAndBackwardWithAdaptersEqualMergedWeights) {
  const int64_t D = d.D, F = d.F, T = d.T();
  const Buf x = random_normal(1, D * T, 1.0), norm = random_normal(2, D, 1.0);
  const Buf w1 = random_normal(3, F * D, 0.1), w3 = random_normal(4, F * D, 0.1);
  const Buf w2 = random_normal(5, D * F, 0.1), dy = random_normal(6, D * T, 1.0);
  TestAdapter l1(20, F, D, T), l3(22, F, D, T), l2(24, D, F, T);
  auto run = [&](Backend& on, const Buf& a1, const Buf& a3, const Buf& a2, bool adapters) {
    Buf y(D * T), xnorm(D * T), rms(T), h1(F * T), h3(F * T), gate(F * T);
    FfnForwardArgs f{.x = x.data(),
                     .norm_w = norm.data(),
                     .w1 = a1.data(),
                     .w3 = a3.data(),
                     .w2 = a2.data(),
                     .y = y.data(),
                     .xnorm = xnorm.data(),
                     .rms_inv = rms.data(),
                     .h1 = h1.data(),
                     .h3 = h3.data(),
                     .gate = gate.data()};
    if (adapters) f.lora_1 = l1.arg(), f.lora_3 = l3.arg();
    on.run(d, f);
    Buf dxnorm(D * T), dh1(F * T), dh3(F * T);
    FfnBackwardArgs b{.dy = dy.data(),
                      .w1 = a1.data(),
                      .w3 = a3.data(),
                      .w2 = a2.data(),
                      .h1 = h1.data(),
                      .h3 = h3.data(),
                      .dxnorm = dxnorm.data(),
                      .dh1 = dh1.data(),
                      .dh3 = dh3.data()};
    if (adapters) b.lora_2 = l2.arg();
    on.run(d, b);
    // W2's forward path is host work: y += scale B2 (A2 gate).
    if (adapters) lora_forward(l2.arg(), F, D, gate.data(), T, y.data());
    // W1's and W3's input-gradient shares are host work too.
    if (adapters) {
      lora_input_grad(l1.arg(), D, F, dh1.data(), T, dxnorm.data());
      lora_input_grad(l3.arg(), D, F, dh3.data(), T, dxnorm.data());
    }
    return std::vector<Buf>{y, h1, h3, dh1, dh3, dxnorm, xnorm};
  };
  const auto with = run(*backend, w1, w3, w2, true);
  const auto merged = run(*cpu, l1.merged(w1), l3.merged(w3), l2.merged(w2), false);
  const char* names[] = {"y", "h1", "h3", "dh1", "dh3", "dxnorm"};
  for (int i = 0; i < 6; ++i)
    expect_near(with[i], merged[i], names[i], i < 3 ? Kernel::kFfnForward : Kernel::kFfnBackward);
  expect_near(l1.ax, l1.expected_tap(merged[6], T), "ax_1", Kernel::kFfnForward);
  expect_near(l3.ax, l3.expected_tap(merged[6], T), "ax_3", Kernel::kFfnForward);
}

TEST_P(LoraKernels, SdpaBackward1WithAWoAdapterEqualsTheMergedWo) {
  const int64_t D = d.D, T = d.T(), QD = d.QD(), KD = d.KD();
  const Buf wo = random_normal(1, D * QD, 0.1), dy = random_normal(2, D * T, 1.0);
  const Buf q = random_normal(3, QD * T, 1.0), k = random_normal(4, KD * T, 1.0);
  const Buf v = random_normal(5, KD * T, 1.0), lse(d.H * T, 0.0f);
  TestAdapter lo(30, D, QD, T);
  auto run = [&](Backend& on, const Buf& w, bool adapter) {
    // P and dP where the backend materializes them (the ANE recomputes P from q and k; its dv
    // reads dattn, adapter share included).
    const bool m = on.materializes_attention_probs();
    Buf dattn(QD * T), dv(KD * T), probs(m ? d.H * T * d.S : 0), dprobs(probs.size());
    SdpaBackward1Args args{.dy = dy.data(),
                           .wo = w.data(),
                           .q = q.data(),
                           .k = k.data(),
                           .v = v.data(),
                           .lse = lse.data(),
                           .dattn = dattn.data(),
                           .dv = m ? dv.data() : nullptr,
                           .probs = m ? probs.data() : nullptr,
                           .dprobs = m ? dprobs.data() : nullptr};
    if (adapter) args.lora_o = lo.arg();
    on.run(d, args);
    return dattn;
  };
  expect_near(run(*backend, wo, true), run(*cpu, lo.merged(wo), false), "dattn",
              Kernel::kSdpaBackward1);
}

// ane_fused: one program per kernel; sdpa_backward1's dattn, with Wo's adapter share, on the
// host.
INSTANTIATE_TEST_SUITE_P(
    Backends, LoraKernels,
    ::testing::Values(BackendUnderTest{"cpu", [] { return make_backend("cpu", {}); }, false},
                      BackendUnderTest{"ane", [] { return ane_backend("dynamic"); }, true},
                      BackendUnderTest{"ane_static", [] { return ane_backend("static"); }, true},
                      BackendUnderTest{"ane_fused", [] { return ane_backend("static", "fused"); },
                                       true}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace anetrain
