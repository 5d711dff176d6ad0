// Models in and out as a user runs them: `train --init` fine-tunes from a trained model with a
// fresh optimizer and refuses a contradicting architecture; `eval` computes the loss the model
// really has on the data (checked against the CPU backend's logits); `info` and `convert`.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "model/config.h"
#include "support/test_util.h"
#include "train/checkpoint.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

// A trained tiny model (vocab 64) on a learnable stream, shared by the tests below.
class ModelIo : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    write_shard(dir_->file("d.bin"), pattern_tokens(20000, 64, 3));
    const CommandResult r = run_anetrain(
        {"train", "--config", "tiny", "--set", "vocab_size=64", "--data", dir_->file("d.bin"),
         "--steps", "60", "--out", dir_->file("base"), "--set", "lr=3e-3", "--set", "val_every=0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
};
TempDir* ModelIo::dir_ = nullptr;

TEST_F(ModelIo, InitFineTunesWithAFreshOptimizerAndStartsWhereTheModelIs) {
  const TempDir& d = *dir_;
  auto train = [&](const std::string& out, bool init) {
    std::vector<std::string> a = {"train", "--data", d.file("d.bin"), "--steps", "5",
                                  "--out", d.file(out), "--set", "val_every=0"};
    if (init) a.insert(a.end(), {"--init", d.file("base")});
    else a.insert(a.end(), {"--config", "tiny", "--set", "vocab_size=64"});
    return run_anetrain(a);
  };
  const CommandResult tuned = train("tuned", true), fresh = train("fresh", false);
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  const auto t = metrics_losses(d.file("tuned/metrics.jsonl"));
  const auto f = metrics_losses(d.file("fresh/metrics.jsonl"));
  ASSERT_EQ(t.size(), 5u);
  ASSERT_EQ(f.size(), 5u);
  // The pretrained model starts far below a random one and stays below it.
  EXPECT_LT(t.front(), f.front() - 1.0) << t.front() << " vs " << f.front();
  EXPECT_LT(t.back(), f.back());
  // A new run: step counting and the optimizer start afresh, the architecture is the model's.
  const TrainingState s = load_training_state(d.file("tuned"));
  EXPECT_EQ(s.step, 5);
  EXPECT_EQ(s.config.model.vocab_size, 64);
  const SafetensorsFile opt = SafetensorsFile::open(d.file("tuned/optimizer.safetensors"));
  const SafetensorsFile base_opt = SafetensorsFile::open(d.file("base/optimizer.safetensors"));
  EXPECT_NE(opt.read_f32("m.norm.weight"), base_opt.read_f32("m.norm.weight"));
}

// The same fine-tuning start on the ANE backend (fake driver): the first loss matches the CPU's.
TEST_F(ModelIo, InitWorksOnTheAneBackend) {
  const TempDir& d = *dir_;
  auto train = [&](const std::string& backend) {
    return run_anetrain({"train", "--init", d.file("base"), "--data", d.file("d.bin"), "--steps",
                         "2", "--out", d.file("ane-" + backend), "--set", "val_every=0",
                         "--backend", backend, "--set", "loss_scale=1024"});
  };
  setenv("ANETRAIN_ANE_DRIVER", "fake", 1);
  const CommandResult ane = train("ane");
  unsetenv("ANETRAIN_ANE_DRIVER");
  const CommandResult cpu = train("cpu");
  ASSERT_EQ(ane.exit_code, 0) << ane.err;
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  const auto a = metrics_losses(d.file("ane-ane/metrics.jsonl"));
  const auto c = metrics_losses(d.file("ane-cpu/metrics.jsonl"));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_NEAR(a[0], c[0], 2e-3 * c[0]);
}

TEST_F(ModelIo, InitRefusesAContradictingArchitectureButTakesTrainingKeys) {
  const TempDir& d = *dir_;
  auto train = [&](std::vector<std::string> extra, const std::string& out) {
    std::vector<std::string> a = {"train", "--init", d.file("base"), "--data", d.file("d.bin"),
                                  "--steps", "1", "--out", d.file(out), "--set", "val_every=0"};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_anetrain(a);
  };
  CommandResult r = train({"--config", "stories15M"}, "x1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--config stories15M sets dim = 288"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("has dim = 64"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = train({"--set", "n_kv_heads=4"}, "x2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("n_kv_heads = 4"), std::string::npos) << r.err;
  // Training keys and the window length are the run's own.
  r = train({"--set", "seq_len=32", "--set", "batch_size=2"}, "ok");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(load_training_state(d.file("ok")).config.model.seq_len, 32);
  r = run_anetrain({"train", "--data", d.file("d.bin"), "--steps", "1", "--out", d.file("x3")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--config is required unless --init"), std::string::npos) << r.err;
  r = run_anetrain({"train", "--init", d.file("nothing"), "--data", d.file("d.bin"), "--steps",
                    "1", "--out", d.file("x5")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("nothing' holds no checkpoint or model"), std::string::npos) << r.err;
}

TEST_F(ModelIo, EvalGivesTheLossTheModelHasOnTheData) {
  const TempDir& d = *dir_;
  const InferenceModel model = load_inference_model(d.file("base"));
  const int S = model.config.model.seq_len, V = model.config.model.vocab_size;
  // Exactly three windows of S + 1 tokens.
  const std::vector<int32_t> tokens = pattern_tokens(3 * S + 1, V, 9);
  write_shard(d.file("eval.bin"), tokens);
  double expected = 0;
  for (int w = 0; w < 3; ++w) {
    const std::vector<int32_t> in(tokens.begin() + w * S, tokens.begin() + (w + 1) * S);
    const std::vector<float> logits = cpu_logits(model.config.model, model.params, in);
    for (int s = 0; s < S; ++s) {
      const float* row = logits.data() + static_cast<size_t>(s) * V;
      double mx = row[0], sum = 0;
      for (int v = 0; v < V; ++v) mx = std::max<double>(mx, row[v]);
      for (int v = 0; v < V; ++v) sum += std::exp(row[v] - mx);
      expected += std::log(sum) + mx - row[tokens[w * S + s + 1]];
    }
  }
  expected /= 3.0 * S;
  CommandResult r = run_anetrain({"eval", "--checkpoint", d.file("base"), "--data",
                                  d.file("eval.bin"), "--json", "--batch", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["windows"], 3);
  EXPECT_EQ(j["tokens"], 3 * S);
  EXPECT_NEAR(j["loss"].get<double>(), expected, 1e-4 * expected);
  EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(expected), 1e-3 * std::exp(expected));
  EXPECT_TRUE(j["bits_per_byte"].is_null());  // token ids only: no bytes to count
  // A subset says so.
  r = run_anetrain({"eval", "--checkpoint", d.file("base"), "--data", d.file("d.bin"),
                    "--max-windows", "10"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("10 of "), std::string::npos) << r.out;
  r = run_anetrain({"eval", "--checkpoint", d.file("base"), "--data", d.file("none_*.bin")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// With the bytes tokenizer every predicted token is one byte: bits per byte = loss / ln 2.
TEST(ModelIoEval, BitsPerByteCountsTheTokenizersBytes) {
  TempDir d;
  {
    std::ofstream(d.file("t.txt")) << english_lines(300);
  }
  ASSERT_EQ(run_anetrain({"data", "prepare", "--tokenizer", "bytes", "--input", d.file("t.txt"),
                          "--out", d.file("ds")})
                .exit_code,
            0);
  CommandResult r = run_anetrain({"train", "--config", "tiny", "--set", "vocab_size=256",
                                  "--data", d.file("ds"), "--steps", "3", "--out", d.file("run"),
                                  "--set", "val_every=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_anetrain({"eval", "--checkpoint", d.file("run"), "--data", d.file("ds"), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_NE(j["data"].get<std::string>().find("val_"), std::string::npos);  // the val split
  EXPECT_NEAR(j["bits_per_byte"].get<double>(), j["loss"].get<double>() / std::log(2.0), 1e-9);
}

// Every format converts (f32), evaluates to the same loss as the original, and fine-tunes from there.
TEST_F(ModelIo, ConvertedModelsEvaluateAlikeAndFineTuneFromWhereTheyAre) {
  const TempDir& d = *dir_;
  auto eval_loss = [&](const std::string& path) {
    const CommandResult r = run_anetrain(
        {"eval", "--checkpoint", path, "--data", d.file("d.bin"), "--max-windows", "20", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out)["loss"].get<double>() : -1.0;
  };
  const double base = eval_loss(d.file("base"));
  const std::vector<std::pair<std::string, std::string>> formats = {
      {"llama2c", "m.bin"}, {"llama2c-v1", "m1.bin"}, {"hf", "m-hf"}, {"gguf", "m.gguf"}};
  for (const auto& [format, name] : formats) {
    CommandResult r =
        run_anetrain({"convert", d.file("base"), "--out", d.file(name), "--to", format});
    ASSERT_EQ(r.exit_code, 0) << format << ": " << r.err;
    r = run_anetrain({"info", d.file(name)});
    EXPECT_NE(r.out.find("format        " + format), std::string::npos) << r.out;
    EXPECT_EQ(eval_loss(d.file(name)), base) << format;
    // sample needs no state.json: the same greedy continuation as the run directory's.
    auto greedy = [&](const std::string& path) {
      return run_anetrain({"sample", "--checkpoint", path, "--prompt", "3 4 5", "--max-tokens",
                           "6", "--temperature", "0", "--ids"})
          .out;
    };
    EXPECT_EQ(greedy(d.file(name)), greedy(d.file("base"))) << format;
    r = run_anetrain({"train", "--init", d.file(name), "--data", d.file("d.bin"), "--steps", "3",
                      "--out", d.file("from-" + format), "--set", "val_every=0"});
    ASSERT_EQ(r.exit_code, 0) << format << ": " << r.err;
    const auto losses = metrics_losses(d.file("from-" + format + "/metrics.jsonl"));
    ASSERT_EQ(losses.size(), 3u);
    EXPECT_LT(losses.front(), base + 0.5) << format;  // a random start is near ln 64 = 4.2
  }
}

TEST_F(ModelIo, InfoAndConvertBetweenFormats) {
  const TempDir& d = *dir_;
  CommandResult r = run_anetrain({"info", d.file("base")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("anetrain checkpoint directory"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step          60"), std::string::npos) << r.out;
  const InferenceModel model = load_inference_model(d.file("base"));
  EXPECT_NE(r.out.find(std::to_string(model.params.size())), std::string::npos) << r.out;

  r = run_anetrain({"convert", d.file("base"), "--out", d.file("m.safetensors"), "--to",
                    "anetrain"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(load_inference_model(d.file("m.safetensors")).params, model.params);
  r = run_anetrain({"convert", d.file("base"), "--out", d.file("m.safetensors"), "--to",
                    "anetrain"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;
  r = run_anetrain({"convert", d.file("base"), "--out", d.file("z"), "--to", "zip"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("weight format 'zip' is unknown"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace anetrain
