// LoRA on the ANE backend through the fake driver: TrainStep trains adapters over a frozen base
// as on the CPU backend (within fp16 tolerance), the adapters travel in the input surface so no
// step after the first compiles anything in either pipeline (static: the frozen base is baked
// once), and the adapters' host work, which follows the overlapped weight-gradient work, gives
// the same bits whatever the timing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/ane/ane_backend.h"
#include "backends/ane/runtime/fake_driver.h"
#include "core/parallel.h"
#include "model/lora.h"
#include "model/params.h"
#include "support/test_util.h"
#include "train/train_step.h"

namespace anetrain::ane {
namespace {
using namespace anetrain::testing;

constexpr int kSteps = 4;

// A LoRA run's record: per step its loss, the adapters after it, the adapters' gradients of
// the first step, and (on the ANE) the driver's compiles so far after each step.
struct LoraRun {
  std::vector<double> losses;
  std::vector<std::vector<float>> adapters;
  std::vector<float> first_grads;
  std::vector<int64_t> compiles;
};

RunConfig lora_config() {
  RunConfig c = load_config("tiny");  // 2 blocks, GQA
  c.train.batch_size = 2;
  c.train.loss_scale = 1024;  // fp16 gradients on the ANE
  c.train.lr = 1e-2f;
  c.train.warmup_steps = 0;
  return c;
}

LoraConfig adapter_config(float dropout = 0) {
  LoraConfig lc;  // every target
  lc.rank = 4;
  lc.alpha = 6;
  lc.dropout = dropout;
  return lc;
}

// kSteps of TrainStep with adapters (random, B non-zero, so every path counts from the start)
// over a frozen base on `backend`; `driver` is the ANE backend's, or null.
LoraRun train_lora(Backend& backend, const AneDriver* driver, float dropout = 0) {
  const RunConfig c = lora_config();
  const ParamLayout layout(c.model);
  std::vector<float> params(layout.total());
  init_params(c.model, layout, 0.02f, 1, params.data());
  const std::vector<float> base = params;
  const LoraLayout lora(c.model, adapter_config(dropout));
  std::vector<float> adapters = random_normal(5, lora.params().total(), 0.05);
  Transformer model(c.model, backend, 2, c.model.seq_len, false);
  const std::unique_ptr<Optimizer> adam = make_optimizer(c.train, lora.params());
  TrainStep step(model, c.train, layout, nullptr, {&lora, adapters.data(), /*dropout_seed=*/7});
  const std::vector<int32_t> tokens = pattern_tokens(4096, c.model.vocab_size, 2);
  const int64_t T = model.dims().T();
  int64_t at = 0;
  auto batch = [&](int32_t* in, int32_t* tg) {
    for (int64_t i = 0; i < T; ++i) in[i] = tokens[at + i], tg[i] = tokens[at + i + 1];
    at += T;
  };
  LoraRun run;
  for (int s = 0; s < kSteps; ++s) {
    const StepStats stats = step.run(s, kSteps, params.data(), *adam, batch);
    EXPECT_FALSE(stats.skipped) << "step " << s;
    run.losses.push_back(stats.loss);
    run.adapters.push_back(adapters);
    if (s == 0) run.first_grads.assign(step.grads().begin(), step.grads().end());
    run.compiles.push_back(driver ? driver->compiles() : 0);
  }
  EXPECT_TRUE(params == base) << "the base must stay frozen";
  return run;
}

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, static_cast<double>(std::fabs(x)));
  return m;
}

class AneLora : public ::testing::TestWithParam<std::string> {  // the pipeline
 protected:
  void SetUp() override { init_thread_pool(); }
  LoraRun train_on_ane(float dropout = 0) {
    AneBackend ane(std::make_unique<FakeDriver>(), {.ane_pipeline = GetParam()});
    return train_lora(ane, &ane.driver(), dropout);
  }
  void expect_ane_tracks_cpu(float dropout);
};

TEST_P(AneLora, TrainStepTracksTheCpuBackend) { expect_ane_tracks_cpu(0); }

// With dropout the ANE programs take the masks as inputs and the adapters' host work (beside
// the kernels) regenerates them into buffers of its own: the same masks as the CPU's.
TEST_P(AneLora, TrainStepWithDropoutTracksTheCpuBackend) { expect_ane_tracks_cpu(0.2f); }

void AneLora::expect_ane_tracks_cpu(float dropout) {
  std::unique_ptr<Backend> cpu_backend = make_backend("cpu", {});
  const LoraRun cpu = train_lora(*cpu_backend, nullptr, dropout);
  const LoraRun ane = train_on_ane(dropout);
  // The first step's adapter gradients (same adapters on both): within the backward
  // kernels' fp16 tolerance of the largest.
  ASSERT_EQ(ane.first_grads.size(), cpu.first_grads.size());
  const double gmax = max_abs(cpu.first_grads);
  ASSERT_GT(gmax, 0.0);
  for (size_t i = 0; i < cpu.first_grads.size(); ++i)
    ASSERT_NEAR(ane.first_grads[i], cpu.first_grads[i], 2e-2 * gmax) << "adapter gradient " << i;
  for (int s = 0; s < kSteps; ++s)
    EXPECT_NEAR(ane.losses[s], cpu.losses[s], 2e-3 * cpu.losses[s]) << "step " << s;
  EXPECT_LT(ane.losses.back(), ane.losses.front()) << "the adapters learn";
}

// The adapters change every step; the programs never do: every compile happens in the first
// step (dynamic: one per program of the shape; static: one per program with weights per block
// plus the unweighted ones, the frozen base baked once) and none after.
TEST_P(AneLora, NoStepAfterTheFirstCompiles) {
  const LoraRun ane = train_on_ane();
  const RunConfig c = lora_config();
  const ParamLayout layout(c.model);
  std::vector<float> params(layout.total(), 0.01f);
  const LoraLayout lora(c.model, adapter_config());
  std::vector<float> adapter(c.model.hidden_dim * lora.config().rank * 2, 0.01f);
  const BlockWeights w = with_every_adapter(block_weights(layout, params.data()),
                                            {.a = adapter.data(), .b = adapter.data(), .r = 4});
  int64_t expected = 0;
  for (Kernel k : ane_program_kernels())
    for (const KernelProgram& part :
         build_kernel_plan(KernelDims::from(c.model, 1, c.model.seq_len), k, w,
                           {.variant = GetParam()})
             .parts)
      expected += GetParam() == "static" && part.reads_block_weights ? c.model.n_layers : 1;
  EXPECT_EQ(ane.compiles.front(), expected);
  for (int s = 1; s < kSteps; ++s) {
    EXPECT_EQ(ane.compiles[s], ane.compiles.front()) << "step " << s << " compiled";
    EXPECT_NE(ane.adapters[s], ane.adapters[s - 1]) << "step " << s << " left the adapters";
  }
}

INSTANTIATE_TEST_SUITE_P(Pipelines, AneLora, ::testing::Values("dynamic", "static"));

// The adapters' gradients run on a host thread after the weight-gradient work and beside the
// ANE kernels; their input-gradient shares on the spot. Repeated runs and recomputation (which
// rewrites the taps the previous block's host work reads) give bit-identical gradients, and a
// trained base (its weight gradients overlapped too) gives the same adapter gradients.
TEST(AneLora, OverlappedAdapterGradientsAreDeterministic) {
  init_thread_pool();
  RunConfig c = load_config("tiny");
  c.model.n_layers = 3;
  const ParamLayout layout(c.model);
  std::vector<float> params(layout.total());
  init_params(c.model, layout, 0.05f, 9, params.data());
  const LoraLayout lora(c.model, adapter_config());
  const std::vector<float> adapters = random_normal(6, lora.params().total(), 0.05);
  const std::vector<int32_t> tokens = pattern_tokens(129, 512, 5);
  const std::vector<int32_t> in(tokens.begin(), tokens.begin() + 128),
      tg(tokens.begin() + 1, tokens.end());
  std::vector<std::vector<float>> grads;
  for (auto [recompute, base] :
       {std::pair{false, false}, {true, false}, {false, false}, {false, true}, {true, true}}) {
    AneBackend ane(std::make_unique<FakeDriver>());
    Transformer model(c.model, ane, 2, 64, recompute);
    std::vector<float> g(layout.total()), ag(lora.params().total(), 7.0f);
    model.use_adapters(lora, adapters.data(), ag.data(), base);
    model.forward_backward(params.data(), in.data(), tg.data(), 1.0f, base ? g.data() : nullptr,
                           GradWrite::kOverwrite);
    grads.push_back(ag);
  }
  EXPECT_GT(max_abs(grads[0]), 0.0);
  for (size_t i = 1; i < grads.size(); ++i) EXPECT_TRUE(grads[i] == grads[0]) << "run " << i;
}

}  // namespace
}  // namespace anetrain::ane
