// Backend conformance, in the style of ggml's test-backend-ops: every kernel of the kernel table
// (kernels/kernel_table.h), at every case's dims, on every backend that supports it there: the
// CPU, and the ANE through the fake driver with both pipelines. Each run takes its inputs from a
// reference trace of one block (backends/kernel_calls.h: the CPU backend, P and dP
// materialized) and every output the backend writes must match the trace's within the
// backend's tolerance for that kernel, as max |actual - reference| / max |reference|:
//   cpu  0, the reference itself: bit-identical, including its own path of sdpa backward that
//        recomputes P and dP instead of receiving them;
//   ane  the ANE kernel table's fp16 tolerance (1e-2 forward, 2e-2 backward), 0 for the
//        classifier, which runs on the host.
// A backend that does not support a kernel at a case's dims skips it, saying so (the ANE needs
// S to be a multiple of 32). The CPU's accuracy against a double-precision reference and finite
// differences is tested in tests/kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "backends/ane/ane_backend.h"
#include "backends/ane/runtime/fake_driver.h"
#include "backends/kernel_calls.h"
#include "core/parallel.h"

namespace anetrain {
namespace {

struct Case {
  const char* name;
  int dim, hidden_dim, n_heads, n_kv_heads, vocab_size;
  int64_t B, S;
  float norm_eps = 1e-5f, rope_theta = 10000.0f;
  // Std of Wq and Wk. check_params' 0.02 gives nearly flat attention, which would hide a wrong
  // softmax or its backward; "sharp" raises it so the probabilities are peaked.
  float qk_std = 0.02f;
  // LoRA adapters on every kernel that takes them (kernel_calls.h CallLora): rank 0 for none.
  CallLora lora = {};

  ModelConfig config() const {
    ModelConfig c;
    c.dim = dim, c.hidden_dim = hidden_dim, c.n_heads = n_heads, c.n_kv_heads = n_kv_heads;
    c.vocab_size = vocab_size, c.seq_len = static_cast<int>(S), c.n_layers = 1;
    c.norm_eps = norm_eps, c.rope_theta = rope_theta;
    return c;
  }
};

// gqa, mha, mqa: 2, 1 and 8 query heads per kv head; mha with Llama 3's RoPE theta and mqa with
// a large eps, so a kernel that fixes either fails somewhere; B > 1 so that sequences are cut
// apart and put back. sharp: peaked attention (qk_std). odd: S = 7, no size a multiple of a
// vector width. long: S = 300 spans three causal query tiles of the CPU attention (128, 128, 44).
// lora: adapters of rank 3 (the ANE pads the rank to 32) beside q, k, v, 1, 3 and the input
// gradient shares of o and 2, and their taps; lora_dropout: with dropout masks; lora_mqa: rank
// 32 (no padding) on the MQA shape.
std::vector<Case> cases() {
  const Case base{.name = "",
                  .dim = 32,
                  .hidden_dim = 48,
                  .n_heads = 4,
                  .n_kv_heads = 2,
                  .vocab_size = 37,
                  .B = 2,
                  .S = 32};
  auto with = [&](const char* name, auto change) {
    Case c = base;
    c.name = name;
    change(c);
    return c;
  };
  return {
      with("gqa", [](Case&) {}),
      with("mha", [](Case& c) { c.n_kv_heads = 4, c.B = 1, c.S = 64, c.rope_theta = 500000.0f; }),
      with("mqa",
           [](Case& c) {
             c.dim = 64, c.hidden_dim = 96, c.n_heads = 8, c.n_kv_heads = 1, c.vocab_size = 53;
             c.norm_eps = 0.5f;
           }),
      with("sharp", [](Case& c) { c.qk_std = 0.4f; }),
      with("odd", [](Case& c) { c.S = 7; }),
      with("long", [](Case& c) { c.B = 1, c.S = 300; }),
      with("lora", [](Case& c) { c.lora.rank = 3; }),
      with("lora_dropout", [](Case& c) { c.lora = {.rank = 3, .dropout = 0.25f}; }),
      with("lora_mqa",
           [](Case& c) {
             c.dim = 64, c.hidden_dim = 96, c.n_heads = 8, c.n_kv_heads = 1, c.vocab_size = 53;
             c.lora = {.rank = 32, .scale = 0.5f, .dropout = 0.1f};
           }),
  };
}

struct BackendUnderTest {
  const char* name;
  std::unique_ptr<Backend> (*make)();
  double (*tolerance)(Kernel);
};

// How gtest (and so ctest) shows the parameters.
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }
void PrintTo(const BackendUnderTest& b, std::ostream* os) { *os << b.name; }
}  // namespace
void PrintTo(Kernel k, std::ostream* os) { *os << kernel_name(k); }
namespace {

std::vector<BackendUnderTest> backends() {
  return {
      {"cpu", [] { return make_backend("cpu"); }, [](Kernel) { return 0.0; }},
      {"ane",
       []() -> std::unique_ptr<Backend> {
         return std::make_unique<ane::AneBackend>(std::make_unique<ane::FakeDriver>(),
                                                  BackendOptions{.ane_pipeline = "dynamic"});
       },
       [](Kernel k) { return ane::ane_kernel(k).tolerance; }},
      {"ane_static",
       []() -> std::unique_ptr<Backend> {
         return std::make_unique<ane::AneBackend>(std::make_unique<ane::FakeDriver>(),
                                                  BackendOptions{.ane_pipeline = "static"});
       },
       [](Kernel k) { return ane::ane_kernel(k).tolerance; }},
  };
}

// Outputs a backend leaves unwritten by design: the ANE does not produce attention_forward's
// lse tap, because its sdpa_backward1 recomputes P from q and k (ane_backend.h).
bool produced(const std::string& backend, Kernel k, const std::string& output) {
  return !(backend.rfind("ane", 0) == 0 && k == Kernel::kAttentionForward && output == "lse");
}

using Param = std::tuple<BackendUnderTest, Kernel, Case>;

class KernelConformance : public ::testing::TestWithParam<Param> {};

TEST_P(KernelConformance, MatchesTheReferenceTrace) {
  const auto& [under_test, kernel, c] = GetParam();
  init_thread_pool();
  const ModelConfig config = c.config();
  const KernelDims d = KernelDims::from(config, c.B, c.S);
  std::unique_ptr<Backend> backend = under_test.make();
  if (!backend->supports(kernel, d))
    GTEST_SKIP() << under_test.name << " does not support " << kernel_name(kernel)
                 << " at S = " << d.S;

  const ParamLayout layout(config);
  Rng rng(0x636f6e66ull);
  std::vector<float> params = check_params(config, layout, 11, rng);
  const LayerParams& block = layout.layer(0);
  for (int64_t i = block.wq; i < block.wk + d.KD() * d.D; ++i) params[i] *= c.qk_std / 0.02f;
  const std::vector<KernelCall> trace = reference_calls(d, layout, params.data(), rng, c.lora);
  const KernelCall& reference = trace[static_cast<size_t>(kernel)];
  KernelCall call = reference;
  run_kernel_call(*backend, d, layout, params.data(), call,
                  backend->materializes_attention_probs());

  const double tolerance = under_test.tolerance(kernel);
  ASSERT_FALSE(call.outputs.empty());
  for (const auto& [name, actual] : call.outputs) {
    if (!produced(under_test.name, kernel, name)) continue;
    const std::vector<float>& expected = reference.outputs.at(name);
    ASSERT_EQ(actual.size(), expected.size()) << name;
    double max_err = 0, max_ref = 0;
    for (size_t i = 0; i < actual.size(); ++i) {
      const double err = std::fabs(static_cast<double>(actual[i]) - expected[i]);
      max_err = std::max(max_err, std::isnan(err) ? INFINITY : err);
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(expected[i])));
    }
    EXPECT_GT(max_ref, 0.0) << name << ": an all-zero reference checks nothing";
    EXPECT_LE(max_err, tolerance * max_ref)
        << kernel_name(kernel) << " " << name << ": max |error| " << max_err << " = "
        << max_err / max_ref << " of max |reference| " << max_ref << " (tolerance " << tolerance
        << ")";
    if (std::getenv("ANETRAIN_KERNEL_TEST_VERBOSE"))
      std::printf("[observed] %s %s %s %s: relative %.3g (tolerance %.1g)\n", under_test.name,
                  kernel_name(kernel), c.name, name.c_str(), max_err / max_ref, tolerance);
  }
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  const auto& [backend, kernel, c] = info.param;
  return std::string(backend.name) + "_" + kernel_name(kernel) + "_" + c.name;
}

INSTANTIATE_TEST_SUITE_P(, KernelConformance,
                         ::testing::Combine(::testing::ValuesIn(backends()),
                                            ::testing::ValuesIn(kAllKernels),
                                            ::testing::ValuesIn(cases())),
                         param_name);

}  // namespace
}  // namespace anetrain
