// What is derived from the kernel table (kernels/kernel_table.h): names, the profiler's kernel
// rows and their FLOPs (Backend::run, from the formulas in model/flops.h, which also give the
// model totals), and the ANE's column covering every kernel.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "backends/ane/programs/kernel_programs.h"
#include "backends/kernel_calls.h"
#include "core/parallel.h"
#include "core/profiler.h"
#include "model/flops.h"

namespace anetrain {
namespace {

TEST(KernelTable, NamesAreUniqueAndRowsFollowTheEnum) {
  std::set<std::string> names;
  for (size_t i = 0; i < kKernelCount; ++i) {
    EXPECT_EQ(static_cast<size_t>(kAllKernels[i]), i);
    const std::string name = kernel_name(kAllKernels[i]);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(kernel_profile_row(kAllKernels[i]), "kernel " + name);
  }
  EXPECT_EQ(kernel_name(kernel_of<SdpaBackward2Args>), std::string("sdpa_backward2"));
}

TEST(KernelTable, TheAneHasARowForEveryKernelAndAProgramForAllButTheClassifier) {
  for (Kernel k : kAllKernels) {
    EXPECT_EQ(ane::ane_kernel(k).kernel, k);
    const bool program = ane::ane_kernel(k).write != nullptr;
    EXPECT_EQ(program, k != Kernel::kClassifierLoss) << kernel_name(k);
    if (program) EXPECT_GT(ane::ane_kernel(k).tolerance, 0) << kernel_name(k);
  }
}

// Every kernel call through Backend::run lands in its profiler row with its formula's FLOPs.
TEST(KernelTable, BackendRunProfilesEachKernelWithItsFormula) {
  init_thread_pool();
  ModelConfig c;
  c.n_layers = 1;
  const ParamLayout layout(c);
  Rng rng(3);
  const std::vector<float> params = check_params(c, layout, 3, rng);
  const KernelDims d = KernelDims::from(c, 2, 32);
  std::vector<KernelCall> calls = reference_calls(d, layout, params.data(), rng);
  auto backend = make_backend("cpu");

  // Backend::run with the call's arguments: run_kernel_call's arguments, through a backend
  // that forwards to the CPU under the profiler.
  struct Profiled final : Backend {
    Backend& inner;
    explicit Profiled(Backend& b) : inner(b) {}
    std::string name() const override { return "profiled"; }
    bool supports(Kernel, const KernelDims&) const override { return true; }
    bool materializes_attention_probs() const override {
      return inner.materializes_attention_probs();
    }
#define FORWARD(Id, name) \
  void name(const KernelDims& d, const Id##Args& a) override { inner.run(d, a); }
    ANETRAIN_KERNELS(FORWARD)
#undef FORWARD
  } profiled(*backend);

  Profiler& profiler = Profiler::get();
  profiler.reset();
  profiler.enable(true);
  const bool m = backend->materializes_attention_probs();
  for (KernelCall& call : calls) run_kernel_call(profiled, d, layout, params.data(), call, m);
  profiler.enable(false);
  const std::map<Kernel, double> expected = {
      {Kernel::kAttentionForward, attention_forward_flops(d)},
      {Kernel::kFfnForward, ffn_forward_flops(d)},
      {Kernel::kFfnBackward, ffn_backward_flops(d)},
      {Kernel::kSdpaBackward1, sdpa_backward1_flops(d, m)},
      {Kernel::kSdpaBackward2, sdpa_backward2_flops(d, m)},
      {Kernel::kQkvBackward, qkv_backward_flops(d)},
      {Kernel::kClassifierLoss, classifier_loss_flops(d, true)},
  };
  ASSERT_EQ(expected.size(), kKernelCount);
  for (Kernel k : kAllKernels) {
    const ProfileEntry& e = profiler.entries().at(kernel_profile_row(k));
    EXPECT_EQ(e.calls, 1) << kernel_name(k);
    EXPECT_EQ(e.flops, expected.at(k)) << kernel_name(k);
  }
  profiler.reset();
}

TEST(KernelTable, ModelTotalsAddUpTheKernelFormulas) {
  RunConfig layer = load_config("layer768");
  const ModelConfig& c = layer.model;
  const KernelDims d = KernelDims::from(c, 1, c.seq_len);
  EXPECT_EQ(block_forward_flops(c, 1, c.seq_len),
            attention_forward_flops(d) + ffn_forward_flops(d));
  // docs/DESIGN.md "FLOP counting": 24.16 GFLOP per step for one layer768 block.
  EXPECT_NEAR(training_flops(block_forward_flops(c, 1, c.seq_len)) / 1e9, 24.16, 0.005);
  EXPECT_EQ(model_forward_flops(c, 2, 64),
            c.n_layers * block_forward_flops(c, 2, 64) +
                classifier_loss_flops(KernelDims::from(c, 2, 64), false));
}

}  // namespace
}  // namespace anetrain
