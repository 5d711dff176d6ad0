// Checkpoints in-process (train/checkpoint.h): the file names in one place, every optimizer's
// state saved and restored by name, and the models sample/eval load from a checkpoint
// directory, a bare weights file, or a directory holding only the weights.
#include "train/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <tuple>

#include "io/safetensors.h"
#include "model/weights.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;
namespace fs = std::filesystem;

struct Saved {
  RunConfig config;
  std::vector<float> params;
  std::unique_ptr<Optimizer> optimizer;
};

// A checkpoint in dir of a small model, its optimizer state filled with distinct values.
Saved save_small(const std::string& dir, const std::string& optimizer_name) {
  Saved saved{load_config("tiny"), {}, nullptr};
  saved.config.model.n_layers = 1;
  saved.config.model.vocab_size = 40;
  saved.config.train.optimizer = optimizer_name;
  const ParamLayout layout(saved.config.model);
  saved.params = random_normal(1, layout.total(), 0.02);
  saved.optimizer = make_optimizer(saved.config.train, layout);
  uint64_t seed = 2;
  for (OptimizerState& s : saved.optimizer->state()) {
    const std::vector<float> values = random_normal(seed++, layout.total(), 1.0);
    s.values.assign(values.begin(), values.end());
  }
  TrainingState state;
  state.config = saved.config;
  state.step = 5;
  state.total_steps = 10;
  save_checkpoint(dir, state, layout, saved.params.data(), *saved.optimizer);
  return saved;
}

// state.json values that used to be accepted (issue 17, item 9) or to escape as another
// exception: each a one-line UserError naming the file and the key.
TEST(Checkpoint, StateFileValuesAreChecked) {
  TempDir d;
  save_small(d.path(), "adamw");
  const std::string path = CheckpointPaths(d.path()).state();
  const nlohmann::json good = nlohmann::json::parse(read_bytes(path));
  const std::vector<std::tuple<std::string, nlohmann::json, std::string>> cases = {
      {"step", -5, "step is -5, not an integer in [0, 10]"},
      {"step", 12.5, "step is 12.5, not an integer"},
      {"step", 11, "step is 11, not an integer in [0, 10]"},
      {"total_steps", 9223372036854775807LL, "total_steps is 9223372036854775807"},
      {"total_steps", 18446744073709551615ULL, "total_steps is 18446744073709551615"},
      {"seed", "123456789abcdef012345", "malformed seed '123456789abcdef012345'"},
      {"seed", "xyz", "malformed seed 'xyz'"},
  };
  for (const auto& [key, value, expected] : cases) {
    nlohmann::json bad = good;
    bad[key] = value;
    std::ofstream(path, std::ios::trunc) << bad.dump();
    const std::string error = user_error_of([&] { load_training_state(d.path()); });
    EXPECT_NE(error.find(expected), std::string::npos) << key << ": " << error;
  }
  nlohmann::json bad = good;
  bad["loss_scale"]["scale"] = -1;
  std::ofstream(path, std::ios::trunc) << bad.dump();
  EXPECT_NE(user_error_of([&] { load_training_state(d.path()); }).find("loss_scale.scale"),
            std::string::npos);
}

// No checkpoint is ever written holding inf or nan: nothing could resume from it.
TEST(Checkpoint, NonFiniteValuesAreNeverSaved) {
  TempDir d;
  Saved saved = save_small(d.path(), "adamw");
  const std::string before = read_bytes(CheckpointPaths(d.path()).model());
  const ParamLayout layout(saved.config.model);
  TrainingState state;
  state.config = saved.config;
  state.step = 6;
  state.total_steps = 10;
  saved.params[7] = std::nanf("");
  EXPECT_NE(user_error_of([&] {
              save_checkpoint(d.path(), state, layout, saved.params.data(), *saved.optimizer);
            }).find("weight tok_embeddings.weight holds inf or nan"),
            std::string::npos);
  saved.params[7] = 0;
  saved.optimizer->state("v")[layout.total() - 1] = INFINITY;
  EXPECT_NE(user_error_of([&] {
              save_checkpoint(d.path(), state, layout, saved.params.data(), *saved.optimizer);
            }).find("optimizer state v."),
            std::string::npos);
  EXPECT_EQ(read_bytes(CheckpointPaths(d.path()).model()), before);
  EXPECT_EQ(load_training_state(d.path()).step, 5);
}

TEST(CheckpointPaths, NamesTheFilesOfADirectory) {
  const CheckpointPaths paths("runs/r1");
  EXPECT_EQ(paths.model(), "runs/r1/model.safetensors");
  EXPECT_EQ(paths.optimizer(), "runs/r1/optimizer.safetensors");
  EXPECT_EQ(paths.state(), "runs/r1/state.json");
  EXPECT_EQ(paths.tokenizer_dir(), "runs/r1");
}

TEST(Checkpoint, EveryOptimizersStateRoundTripsByName) {
  for (const OptimizerKind& kind : optimizer_kinds()) {
    TempDir dir;
    const Saved saved = save_small(dir.path(), kind.name);
    const CheckpointPaths paths(dir.path());
    // "<state>.<parameter>" for every state tensor and parameter, nothing else.
    const SafetensorsFile file = SafetensorsFile::open(paths.optimizer());
    const ParamLayout& layout = saved.optimizer->layout();
    EXPECT_EQ(file.names().size(), layout.tensors().size() * saved.optimizer->state().size());
    for (const OptimizerState& s : saved.optimizer->state())
      EXPECT_TRUE(file.has(s.name + ".norm.weight")) << kind.name << " " << s.name;
    EXPECT_EQ(file.metadata().at("step"), "5");

    std::vector<float> params(layout.total());
    const std::unique_ptr<Optimizer> restored = make_optimizer(saved.config.train, layout);
    load_checkpoint(dir.path(), layout, params.data(), *restored);
    EXPECT_EQ(params, saved.params) << kind.name;
    for (const OptimizerState& s : saved.optimizer->state())
      EXPECT_EQ(restored->state(s.name), s.values) << kind.name << " " << s.name;
  }
}

TEST(Checkpoint, AnotherOptimizersStateIsRefusedByName) {
  TempDir dir;
  const Saved saved = save_small(dir.path(), "lion");
  TrainConfig adamw = saved.config.train;
  adamw.optimizer = "adamw";
  const ParamLayout& layout = saved.optimizer->layout();
  std::vector<float> params(layout.total());
  const std::unique_ptr<Optimizer> other = make_optimizer(adamw, layout);
  const std::string error =
      user_error_of([&] { load_checkpoint(dir.path(), layout, params.data(), *other); });
  EXPECT_NE(error.find("optimizer.safetensors' has no tensor 'v.tok_embeddings.weight'"),
            std::string::npos)
      << error;
}

TEST(InferenceModel, LoadsADirectoryABareFileOrADirectoryOfWeights) {
  TempDir dir;
  const std::string run = dir.file("run");
  const Saved saved = save_small(run, "adamw");
  const InferenceModel from_dir = load_inference_model(run);
  EXPECT_EQ(from_dir.params, saved.params);
  EXPECT_EQ(config_to_json(from_dir.config), config_to_json(saved.config));

  // The weights file alone, elsewhere: its metadata holds the config.
  fs::create_directories(dir.file("elsewhere"));
  fs::copy_file(CheckpointPaths(run).model(), dir.file("elsewhere/weights.safetensors"));
  const InferenceModel bare = load_inference_model(dir.file("elsewhere/weights.safetensors"));
  EXPECT_EQ(bare.params, saved.params);
  EXPECT_EQ(config_to_json(bare.config), config_to_json(saved.config));
  EXPECT_TRUE(bare.tokenizer_spec.empty());

  // A directory holding model.safetensors without state.json.
  fs::create_directories(dir.file("weights_only"));
  fs::copy_file(CheckpointPaths(run).model(), CheckpointPaths(dir.file("weights_only")).model());
  EXPECT_EQ(load_inference_model(dir.file("weights_only")).params, saved.params);
}

TEST(InferenceModel, SaysWhatIsMissing) {
  TempDir dir;
  auto error_of = [](const std::string& path) {
    return user_error_of([&] { load_inference_model(path); });
  };
  EXPECT_NE(error_of(dir.file("none")).find("none' holds no checkpoint or model"),
            std::string::npos);
  EXPECT_NE(error_of(dir.path()).find("holds no checkpoint (no state.json) and no model"),
            std::string::npos)
      << error_of(dir.path());
  // Meta's names without the config in the metadata: nothing says what model it is.
  ModelConfig mc;
  mc.n_layers = 1;
  const ParamLayout layout(mc);
  const std::vector<float> params(layout.total(), 0.5f);
  write_weights(WeightFormat::kAnetrain, dir.file("w.safetensors"), layout, params.data(), {});
  EXPECT_NE(error_of(dir.file("w.safetensors"))
                .find("w.safetensors' records no model config (anetrain weights without a "
                      "'config' metadata entry)"),
            std::string::npos)
      << error_of(dir.file("w.safetensors"));
}

}  // namespace
}  // namespace anetrain
