// The ANE backend's orchestration on Linux through the fake driver: the real packing,
// compile-once dynamic pipeline and dispatch code runs, the driver enforces the hardware rules,
// and training tracks the CPU backend within fp16 tolerance; loss scaling skips overflowing
// steps without touching the weights and recovers.
#include "backends/ane/ane_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/ane/mil/printer.h"
#include "backends/ane/programs/program_files.h"
#include "backends/ane/runtime/compile_cache.h"
#include "backends/ane/runtime/fake_driver.h"
#include "backends/ane/tiny_ane_run.h"
#include "core/error.h"
#include "core/parallel.h"
#include "io/safetensors.h"
#include "model/params.h"
#include "support/test_util.h"
#include "train/train_step.h"

namespace anetrain::ane {
namespace {
using namespace anetrain::testing;

class AneTracking : public ::testing::TestWithParam<std::string> {};

// A 3-layer tiny model trained 50 steps on the ANE backend (fake driver) follows the CPU
// backend's loss curve within fp16 tolerance, for both pipelines (the static one restarts
// through exec() along the way: 18 compiles a step against a budget of 100).
TEST_P(AneTracking, TinyTrainingTracksTheCpuBackend) {
  TempDir dir;
  write_shard(dir.file("d.bin"), pattern_tokens(30000, 512, 3));
  auto args = [&](const std::string& backend, const std::string& out) {
    return tiny_ane_run(dir.file("d.bin"), GetParam(), out, backend);
  };
  ASSERT_EQ(run_anetrain(args("cpu", dir.file("cpu"))).exit_code, 0);
  setenv("ANETRAIN_ANE_DRIVER", "fake", 1);
  setenv("ANETRAIN_ANE_CACHE", dir.file("cache").c_str(), 1);
  const CommandResult r = run_anetrain(args("ane", dir.file("ane")));
  unsetenv("ANETRAIN_ANE_DRIVER");
  unsetenv("ANETRAIN_ANE_CACHE");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("backend ane"), std::string::npos) << r.out;
  if (GetParam() == "static") EXPECT_NE(r.out.find("restarting (exec)"), std::string::npos);
  const auto cpu = metrics_losses(dir.file("cpu/metrics.jsonl")),
             ane = metrics_losses(dir.file("ane/metrics.jsonl"));
  ASSERT_EQ(cpu.size(), 50u);
  ASSERT_EQ(ane.size(), 50u);
  for (size_t i = 0; i < cpu.size(); ++i)
    EXPECT_NEAR(ane[i], cpu[i], 2e-3 * cpu[i]) << "step " << i + 1;
  EXPECT_LT(ane.back(), ane.front() - 0.3) << "the ANE run learns";
}

INSTANTIATE_TEST_SUITE_P(Pipelines, AneTracking, ::testing::Values("dynamic", "static"));

// The static pipeline recompiles every step; with a compile budget of 40 (tiny, proven form: 2
// blocks of 7 programs with weights, plus 3 without, compiled once: 17 the first step, 14 the
// next) the trainer checkpoints and exec()s itself every two steps, and must end with exactly
// the weights of an uninterrupted static run.
TEST(AneBackend, StaticPipelineRestartsThroughExecToTheSameWeights) {
  TempDir dir;
  write_shard(dir.file("d.bin"), pattern_tokens(30000, 512, 4));
  auto args = [&](const std::string& out, const std::string& budget) {
    return std::vector<std::string>{"train",
                                    "--config",
                                    "tiny",
                                    "--set",
                                    "batch_size=2",
                                    "--set",
                                    "loss_scale=1024",
                                    "--set",
                                    "ane_pipeline=static",
                                    "--set",
                                    "compile_budget=" + budget,
                                    "--data",
                                    dir.file("d.bin"),
                                    "--steps",
                                    "8",
                                    "--out",
                                    out,
                                    "--backend",
                                    "ane"};
  };
  setenv("ANETRAIN_ANE_DRIVER", "fake", 1);
  setenv("ANETRAIN_ANE_CACHE", dir.file("cache").c_str(), 1);
  const CommandResult restarted = run_anetrain(args(dir.file("restarted"), "40"));
  setenv("ANETRAIN_FAKE_COMPILE_BUDGET", "100000", 1);
  const CommandResult straight = run_anetrain(args(dir.file("straight"), "100000"));
  unsetenv("ANETRAIN_FAKE_COMPILE_BUDGET");
  unsetenv("ANETRAIN_ANE_DRIVER");
  unsetenv("ANETRAIN_ANE_CACHE");
  ASSERT_EQ(restarted.exit_code, 0) << restarted.err;
  ASSERT_EQ(straight.exit_code, 0) << straight.err;
  int restarts = 0;
  for (size_t at = 0; (at = restarted.out.find("restarting (exec)", at)) != std::string::npos; ++at)
    ++restarts;
  EXPECT_EQ(restarts, 3) << restarted.out;
  EXPECT_EQ(straight.out.find("restarting"), std::string::npos);
  // Every restarted image trains on as many threads as the first (exec inherits the CPU mask
  // of the thread that calls it, which the pool had pinned to one core).
  auto thread_counts = [](const std::string& out) {
    std::vector<std::string> counts;
    for (size_t at = 0; (at = out.find(" threads, steps ", at)) != std::string::npos; ++at)
      counts.push_back(out.substr(out.rfind(", ", at) + 2, at - out.rfind(", ", at) - 2));
    return counts;
  };
  const std::vector<std::string> straight_threads = thread_counts(straight.out);
  ASSERT_EQ(straight_threads.size(), 1u) << straight.out;
  EXPECT_EQ(thread_counts(restarted.out), std::vector<std::string>(4, straight_threads[0]))
      << restarted.out;
  const SafetensorsFile a = SafetensorsFile::open(dir.file("restarted/model.safetensors"));
  const SafetensorsFile b = SafetensorsFile::open(dir.file("straight/model.safetensors"));
  for (const std::string& name : a.names()) EXPECT_EQ(a.read_f32(name), b.read_f32(name)) << name;
  EXPECT_EQ(metrics_losses(dir.file("restarted/metrics.jsonl")).size(), 8u);
}

TEST(AneBackend, UnavailableWithoutADriverSaysWhy) {
  unsetenv("ANETRAIN_ANE_DRIVER");
  unsetenv("ANETRAIN_ANE_CACHE");
  try {
    make_ane_backend();
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("ANE backend unavailable: ", 0), 0u) << e.what();
  }
}

class FakeDriverRules : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelConfig c = load_config("tiny").model;
    ParamLayout layout(c);
    params_.assign(layout.total(), 0.01f);
    program_ = build_kernel_plan(KernelDims::from(c, 1, c.seq_len), Kernel::kQkvBackward,
                                 block_weights(layout, params_.data()), {.variant = "dynamic"})
                   .parts.at(0);
    text_ = mil::print_program(program_.program);
    weights_ = {{kWeightFile, serialize_weights(program_)}};
  }
  std::vector<float> params_;
  KernelProgram program_;
  std::string text_;
  std::map<std::string, std::string> weights_;
};

TEST_F(FakeDriverRules, RejectsMisSizedAndUnalignedSurfaces) {
  FakeDriver driver;
  const int64_t h = driver.compile_and_load(text_, weights_);
  Surface in{program_.surface_channels, program_.surface_columns,
             std::vector<uint16_t>(program_.surface_channels * program_.surface_columns, 0)};
  Surface out{program_.output_channels(), program_.seq,
              std::vector<uint16_t>(program_.output_channels() * program_.seq)};
  EXPECT_NO_THROW(driver.evaluate(h, {&in}, {&out}));
  Surface short_in = in;
  short_in.channels -= 1;
  short_in.fp16.resize(short_in.channels * short_in.width);
  try {
    driver.evaluate(h, {&short_in}, {&out});
    FAIL() << "a mis-sized surface was accepted";
  } catch (const DriverError& e) {
    EXPECT_EQ(e.code(), 0x1d);
  }
  EXPECT_THROW(driver.evaluate(h, {&in, &in}, {&out}), DriverError);
  Surface wrong_out = out;
  wrong_out.width = 48;  // 96-byte rows
  EXPECT_THROW(driver.evaluate(h, {&in}, {&wrong_out}), DriverError);
}

TEST_F(FakeDriverRules, CompileCacheIsKeyedByProgramWeightsAndOs) {
  TempDir cache;
  FakeDriver first({119, "m4-macos15", cache.path()});
  first.compile_and_load(text_, weights_);
  EXPECT_EQ(first.cache_hits(), 0);
  FakeDriver second({119, "m4-macos15", cache.path()});  // a later process
  second.compile_and_load(text_, weights_);
  EXPECT_EQ(second.cache_hits(), 1);
  auto other = weights_;
  other.begin()->second.back() ^= 1;  // different weights: a different program
  EXPECT_NE(compile_cache_key(text_, other), compile_cache_key(text_, weights_));
  EXPECT_NE(os_build(), "");
}

TEST_F(FakeDriverRules, EnforcesTheCompileBudget) {
  FakeDriver driver({/*compile_budget=*/3, "m4-macos15"});
  for (int i = 0; i < 3; ++i) EXPECT_NO_THROW(driver.compile_and_load(text_, weights_));
  EXPECT_THROW(driver.compile_and_load(text_, weights_), DriverError);
  EXPECT_EQ(driver.compiles(), 3);
}

TEST(AneBackend, CompilesEachProgramOnceAcrossSteps) {
  init_thread_pool();
  auto backend = std::make_unique<AneBackend>(std::make_unique<FakeDriver>());
  AneBackend& ane = *backend;
  RunConfig c = load_config("tiny");
  c.train.batch_size = 2;
  ParamLayout layout(c.model);
  std::vector<float> params(layout.total());
  init_params(c.model, layout, 0.02f, 1, params.data());
  Transformer model(c.model, ane, 2, 64, false);
  const std::unique_ptr<Optimizer> adam_owner = make_optimizer(c.train, layout);
  Optimizer& adam = *adam_owner;
  TrainStep step(model, c.train, layout);
  std::vector<int32_t> tokens = pattern_tokens(4096, 512, 2);
  int64_t at = 0;
  auto batch = [&](int32_t* in, int32_t* tg) {
    for (int i = 0; i < 128; ++i) in[i] = tokens[at + i], tg[i] = tokens[at + i + 1];
    at += 128;
  };
  for (int s = 0; s < 3; ++s) step.run(s, 3, params.data(), adam, batch);
  // One program per ANE kernel for the layer shape, compiled once; weights change every step
  // but travel in the input surface, so nothing recompiles.
  // (Proven form: a kernel is several programs.)
  int64_t programs = 0;
  for (Kernel k : ane_program_kernels())
    programs += static_cast<int64_t>(
        build_kernel_plan(KernelDims::from(c.model, 1, c.model.seq_len), k,
                          block_weights(layout, params.data()), {.variant = "dynamic"})
            .parts.size());
  EXPECT_GT(programs, static_cast<int64_t>(ane_program_kernels().size()));
  EXPECT_EQ(ane.driver().compiles(), programs);
}

TEST(LossScaling, OverflowSkipsTheStepKeepsWeightsAndRecovers) {
  init_thread_pool();
  RunConfig c = load_config("tiny");
  c.train.batch_size = 2;
  c.train.loss_scale = 1e30f;  // every gradient overflows at first
  c.train.dynamic_loss_scale = true;
  AneBackend ane(std::make_unique<FakeDriver>());
  ParamLayout layout(c.model);
  std::vector<float> params(layout.total());
  init_params(c.model, layout, 0.02f, 1, params.data());
  Transformer model(c.model, ane, 2, 64, false);
  const std::unique_ptr<Optimizer> adam_owner = make_optimizer(c.train, layout);
  Optimizer& adam = *adam_owner;
  TrainStep step(model, c.train, layout);
  std::vector<int32_t> tokens = pattern_tokens(20000, 512, 2);
  int64_t at = 0;
  auto batch = [&](int32_t* in, int32_t* tg) {
    for (int i = 0; i < 128; ++i) in[i] = tokens[at + i], tg[i] = tokens[at + i + 1];
    at = (at + 128) % 19000;
  };
  const std::vector<float> before = params;
  StepStats first = step.run(0, 200, params.data(), adam, batch);
  EXPECT_TRUE(first.skipped);
  EXPECT_TRUE(params == before) << "a skipped step must not touch the weights";
  EXPECT_FLOAT_EQ(step.loss_scale().scale, 5e29f);
  int skipped = 1, steps = 1;
  while (steps < 200 && step.run(steps, 200, params.data(), adam, batch).skipped)
    ++skipped, ++steps;
  EXPECT_LT(steps, 200) << "the scale never came down far enough";
  EXPECT_GT(skipped, 10);
  for (int s = 0; s < 20; ++s)
    EXPECT_FALSE(step.run(++steps, 400, params.data(), adam, batch).skipped);
  for (float p : params) ASSERT_TRUE(std::isfinite(p));
}

}  // namespace
}  // namespace anetrain::ane

namespace anetrain::ane {
namespace {

TEST(AneProbe, SaysWhyWhenUnavailableAndMeasuresThroughADriver) {
  unsetenv("ANETRAIN_ANE_DRIVER");
  unsetenv("ANETRAIN_ANE_CACHE");
  testing::CommandResult r = testing::run_anetrain({"probe", "--runs", "1"});
  if (r.exit_code == 1) {
    EXPECT_NE(r.out.find("ANE: unavailable: cannot load the framework"), std::string::npos)
        << r.out;
  } else {
    EXPECT_NE(r.out.find("ANE: available"), std::string::npos) << r.out;  // on a Mac
  }
  setenv("ANETRAIN_ANE_DRIVER", "fake", 1);
  r = testing::run_anetrain({"probe", "--runs", "1"});
  unsetenv("ANETRAIN_ANE_DRIVER");
  unsetenv("ANETRAIN_ANE_CACHE");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("not an ANE"), std::string::npos);
  EXPECT_NE(r.out.find("chain of 16 convs"), std::string::npos);
}

}  // namespace
}  // namespace anetrain::ane

namespace anetrain::ane {
namespace {

// Weight gradients run on a host thread beside the ANE kernels; the joins must make the
// result independent of timing: repeated runs, and recomputation (which rewrites the shared
// taps the previous block's gradient work reads), give bit-identical gradients.
TEST(AneBackend, OverlappedWeightGradientsAreDeterministic) {
  init_thread_pool();
  RunConfig c = load_config("tiny");
  c.model.n_layers = 3;
  ParamLayout layout(c.model);
  std::vector<float> params(layout.total());
  init_params(c.model, layout, 0.05f, 9, params.data());
  std::vector<int32_t> tokens = testing::pattern_tokens(129, 512, 5);
  std::vector<int32_t> in(tokens.begin(), tokens.begin() + 128),
      tg(tokens.begin() + 1, tokens.end());
  std::vector<std::vector<float>> grads;
  for (bool recompute : {false, true, false}) {
    AneBackend ane(std::make_unique<FakeDriver>());
    Transformer model(c.model, ane, 2, 64, recompute);
    std::vector<float> g(layout.total());
    model.forward_backward(params.data(), in.data(), tg.data(), 1.0f, g.data(),
                           GradWrite::kOverwrite);
    grads.push_back(g);
  }
  EXPECT_TRUE(grads[0] == grads[1]);
  EXPECT_TRUE(grads[0] == grads[2]);
}

}  // namespace
}  // namespace anetrain::ane
