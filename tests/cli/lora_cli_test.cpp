// LoRA fine-tuning as a user runs it: `train --init MODEL --lora-rank R` over an imported model
// on a new corpus, adapter-only checkpoints that resume bit-exactly, `merge` into any format,
// `sample`/`eval` with adapters, and one-line errors for bad flags and a changed base.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "backends/backend.h"
#include "core/parallel.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "model/lora.h"
#include "support/test_util.h"
#include "train/checkpoint.h"
#include "train/transformer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;
namespace fs = std::filesystem;

constexpr int kVocab = 64;

// A tiny model trained on one token stream and imported as a llama2.c file (base.bin), and a
// new corpus (another stream) split into training and validation shards.
class LoraCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    const TempDir& d = *dir_;
    write_shard(d.file("old.bin"), pattern_tokens(20000, kVocab, 3));
    const std::vector<int32_t> fresh = pattern_tokens(24000, kVocab, 5);
    write_shard(d.file("new.bin"), {fresh.begin(), fresh.begin() + 20000});
    write_shard(d.file("new_val.bin"), {fresh.begin() + 20000, fresh.end()});
    CommandResult r = run_anetrain({"train", "--config", "tiny", "--set", "vocab_size=64", "--data",
                                    d.file("old.bin"), "--steps", "60", "--out", d.file("trained"),
                                    "--set", "lr=3e-3", "--set", "val_every=0"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    r = run_anetrain(
        {"convert", d.file("trained"), "--out", d.file("base.bin"), "--to", "llama2c"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() { delete dir_; }

  // `train --init base.bin --lora-rank 4` on the new corpus into `out`, plus `extra` flags.
  static CommandResult lora_train(const std::string& out, const std::string& steps,
                                  std::vector<std::string> extra = {}) {
    const TempDir& d = *dir_;
    std::vector<std::string> a = {"train",           "--init",      d.file("base.bin"),
                                  "--lora-rank",     "4",           "--data",
                                  d.file("new.bin"), "--val",       d.file("new_val.bin"),
                                  "--steps",         steps,         "--out",
                                  d.file(out),       "--set",       "lr=1e-2",
                                  "--set",           "val_every=0", "--set",
                                  "val_batches=8"};
    a.insert(a.end(), extra.begin(), extra.end());
    return run_anetrain(a);
  }
  static double eval_loss(std::vector<std::string> model) {
    std::vector<std::string> a = {"eval", "--data", dir_->file("new_val.bin"), "--json"};
    a.insert(a.end(), model.begin(), model.end());
    const CommandResult r = run_anetrain(a);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out).at("loss").get<double>();
  }
  static TempDir* dir_;
};
TempDir* LoraCli::dir_ = nullptr;

TEST_F(LoraCli, AdaptersLowerAnImportedModelsValidationLossOnANewCorpusAndLeaveItUntouched) {
  const TempDir& d = *dir_;
  const std::string base_sha = sha256_file_hex(d.file("base.bin"));
  const double before = eval_loss({"--checkpoint", d.file("base.bin")});
  const CommandResult r = lora_train("tuned", "80", {"--lora-targets", "wq,wv,w2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("LoRA: rank 4, alpha 16"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("% of the base's"), std::string::npos) << r.out;

  // The run directory is the adapters and their optimizer state, and names the base.
  EXPECT_TRUE(fs::exists(d.file("tuned/adapters.safetensors")));
  EXPECT_FALSE(fs::exists(d.file("tuned/model.safetensors")));
  const TrainingState s = load_training_state(d.file("tuned"));
  ASSERT_TRUE(s.lora.has_value());
  EXPECT_EQ(s.lora->config.rank, 4);
  EXPECT_EQ(s.lora->config.targets, (std::vector<std::string>{"wq", "wv", "w2"}));
  EXPECT_EQ(s.lora->base_path, d.file("base.bin"));
  const SafetensorsFile adapters = SafetensorsFile::open(d.file("tuned/adapters.safetensors"));
  const LoraLayout layout(s.config.model, s.lora->config);
  EXPECT_EQ(adapters.names().size(), layout.params().tensors().size());
  EXPECT_TRUE(adapters.has("layers.1.feed_forward.w2.lora_B"));
  const SafetensorsFile optimizer = SafetensorsFile::open(d.file("tuned/optimizer.safetensors"));
  EXPECT_TRUE(optimizer.has("m.layers.0.attention.wq.lora_A"));
  EXPECT_FALSE(optimizer.has("m.norm.weight"));  // no state for the frozen base

  // Validation on the new corpus: the adapted model beats the base it started from.
  const double after = eval_loss({"--checkpoint", d.file("tuned")});
  EXPECT_LT(after, before - 0.1) << "base " << before << ", with adapters " << after;
  EXPECT_EQ(sha256_file_hex(d.file("base.bin")), base_sha);

  const CommandResult info = run_anetrain({"info", d.file("tuned")});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("adapters rank 4, alpha 16, on wq,wv,w2"), std::string::npos) << info.out;
}

// 3 steps, then --resume to 6, writes the same bytes as 6 straight steps (dropout included:
// its masks are a function of the seed, step and micro-batch).
TEST_F(LoraCli, ResumeIsBitExact) {
  const TempDir& d = *dir_;
  const std::vector<std::string> flags = {"--lora-dropout", "0.1", "--set", "grad_accum=2"};
  ASSERT_EQ(lora_train("straight", "6", flags).exit_code, 0);
  const CommandResult first = lora_train("split", "3", flags);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::vector<std::string> resume = flags;
  resume.push_back("--resume");
  const CommandResult second = lora_train("split", "6", resume);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  for (const char* f : {"adapters.safetensors", "optimizer.safetensors"})
    EXPECT_EQ(read_bytes(d.file(std::string("straight/") + f)),
              read_bytes(d.file(std::string("split/") + f)))
        << f;
  // Resuming with other LoRA flags is refused; without them the checkpoint's are used.
  const CommandResult other =
      lora_train("split", "8", {"--lora-dropout", "0.2", "--set", "grad_accum=2", "--resume"});
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.err.find("--lora-* flags differ"), std::string::npos) << other.err;
}

// merge writes the base with the adapters folded in, in any format; its logits equal the
// Transformer's with the adapters beside the frozen base, and eval agrees three ways.
TEST_F(LoraCli, MergedWeightsGiveTheLogitsOfBasePlusAdapters) {
  const TempDir& d = *dir_;
  ASSERT_EQ(lora_train("merge-src", "10").exit_code, 0);
  for (const std::string& to : {"llama2c", "anetrain", "hf"}) {
    const std::string out = d.file("merged-" + to);
    const CommandResult m = run_anetrain({"merge", "--base", d.file("base.bin"), "--adapters",
                                          d.file("merge-src"), "--out", out, "--to", to});
    ASSERT_EQ(m.exit_code, 0) << m.err;
    const InferenceModel merged = load_inference_model(out);
    const InferenceModel base = load_inference_model(d.file("base.bin"));
    const TrainingState s = load_training_state(d.file("merge-src"));
    const LoraLayout layout(base.config.model, s.lora->config);
    std::vector<float> adapters(layout.params().total());
    read_adapters(d.file("merge-src/adapters.safetensors"), layout.params(), adapters.data());

    init_thread_pool();
    const std::unique_ptr<Backend> cpu = make_backend("cpu", {});
    const std::vector<int32_t> tokens = pattern_tokens(base.config.model.seq_len, kVocab, 9);
    Transformer model(base.config.model, *cpu, 1, base.config.model.seq_len, false, false);
    model.use_adapters(layout, adapters.data(), nullptr, false);
    model.forward(base.params.data(), tokens.data(), nullptr);
    const std::vector<float> want = cpu_logits(merged.config.model, merged.params, tokens);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::abs(model.logits()[i] - want[i])));
      scale = std::max(scale, static_cast<double>(std::abs(want[i])));
    }
    EXPECT_LT(worst, 1e-5 * scale) << to;
    EXPECT_NE(base.params, merged.params) << to;  // the adapters moved something
  }
  const double run_dir = eval_loss({"--checkpoint", d.file("merge-src")});
  EXPECT_EQ(eval_loss({"--checkpoint", d.file("base.bin"), "--adapters", d.file("merge-src")}),
            run_dir);
  EXPECT_NEAR(eval_loss({"--checkpoint", d.file("merged-llama2c")}), run_dir, 1e-6);
  const CommandResult sample =
      run_anetrain({"sample", "--checkpoint", d.file("base.bin"), "--adapters", d.file("merge-src"),
                    "--temperature", "0", "--max-tokens", "8"});
  ASSERT_EQ(sample.exit_code, 0) << sample.err;
  const CommandResult merged = run_anetrain({"sample", "--checkpoint", d.file("merged-llama2c"),
                                             "--temperature", "0", "--max-tokens", "8"});
  EXPECT_EQ(sample.out, merged.out);
}

TEST_F(LoraCli, BadFlagsAreOneLineErrors) {
  const TempDir& d = *dir_;
  auto err_of = [&](std::vector<std::string> args) {
    const CommandResult r = run_anetrain(args);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    return r.err;
  };
  auto lora = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {"train",  "--init",          d.file("base.bin"),
                                  "--data", d.file("new.bin"), "--steps",
                                  "1",      "--out",           d.file("bad")};
    a.insert(a.end(), extra.begin(), extra.end());
    return err_of(a);
  };
  EXPECT_NE(lora({"--lora-alpha", "8"}).find("--lora-alpha needs --lora-rank"), std::string::npos);
  EXPECT_NE(lora({"--lora-rank", "0"}).find("--lora-rank must be a positive"), std::string::npos);
  EXPECT_NE(lora({"--lora-rank", "33"}).find("--lora-rank 33 is out of range: use 1 to 32"),
            std::string::npos);
  EXPECT_NE(lora({"--lora-rank", "4", "--lora-targets", "wq,wx"}).find("'wx' is not a weight"),
            std::string::npos);
  EXPECT_NE(lora({"--lora-rank", "4", "--lora-dropout", "1"}).find("--lora-dropout must be in"),
            std::string::npos);
  EXPECT_NE(lora({"--lora-rank", "4", "--lora-alpha", "-1"}).find("--lora-alpha must be"),
            std::string::npos);
  EXPECT_NE(err_of({"train", "--config", "tiny", "--set", "vocab_size=64", "--data",
                    d.file("new.bin"), "--steps", "1", "--out", d.file("bad"), "--lora-rank", "4"})
                .find("give it with --init PATH"),
            std::string::npos);
  EXPECT_NE(err_of({"merge", "--base", d.file("base.bin"), "--adapters", d.file("trained"), "--out",
                    d.file("m")})
                .find("holds no LoRA adapters"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(d.file("bad/state.json")));
}

// Adapters trained on one base are refused over another: resume, merge, eval, sample.
TEST_F(LoraCli, AChangedBaseIsRefusedEverywhere) {
  const TempDir& d = *dir_;
  ASSERT_EQ(
      run_anetrain({"convert", d.file("trained"), "--out", d.file("base2.bin"), "--to", "llama2c"})
          .exit_code,
      0);
  const std::vector<std::string> init = {"train",      "--init", d.file("base2.bin"), "--lora-rank",
                                         "4",          "--data", d.file("new.bin"),   "--steps",
                                         "2",          "--out",  d.file("moved"),     "--set",
                                         "val_every=0"};
  ASSERT_EQ(run_anetrain(init).exit_code, 0);
  // Another model at the base's path: a model trained a few steps further.
  ASSERT_EQ(run_anetrain({"train", "--init", d.file("trained"), "--data", d.file("old.bin"),
                          "--steps", "2", "--out", d.file("other"), "--set", "val_every=0"})
                .exit_code,
            0);
  fs::remove(d.file("base2.bin"));
  ASSERT_EQ(
      run_anetrain({"convert", d.file("other"), "--out", d.file("base2.bin"), "--to", "llama2c"})
          .exit_code,
      0);
  const std::string refusal = "is not the base model the LoRA adapters in";
  std::vector<std::string> resume = init;
  resume[8] = "4";
  resume.push_back("--resume");
  for (const std::vector<std::string>& args :
       {resume,
        std::vector<std::string>{"merge", "--base", d.file("base2.bin"), "--adapters",
                                 d.file("moved"), "--out", d.file("m2")},
        std::vector<std::string>{"eval", "--checkpoint", d.file("moved"), "--data",
                                 d.file("new_val.bin")},
        std::vector<std::string>{"sample", "--checkpoint", d.file("base2.bin"), "--adapters",
                                 d.file("moved")}}) {
    const CommandResult r = run_anetrain(args);
    EXPECT_NE(r.exit_code, 0) << args[0];
    EXPECT_NE(r.err.find(refusal), std::string::npos) << args[0] << ": " << r.err;
  }
  // The original base, wherever it now is, is accepted: --init relocates it on resume.
  std::vector<std::string> relocated = resume;
  relocated[2] = d.file("base.bin");  // the same weights as the first base2.bin
  const CommandResult ok = run_anetrain(relocated);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

}  // namespace
}  // namespace anetrain
