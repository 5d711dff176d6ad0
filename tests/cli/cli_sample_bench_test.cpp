// `anetrain sample` and `anetrain bench` as a user runs them: sampling continues the prompt
// with in-vocabulary ids, reproducibly for a seed, and greedy sampling follows a pattern the
// model has learned; bench reports its figures as parseable JSON (no timing is asserted).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "model/lora.h"
#include "model/memory.h"
#include "model/params.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

std::vector<int> parse_ids(const std::string& text) {
  std::istringstream in(text);
  std::vector<int> ids;
  int id;
  while (in >> id) ids.push_back(id);
  return ids;
}

TEST(CliSample, ContinuesPromptReproduciblyAndLearnsACycle) {
  TempDir dir;
  // A cycle 0, 1, ..., 49, 0, 1, ...: after training, greedy decoding must continue it.
  std::vector<int32_t> tokens(30000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>(i % 50);
  write_shard(dir.file("cycle.bin"), tokens);
  auto r = run_anetrain({"train", "--config", "tiny", "--set", "vocab_size=64", "--data",
                         dir.file("cycle.bin"), "--steps", "150", "--out", dir.file("run"), "--set",
                         "lr=3e-3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = run_anetrain({"sample", "--checkpoint", dir.file("run"), "--prompt", "10 11 12",
                    "--max-tokens", "12", "--temperature", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<int> ids = parse_ids(r.out);
  ASSERT_EQ(ids.size(), 15u) << r.out;
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], static_cast<int>(10 + i)) << r.out;

  auto a = run_anetrain({"sample", "--checkpoint", dir.file("run"), "--max-tokens", "20",
                         "--temperature", "1.0", "--top-p", "0.95", "--seed", "3"});
  auto b = run_anetrain({"sample", "--checkpoint", dir.file("run"), "--max-tokens", "20",
                         "--temperature", "1.0", "--top-p", "0.95", "--seed", "3"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  for (int id : parse_ids(a.out)) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, 64);
  }
  auto bad = run_anetrain({"sample", "--checkpoint", dir.file("run"), "--prompt", "70"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("not an id in [0, 64)"), std::string::npos) << bad.err;

  // Backend keys may be set when sampling; the model's may not (they come from the checkpoint).
  auto shape = run_anetrain({"sample", "--checkpoint", dir.file("run"), "--set", "dim=32"});
  EXPECT_EQ(shape.exit_code, 1);
  EXPECT_NE(shape.err.find("--set dim: sampling takes only the backend keys"), std::string::npos)
      << shape.err;
  setenv("ANETRAIN_ANE_DRIVER", "fake", 1);
  auto on_ane = run_anetrain({"sample", "--checkpoint", dir.file("run"), "--prompt", "10 11 12",
                              "--max-tokens", "4", "--temperature", "0", "--backend", "ane",
                              "--set", "ane_pipeline=static", "--set", "compile_budget=200"});
  auto bad_pipeline = run_anetrain({"sample", "--checkpoint", dir.file("run"), "--backend", "ane",
                                    "--set", "ane_pipeline=sideways"});
  unsetenv("ANETRAIN_ANE_DRIVER");
  ASSERT_EQ(on_ane.exit_code, 0) << on_ane.err;
  EXPECT_EQ(parse_ids(on_ane.out).size(), 7u) << on_ane.out;
  EXPECT_EQ(bad_pipeline.exit_code, 1);
  EXPECT_NE(bad_pipeline.err.find("ane_pipeline 'sideways' is unknown"), std::string::npos)
      << bad_pipeline.err;
}

TEST(CliSample, SamplesABareWeightsFileAsItsCheckpoint) {
  TempDir dir;
  write_shard(dir.file("data.bin"), pattern_tokens(5000, 64, 1));
  auto r = run_anetrain({"train", "--config", "tiny", "--set", "vocab_size=64", "--data",
                         dir.file("data.bin"), "--steps", "3", "--out", dir.file("run")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // model.safetensors on its own (its metadata holds the config) samples as the directory does.
  std::filesystem::copy_file(dir.file("run/model.safetensors"), dir.file("alone.safetensors"));
  const std::vector<std::string> how = {"--prompt", "3 4", "--max-tokens", "10", "--seed", "5"};
  std::vector<std::string> from_dir = {"sample", "--checkpoint", dir.file("run")};
  std::vector<std::string> from_file = {"sample", "--checkpoint", dir.file("alone.safetensors")};
  from_dir.insert(from_dir.end(), how.begin(), how.end());
  from_file.insert(from_file.end(), how.begin(), how.end());
  const auto a = run_anetrain(from_dir), b = run_anetrain(from_file);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(parse_ids(a.out).size(), 12u) << a.out;
  EXPECT_EQ(a.out, b.out);
}

TEST(CliBench, ReportsFiguresAsJson) {
  auto r = run_anetrain({"bench", "--config", "tiny", "--steps", "2", "--warmup", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string last = r.out.substr(r.out.rfind('{'));
  auto j = nlohmann::json::parse(last);
  EXPECT_EQ(j["impl"], "anetrain");
  EXPECT_GT(j["ms_per_step"].get<double>(), 0.0);
  EXPECT_GT(j["gflops"].get<double>(), 0.0);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 1.0);
  EXPECT_EQ(j["seq"], 64);
  // tiny's formula is a few MB; the process itself (libraries, thread stacks) is more.
  EXPECT_GT(j["memory_formula_mb"].get<double>(), 0.5);
  EXPECT_LT(j["memory_formula_mb"].get<double>(), j["peak_rss_mb"].get<double>());
  EXPECT_FALSE(j.contains("measured_peak_gflops")) << "only measured when asked";
}

// --lora-rank times LoRA steps (bench/lora.py compares them with full fine-tuning): the JSON
// says so and counts the adapters as LoraLayout lays them out, and the memory formula is
// the LoRA one, its optimizer state the adapters' alone.
TEST(CliBench, TimesLoraStepsAndCountsTheAdapters) {
  auto r = run_anetrain({"bench", "--config", "tiny", "--lora-rank", "4", "--steps", "2", "--json"});
  auto full = run_anetrain({"bench", "--config", "tiny", "--steps", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_NE(r.out.find("LoRA: rank 4, alpha 16"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.rfind('{')));
  const auto f = nlohmann::json::parse(full.out.substr(full.out.rfind('{')));
  const RunConfig c = load_config("tiny");
  LoraConfig lora;
  lora.rank = 4;
  const LoraLayout layout(c.model, lora);
  EXPECT_EQ(j["mode"], "lora");
  EXPECT_EQ(j["lora_rank"], 4);
  EXPECT_EQ(j["lora_targets"], "wq,wk,wv,wo,w1,w2,w3");
  EXPECT_EQ(j["trained_params"].get<int64_t>(), layout.params().total());
  EXPECT_EQ(j["base_params"].get<int64_t>(), ParamLayout(c.model).total());
  EXPECT_GT(j["ms_per_step"].get<double>(), 0.0);
  EXPECT_GT(j["gflops"].get<double>(), 0.0);
  const TrainingMemory m = training_memory(c.model, j["batch"].get<int64_t>(),
                                           j["seq"].get<int64_t>(), false, 8.0, &lora);
  constexpr double kMB = 1024.0 * 1024.0;
  EXPECT_NEAR(j["memory_formula_mb"].get<double>(), m.total() / kMB, 1e-9);
  EXPECT_NEAR(j["memory_optimizer_mb"].get<double>(), 8.0 * layout.params().total() / kMB, 1e-9);
  EXPECT_EQ(f["mode"], "full");
  EXPECT_EQ(f["trained_params"].get<int64_t>(), ParamLayout(c.model).total());
  EXPECT_LT(j["memory_optimizer_mb"].get<double>(), f["memory_optimizer_mb"].get<double>());
  EXPECT_LT(j["memory_formula_mb"].get<double>(), f["memory_formula_mb"].get<double>());

  auto alone = run_anetrain({"bench", "--config", "tiny", "--lora-alpha", "8", "--steps", "1"});
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_NE(alone.err.find("anetrain bench: --lora-alpha needs --lora-rank"), std::string::npos)
      << alone.err;
  auto block = run_anetrain({"bench", "--config", "tiny", "--set", "n_layers=1", "--block",
                             "--lora-rank", "4", "--steps", "1"});
  EXPECT_EQ(block.exit_code, 1);
  EXPECT_NE(block.err.find("drop --block"), std::string::npos) << block.err;
  auto rank = run_anetrain({"bench", "--config", "tiny", "--lora-rank", "999", "--steps", "1"});
  EXPECT_EQ(rank.exit_code, 1);
  EXPECT_NE(rank.err.find("--lora-rank 999 is out of range"), std::string::npos) << rank.err;
}

TEST(CliBench, MeasuresThePeakWhenAsked) {
  auto r = run_anetrain(
      {"bench", "--config", "tiny", "--steps", "1", "--warmup", "0", "--measure-peak", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("peak measured now (fp32"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.rfind('{')));
  EXPECT_GT(j["measured_peak_gflops"].get<double>(), j["gflops"].get<double>());
  // The step's memory, not the bandwidth loop's two 256 MB arrays measured after it.
  EXPECT_LT(j["peak_rss_mb"].get<double>(), 256.0);
}

// The words of the first line of `text` that starts with `prefix` (empty if none).
std::vector<std::string> words_of_line(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  std::vector<std::string> words;
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(prefix, 0) == 0) {
      std::istringstream fields(line);
      for (std::string w; fields >> w;) words.push_back(w);
      break;
    }
  return words;
}

TEST(CliBench, ProfileSetsMemoryBoundWorkAgainstTheBandwidthAndTheStepAgainstItsBound) {
  auto r = run_anetrain({"bench", "--config", "tiny", "--steps", "4", "--warmup", "1", "--profile",
                         "--measure-peak"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // host AdamW | calls | ms/step | % | GFLOPS | GB/s: AdamW reads parameters, gradients, m and
  // v and writes parameters, m and v, 28 bytes per parameter.
  const std::vector<std::string> adamw = words_of_line(r.out, "host AdamW");
  ASSERT_EQ(adamw.size(), 7u) << r.out;
  const double ms = std::stod(adamw[3]), gbs = std::stod(adamw[6]);
  const double bytes = 28.0 * static_cast<double>(ParamLayout(load_config("tiny").model).total());
  ASSERT_GT(ms, 0.0) << r.out;
  EXPECT_NEAR(gbs, bytes / (ms / 1e3) / 1e9, 0.15 * gbs + 1.0) << r.out;
  // The weights' blocks of the clipping norm are summed as backward finishes them.
  EXPECT_FALSE(words_of_line(r.out, "host grad norm in backward").empty()) << r.out;
  // bound: the GEMMs alone A ms + the memory-bound host work at B GB/s C ms = D ms;
  double gemms = 0, bandwidth = 0, memory = 0, bound = 0;
  const size_t at = r.out.find("bound: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  ASSERT_EQ(std::sscanf(r.out.c_str() + at,
                        "bound: the GEMMs alone %lf ms + the memory-bound host work at %lf GB/s "
                        "%lf ms = %lf ms",
                        &gemms, &bandwidth, &memory, &bound),
            4)
      << r.out.substr(at);
  EXPECT_GT(gemms, 0.0);
  EXPECT_GT(memory, 0.0);
  EXPECT_NEAR(gemms + memory, bound, 0.011);
  EXPECT_NE(r.out.find("the memory bandwidth measured now: "), std::string::npos) << r.out;
}

TEST(CliBench, ProfileListsEveryGemmShapeWithItsSoloSpeed) {
  auto r =
      run_anetrain({"bench", "--config", "tiny", "--steps", "2", "--warmup", "1", "--profile"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("where the step goes"), std::string::npos) << r.out;
  const size_t table = r.out.find("GEMMs by shape");
  ASSERT_NE(table, std::string::npos) << r.out;
  // tiny: dim 64, hidden 192; the FFN's W1 and W3 products are NN [192, 64] x [64, T].
  EXPECT_NE(r.out.find("NN m192 ", table), std::string::npos) << r.out;
  // Every row ends with two GFLOPS figures, in the step and alone, then the library that ran
  // it. The figures' size is not asserted: tiny's products take microseconds, and under `ctest
  // -j` another test shares the cores.
  std::istringstream rows(r.out.substr(table));
  std::string line;
  std::getline(rows, line);  // header
  int shapes = 0;
  while (std::getline(rows, line) && line.rfind("(all", 0) != 0) {
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string w; fields >> w;) words.push_back(w);
    ASSERT_GE(words.size(), 7u) << line;
    EXPECT_GE(std::stod(words[words.size() - 3]), 0.0) << line;
    EXPECT_GE(std::stod(words[words.size() - 2]), 0.0) << line;
    EXPECT_TRUE(words.back() == "onednn-sgemm" || words.back() == "onednn-matmul" ||
                words.back() == "openblas" || words.back().find('+') != std::string::npos ||
                words.back() == "accelerate")
        << line;
    ++shapes;
  }
  EXPECT_GE(shapes, 5) << r.out;
}

}  // namespace
}  // namespace anetrain

namespace anetrain {
namespace {
using namespace anetrain::testing;

// Single-block timing is asked for by name (--block), not inferred from a preset name.
TEST(CliBench, BlockModeIsAFlagAndNeedsOneLayer) {
  auto r = run_anetrain({"bench", "--config", "tiny", "--set", "n_layers=1", "--block", "--steps",
                         "1", "--warmup", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("bench tiny (one block)"), std::string::npos) << r.out;
  auto full = run_anetrain({"bench", "--config", "tiny", "--steps", "1", "--warmup", "0"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_EQ(full.out.find("(one block)"), std::string::npos) << full.out;
  auto two = run_anetrain({"bench", "--config", "tiny", "--block", "--steps", "1"});
  EXPECT_EQ(two.exit_code, 1);
  EXPECT_NE(two.err.find("--set n_layers=1"), std::string::npos) << two.err;
}

// bench takes the backend's config keys as train does.
TEST(CliBench, BackendKeysReachTheBackend) {
  auto cpu = run_anetrain({"bench", "--config", "tiny", "--backend", "cpu", "--set",
                           "ane_pipeline=sideways", "--steps", "1", "--warmup", "0"});
  // Config values are checked when the config is read, whatever the backend.
  EXPECT_EQ(cpu.exit_code, 1) << cpu.err;
  EXPECT_NE(cpu.err.find("ane_pipeline 'sideways' is unknown"), std::string::npos) << cpu.err;
  setenv("ANETRAIN_ANE_DRIVER", "fake", 1);
  auto bad = run_anetrain({"bench", "--config", "tiny", "--backend", "ane", "--set",
                           "ane_pipeline=sideways", "--steps", "1"});
  auto small = run_anetrain({"bench", "--config", "tiny", "--backend", "ane", "--set",
                             "ane_pipeline=static", "--set", "compile_budget=5", "--steps", "1"});
  auto form = run_anetrain({"bench", "--config", "tiny", "--backend", "ane", "--set",
                            "ane_program_form=sideways", "--steps", "1"});
  unsetenv("ANETRAIN_ANE_DRIVER");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("ane_pipeline 'sideways' is unknown"), std::string::npos) << bad.err;
  EXPECT_EQ(form.exit_code, 1);
  EXPECT_NE(form.err.find("ane_program_form 'sideways' is unknown"), std::string::npos)
      << form.err;
  // tiny, proven form: 2 blocks of 7 programs with weights, plus 3 without.
  EXPECT_EQ(small.exit_code, 1);
  EXPECT_NE(small.err.find("compile_budget 5 is below the 17 compiles"), std::string::npos)
      << small.err;
}

}  // namespace
}  // namespace anetrain
