// The optional backend hooks the trainer calls instead of asking which backend it has:
// prepare_run refuses what a backend cannot run under its options, restart_reason says when
// the process must restart. The CPU backend keeps the defaults; the ANE backend's static
// pipeline uses both for its per-process compile budget.
#include <gtest/gtest.h>

#include "backends/ane/ane_backend.h"
#include "backends/ane/runtime/fake_driver.h"
#include "core/error.h"
#include "core/parallel.h"
#include "model/params.h"
#include "support/test_util.h"
#include "train/optimizer.h"
#include "train/train_step.h"
#include "train/transformer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

TEST(BackendHooks, CpuRunsAnyModelWithoutRestarts) {
  auto cpu = make_backend("cpu", {.ane_pipeline = "static", .compile_budget = 1});
  RunConfig c = load_config("stories110M");
  EXPECT_NO_THROW(cpu->prepare_run(c.model));
  EXPECT_EQ(cpu->restart_reason(), "");
}

TEST(BackendHooks, AneStaticPipelineRefusesATooSmallBudgetAndRestartsBeforeCrossingIt) {
  init_thread_pool();
  RunConfig c = load_config("tiny");  // 2 blocks: 12 compiles per static-pipeline step
  c.train.batch_size = 1;
  auto make = [](const std::string& pipeline, int budget) {
    return ane::AneBackend(std::make_unique<ane::FakeDriver>(),
                           {.ane_pipeline = pipeline, .compile_budget = budget});
  };
  EXPECT_THROW(make("static", 11).prepare_run(c.model), UserError);
  EXPECT_NO_THROW(make("dynamic", 11).prepare_run(c.model));

  for (const std::string pipeline : {"static", "dynamic"}) {
    ane::AneBackend ane = make(pipeline, 20);
    ane.prepare_run(c.model);
    EXPECT_EQ(ane.restart_reason(), "") << pipeline;  // nothing compiled yet
    ParamLayout layout(c.model);
    std::vector<float> params(layout.total());
    init_params(c.model, layout, 0.02f, 1, params.data());
    Transformer model(c.model, ane, 1, 64, false);
    const std::unique_ptr<Optimizer> optimizer = make_optimizer(c.train, layout);
    TrainStep step(model, c.train, layout);
    const std::vector<int32_t> tokens = pattern_tokens(65, 512, 3);
    step.run(0, 2, params.data(), *optimizer, [&](int32_t* in, int32_t* tg) {
      for (int i = 0; i < 64; ++i) in[i] = tokens[i], tg[i] = tokens[i + 1];
    });
    // A static step compiles up to 12 programs (fewer when two blocks' programs are the same
    // text, as the weightless sdpa_backward2's are): a second step could cross 20. The
    // dynamic pipeline compiled its six programs once and never needs a restart.
    if (pipeline == "static") {
      const int64_t used = ane.driver().compiles();
      EXPECT_GT(used + 12, 20);
      EXPECT_EQ(ane.restart_reason(),
                "compile budget: " + std::to_string(used) + " of 20 compiles used");
    } else {
      EXPECT_EQ(ane.restart_reason(), "");
    }
  }
}

}  // namespace
}  // namespace anetrain
