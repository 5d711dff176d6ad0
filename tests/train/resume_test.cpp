// Checkpoints through the CLI, as a user runs it: N steps then --resume to N+M gives a
// model.safetensors bit-identical to N+M steps in one run, and a process killed at arbitrary
// moments (including while writing a checkpoint) resumes from what is on disk to the same
// bits.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "io/safetensors.h"
#include "support/test_util.h"
#include "model/params.h"
#include "train/checkpoint.h"
#include "train/model_source.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;
namespace fs = std::filesystem;

std::vector<std::string> train_args(const std::string& data, const std::string& out, int steps,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"train",
                                   "--config",
                                   "tiny",
                                   "--data",
                                   data,
                                   "--steps",
                                   std::to_string(steps),
                                   "--out",
                                   out,
                                   "--set",
                                   "decay_steps=24",
                                   "--set",
                                   "grad_accum=2",
                                   "--set",
                                   "batch_size=2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.file("train.bin");
    write_shard(data_, pattern_tokens(20000, 512, 1));
  }
  TempDir dir_;
  std::string data_;
};

TEST_F(Resume, SplitRunIsBitIdenticalToOneRun) {
  const std::string one = dir_.file("one"), split = dir_.file("split");
  auto r = run_anetrain(train_args(data_, one, 24));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_anetrain(train_args(data_, split, 10));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_anetrain(train_args(data_, split, 24, {"--resume"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("steps 11..24"), std::string::npos) << r.out;
  const std::string a = read_bytes(one + "/model.safetensors");
  ASSERT_GT(a.size(), 100000u);
  EXPECT_TRUE(a == read_bytes(split + "/model.safetensors"));
  EXPECT_TRUE(read_bytes(one + "/optimizer.safetensors") ==
              read_bytes(split + "/optimizer.safetensors"));
  // The metrics log has each step exactly once.
  std::string metrics = read_bytes(split + "/metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 24);
}

TEST_F(Resume, EpochSamplingResumesBitIdentically) {
  const std::string one = dir_.file("one"), split = dir_.file("split");
  const std::vector<std::string> epochs = {"--set", "sampling=epochs"};
  ASSERT_EQ(run_anetrain(train_args(data_, one, 24, epochs)).exit_code, 0);
  ASSERT_EQ(run_anetrain(train_args(data_, split, 13, epochs)).exit_code, 0);
  std::vector<std::string> resume = epochs;
  resume.push_back("--resume");
  auto r = run_anetrain(train_args(data_, split, 24, resume));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(read_bytes(one + "/model.safetensors") == read_bytes(split + "/model.safetensors"));
}

// Another optimizer resumes through the same named state: Lion's one tensor, "m.<name>".
TEST_F(Resume, LionResumesBitIdenticallyFromItsNamedState) {
  const std::string one = dir_.file("one"), split = dir_.file("split");
  const std::vector<std::string> lion = {"--set", "optimizer=lion", "--set", "lr=1e-3"};
  ASSERT_EQ(run_anetrain(train_args(data_, one, 24, lion)).exit_code, 0);
  ASSERT_EQ(run_anetrain(train_args(data_, split, 10, lion)).exit_code, 0);
  // Resuming with another optimizer is a different config.
  auto r = run_anetrain(train_args(data_, split, 24, {"--resume"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("differs from the checkpoint's"), std::string::npos) << r.err;
  std::vector<std::string> resume = lion;
  resume.push_back("--resume");
  r = run_anetrain(train_args(data_, split, 24, resume));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(read_bytes(one + "/model.safetensors") == read_bytes(split + "/model.safetensors"));
  EXPECT_TRUE(read_bytes(one + "/optimizer.safetensors") ==
              read_bytes(split + "/optimizer.safetensors"));
  const SafetensorsFile state = SafetensorsFile::open(split + "/optimizer.safetensors");
  const std::vector<std::string> names = state.names();
  EXPECT_EQ(names.front(), "m.tok_embeddings.weight");
  for (const std::string& name : names) EXPECT_EQ(name.rfind("m.", 0), 0u) << name;
  EXPECT_EQ(names.size(), SafetensorsFile::open(split + "/model.safetensors").names().size());
  // The losses went down.
  std::istringstream metrics(read_bytes(one + "/metrics.jsonl"));
  std::vector<double> losses;
  for (std::string line; std::getline(metrics, line);)
    if (const auto record = nlohmann::json::parse(line); record.contains("loss"))
      losses.push_back(record["loss"].get<double>());
  ASSERT_EQ(losses.size(), 24u);
  EXPECT_LT(losses.back(), losses.front() - 0.5) << losses.front() << " -> " << losses.back();
}

// SIGKILLs at staggered moments (inside and between checkpoint commits), then resume: the run
// ends bit-identical to an uninterrupted one. `extra` adds settings to both.
void kill_and_resume_drill(const std::string& data, const std::string& reference,
                           const std::string& killed, std::vector<std::string> extra);

TEST_F(Resume, KilledRunsResumeToTheSameWeights) {
  kill_and_resume_drill(data_, dir_.file("reference"), dir_.file("killed"), {});
}

// The same (gradient accumulation included, as above) with epoch sampling, whose loader state
// (epoch, position, permutation) must also survive every kill.
TEST_F(Resume, KilledEpochRunsResumeToTheSameWeights) {
  kill_and_resume_drill(data_, dir_.file("reference"), dir_.file("killed"),
                        {"--set", "sampling=epochs"});
}

void kill_and_resume_drill(const std::string& data_, const std::string& reference,
                           const std::string& killed, std::vector<std::string> extra) {
  std::vector<std::string> every_step = {"--set", "save_every=1"};
  every_step.insert(every_step.end(), extra.begin(), extra.end());
  auto r = run_anetrain(train_args(data_, reference, 24, every_step));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // Kill repeatedly at staggered delays; every step writes a checkpoint, so kills land both
  // inside and between checkpoint writes.
  int kills = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    // --resume only once a checkpoint exists (or a commit of one was under way: the next
    // writer finishes it); it is an error without one.
    std::vector<std::string> args = train_args(data_, killed, 24, every_step);
    if (fs::exists(killed + "/state.json") || fs::exists(killed + "/.staging/COMPLETE"))
      args.push_back("--resume");
    const int pid = spawn_anetrain(args);
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(40 + 23 * attempt));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) ++kills;
    // Whatever is on disk is a complete, loadable checkpoint (or none yet), read as any
    // reader reads it.
    if (fs::exists(killed + "/state.json") || fs::exists(killed + "/.staging/COMPLETE")) {
      const ModelSource source = open_model_source(killed);
      EXPECT_LE(source.step, 24);
      EXPECT_EQ(read_model_params(source).size(), ParamLayout(source.config.model).total());
    }
  }
  EXPECT_GT(kills, 0) << "the runs finished before any kill; the test proved nothing";
  std::vector<std::string> args = train_args(data_, killed, 24, every_step);
  if (fs::exists(killed + "/state.json") || fs::exists(killed + "/.staging/COMPLETE"))
    args.push_back("--resume");
  r = run_anetrain(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(read_bytes(reference + "/model.safetensors") ==
              read_bytes(killed + "/model.safetensors"));
  EXPECT_FALSE(fs::exists(killed + "/.staging"));
}

}  // namespace
}  // namespace anetrain
