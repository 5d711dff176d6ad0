// Bad input through the CLI: each case exits nonzero with one line on stderr that names the
// problem, and never crashes (a crash would show as exit code >= 128).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

class CliErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("ok.bin");
    write_shard(data_, pattern_tokens(5000, 512, 1));
  }
  // Runs and checks: exit code 1, one line of stderr containing `expected`.
  void expect_error(const std::vector<std::string>& args, const std::string& expected) {
    CommandResult r = run_anetrain(args);
    EXPECT_EQ(r.exit_code, 1) << "stderr: " << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  }
  std::vector<std::string> train(std::vector<std::string> extra) {
    std::vector<std::string> args = {"train", "--config", "tiny",          "--steps",
                                     "2",     "--out",    dir_.file("out")};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  TempDir dir_;
  std::string data_;
};

TEST_F(CliErrors, UnknownCommandAndFlags) {
  expect_error({"trian"}, "unknown command 'trian'");
  expect_error(train({"--data", data_, "--stpes", "3"}), "unknown flag '--stpes'");
  expect_error(train({"--data"}), "--data needs a value");
  expect_error({"train", "--config", "tiny", "--data", data_, "--out", dir_.file("o")},
               "--steps is required");
  expect_error(train({}), "--data is required");
}

TEST_F(CliErrors, BadValues) {
  expect_error({"train", "--config", "tiny", "--data", data_, "--steps", "ten", "--out", "x"},
               "--steps expects an integer");
  expect_error(train({"--data", data_, "--set", "dim=abc"}), "config key 'dim'");
  expect_error(train({"--data", data_, "--set", "dimm=3"}), "unknown config key 'dimm'");
  expect_error(train({"--data", data_, "--set", "n_kv_heads=3"}), "n_kv_heads (3) must divide");
  expect_error(train({"--data", data_, "--set", "nokey"}), "expected key=value");
  expect_error(train({"--data", data_, "--set", "optimizer=sgd"}),
               "optimizer 'sgd' is unknown: use one of adamw, lion");
  expect_error({"train", "--config", "huge", "--data", data_, "--steps", "1", "--out", "x"},
               "unknown preset 'huge'");
  expect_error({"sample", "--checkpoint", dir_.file("none")}, "holds no checkpoint");
  // Control characters in what a message quotes are escaped: still one line (found by
  // config_fuzz with a key holding a newline, in a JSON config file).
  expect_error(train({"--data", data_, "--set", "decay\nx=1"}), "unknown config key 'decay\\nx'");
  expect_error(train({"--data", data_, "--set", "dim=1\t2\x01"}), "'1\\t2\\x01' is not a valid");
  std::ofstream(dir_.file("bad.json")) << "{\"preset\": \"tiny\", \"lr\\r\": 1}";
  expect_error({"train", "--config", dir_.file("bad.json"), "--data", data_, "--steps", "1",
                "--out", dir_.file("o")},
               "unknown config key 'lr\\r'");
}

// Inputs that used to abort or sample garbage (issue 17): one line, exit 1.
TEST_F(CliErrors, OutIsAFileAndNonFiniteSamplingSettings) {
  {
    std::ofstream(dir_.file("a-file")) << "x";
  }
  expect_error({"train", "--config", "tiny", "--steps", "1", "--data", data_, "--out",
                dir_.file("a-file")},
               "is a file, not a run directory");
  expect_error({"train", "--config", "tiny", "--steps", "1", "--data", data_, "--out",
                dir_.file("a-file") + "/run"},
               "cannot create the run directory");
  expect_error({"ane", "emit", "--config", "tiny", "--out", dir_.file("a-file") + "/programs"},
               "cannot create directory");
  ASSERT_EQ(run_anetrain(train({"--data", data_, "--set", "val_every=0"})).exit_code, 0);
  expect_error({"sample", "--checkpoint", dir_.file("out"), "--top-p", "nan"},
               "--top-p must be in (0, 1]");
  expect_error({"sample", "--checkpoint", dir_.file("out"), "--temperature", "nan"},
               "--temperature must be a number >= 0");
}

// Training keys are checked for range and choice when the config is read (issue 17, item 11).
TEST_F(CliErrors, TrainingKeysOutsideTheirRange) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"beta1=2", "config key 'beta1' = 2 is outside [0, 1)"},
      {"beta2=-1", "config key 'beta2' = -1 is outside [0, 1)"},
      {"weight_decay=-5", "'weight_decay' = -5 is outside"},
      {"min_lr_frac=nan", "'min_lr_frac' = nan is outside [0, 1]"},
      {"warmup_steps=-1", "'warmup_steps' = -1"},
      {"decay_steps=-1", "'decay_steps' = -1"},
      {"val_every=-1", "'val_every' = -1"},
      {"save_every=-2", "'save_every' = -2"},
      {"loss_scale=0", "'loss_scale' = 0 is outside"},
      {"lr=nan", "'lr' = nan is outside"},
      {"compile_budget=-1", "'compile_budget' = -1"},
      {"ane_pipeline=bogus", "ane_pipeline 'bogus' is unknown: use dynamic or static"},
      {"sampling=shuffled", "sampling 'shuffled' is unknown: use random or epochs"},
      {"max_bad_steps=0", "'max_bad_steps' = 0 is outside [1, 2^31)"},
  };
  for (const auto& [set, expected] : cases)
    expect_error(train({"--data", data_, "--set", set}), expected);
  expect_error(train({"--data", data_, "--set", "lr=0.1", "--set", "weight_decay=20"}),
               "lr * weight_decay = 2.0");
}

// Repeated flags and --set keys used to keep the last value silently.
TEST_F(CliErrors, RepeatedFlagsAndKeys) {
  expect_error(train({"--data", data_, "--steps", "3"}),
               "--steps is given twice ('2' and '3'): give it once");
  expect_error(train({"--data", data_, "--set", "lr=1e-3", "--set", "lr=2e-3"}),
               "--set lr is given twice ('lr=1e-3' and 'lr=2e-3')");
}

// --resume needs a checkpoint; a fresh run does not overwrite weights without --force.
TEST_F(CliErrors, ResumeNeedsACheckpointAndWeightsNeedForce) {
  expect_error(train({"--data", data_, "--resume"}), "holds no checkpoint to continue");
  ASSERT_EQ(run_anetrain(train({"--data", data_, "--set", "val_every=0"})).exit_code, 0);
  std::filesystem::remove(dir_.file("out/state.json"));
  expect_error(train({"--data", data_}), "already holds model weights");
  const std::string before = read_bytes(dir_.file("out/model.safetensors"));
  const CommandResult forced =
      run_anetrain(train({"--data", data_, "--force", "--seed", "7", "--set", "val_every=0"}));
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(read_bytes(dir_.file("out/model.safetensors")), before);
}

// A FIFO where a file is expected used to block forever at open(); now a one-line error.
TEST_F(CliErrors, FifosAreRefusedNotWaitedOn) {
  const std::string fifo = dir_.file("pipe.json");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::vector<std::vector<std::string>> commands = {
      {"train", "--config", fifo, "--data", data_, "--steps", "1", "--out", dir_.file("f1")},
      {"train", "--init", fifo, "--data", data_, "--steps", "1", "--out", dir_.file("f2")},
      {"ane", "lint", fifo},
      {"info", fifo},
  };
  for (const auto& args : commands) {
    const CommandResult r = run_anetrain_within(30, args);
    EXPECT_FALSE(r.timed_out) << args[0] << " " << args[1] << " waited on the FIFO";
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("FIFO"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

// Ids typed by hand are range-checked before they become int32 (4294967396 once decoded as 100).
TEST_F(CliErrors, DecodeRefusesIdsOutsideTheTokenizer) {
  for (const char* id : {"4294967396", "256", "-1"}) {
    const std::string command = std::string("echo ") + id + " | '" + ANETRAIN_BINARY +
                                "' tokenizer decode --tokenizer bytes 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    char buf[256];
    while (size_t n = fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
    const int status = pclose(pipe);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << id << ": " << output;
    EXPECT_NE(output.find("is outside the tokenizer's ids (0..255)"), std::string::npos)
        << id << ": " << output;
  }
}

TEST_F(CliErrors, BadFiles) {
  expect_error(train({"--data", dir_.file("missing*.bin")}), "no files match");
  const std::string bad_magic = dir_.file("bad.bin");
  std::ofstream(bad_magic, std::ios::binary) << std::string(2048, 'x');
  expect_error(train({"--data", bad_magic}), "bad.bin");
  const std::string big_ids = dir_.file("big.bin");
  write_shard(big_ids, std::vector<int32_t>(200, 600));
  expect_error(train({"--data", big_ids}), "vocab_size 512");
  const std::string short_shard = dir_.file("short.bin");
  write_shard(short_shard, std::vector<int32_t>(10, 1));
  expect_error(train({"--data", short_shard}), "fewer than one sequence");
  const std::string bad_json = dir_.file("bad.json");
  std::ofstream(bad_json) << "{ not json";
  expect_error({"train", "--config", bad_json, "--data", data_, "--steps", "1", "--out", "x"},
               "not valid JSON");
  // A MIL file that parses but does not type-check: the error names the file and line.
  const std::string ill_typed = dir_.file("ill_typed.mil");
  std::ofstream(ill_typed) << "program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1, 64, 1, 32]> "
                              "x) {\n        tensor<fp16, [1, 32, 1, 32]> y = mul(x = x, y = "
                              "x)[name = string(\"y\")];\n    } -> (y);\n}\n";
  expect_error({"ane", "lint", ill_typed}, ill_typed + ":4:");
}

TEST_F(CliErrors, NoSilentFallbackOrOverwrite) {
  expect_error(train({"--data", data_, "--backend", "ane"}), "ANE backend unavailable");
  expect_error(train({"--data", data_, "--backend", "gpu"}), "unknown backend 'gpu'");
  ASSERT_EQ(run_anetrain(train({"--data", data_})).exit_code, 0);
  expect_error(train({"--data", data_}), "already holds a checkpoint");
  expect_error(train({"--data", data_, "--resume", "--set", "dim=32"}),
               "differs from the checkpoint");
}

}  // namespace
}  // namespace anetrain
