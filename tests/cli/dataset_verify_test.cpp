// A prepared dataset is used only as its manifest describes it (issue 17, item 4): a missing,
// extra, resized or changed shard is a one-line error naming the file, never a silent run on
// other data; --no-verify skips only the sha256. `data prepare` replaces a dataset atomically,
// deletes nothing without --force, and cleans up after a killed run. A FIFO anywhere an input
// file is expected is refused at once instead of blocking.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "data/dataset_dir.h"
#include "io/atomic_file.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;
namespace fs = std::filesystem;

constexpr double kTimeout = 60;  // seconds; a blocked open would otherwise hang the suite

void write_corpus(const std::string& path, int documents, int lines_each = 3) {
  std::ofstream out(path);
  for (int d = 0; d < documents; ++d)
    out << nlohmann::json({{"text", english_lines(lines_each, d + 1)}}).dump() << "\n";
}

// A pid no process has: a child that has exited and been reaped.
long dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

class DatasetVerify : public ::testing::Test {
 protected:
  void SetUp() override {
    write_corpus(dir_.file("c.jsonl"), 40);
    const CommandResult r = prepare(data_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(fs::exists(data_ + "/train_000002.bin")) << "several train shards";
  }

  // `extra` may override --val-fraction and --shard-tokens (flags are given once).
  CommandResult prepare(const std::string& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"data",    "prepare", "--tokenizer", "bytes", "--input",
                                     dir_.file("c.jsonl"), "--out", out, "--quiet"};
    for (const char* flag : {"--val-fraction", "--shard-tokens"})
      if (std::find(extra.begin(), extra.end(), flag) == extra.end())
        args.insert(args.end(), {flag, std::string(flag) == "--val-fraction" ? "0.1" : "1024"});
    args.insert(args.end(), extra.begin(), extra.end());
    return run_anetrain_within(kTimeout, args);
  }

  std::vector<std::string> train(const std::string& data, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"train", "--config", "tiny",
                                     "--set", "vocab_size=256", "--set",
                                     "batch_size=2", "--set", "val_every=0", "--set", "seq_len=16",
                                     "--steps", "1", "--out",
                                     dir_.file("run" + std::to_string(runs_++)), "--data",
                                     data};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // Exit code 1 within the time limit, one line of stderr holding every part.
  static void expect_error(const CommandResult& r, const std::vector<std::string>& parts) {
    EXPECT_FALSE(r.timed_out) << "blocked";
    EXPECT_EQ(r.exit_code, 1) << "stderr: " << r.err << "stdout: " << r.out;
    for (const std::string& part : parts)
      EXPECT_NE(r.err.find(part), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr: " << r.err;
  }
  void expect_train_error(const std::vector<std::string>& args,
                          const std::vector<std::string>& parts) {
    expect_error(run_anetrain_within(kTimeout, args), parts);
  }
  void expect_trains(const std::vector<std::string>& args, const std::string& says) {
    const CommandResult r = run_anetrain_within(kTimeout, args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(says), std::string::npos) << r.out;
  }

  // Flips one bit of a shard's payload: same size, different sha256.
  static void flip_a_bit(const std::string& path) {
    std::string bytes = read_bytes(path);
    bytes[1500] ^= 1;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  }

  TempDir dir_;
  const std::string data_ = dir_.file("data");
  int runs_ = 0;
};

TEST_F(DatasetVerify, AnIntactDatasetTrainsAndSaysWhatWasChecked) {
  const CommandResult r = run_anetrain_within(kTimeout, train(data_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dataset '" + data_ + "': "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("match manifest.json, sha256 verified in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--no-verify skips the hash"), std::string::npos) << r.out;
  expect_trains(train(data_, {"--no-verify"}), "sha256 not checked (--no-verify)");
  // A glob of shards has no manifest to check and trains as before.
  const CommandResult glob = run_anetrain_within(kTimeout, train(data_ + "/train_*.bin"));
  EXPECT_EQ(glob.exit_code, 0) << glob.err;
  EXPECT_EQ(glob.out.find("manifest.json"), std::string::npos) << glob.out;
}

TEST_F(DatasetVerify, AMissingShardIsAnErrorEvenWithoutHashing) {
  fs::remove(data_ + "/train_000001.bin");
  for (const auto& extra : {std::vector<std::string>{}, std::vector<std::string>{"--no-verify"}})
    expect_train_error(train(data_, extra), {data_ + "/train_000001.bin' does not exist",
                                             "manifest.json lists it",
                                             "anetrain data prepare --force"});
}

TEST_F(DatasetVerify, AStrayShardIsAnError) {
  fs::copy_file(data_ + "/train_000000.bin", data_ + "/train_999999.bin");
  for (const auto& extra : {std::vector<std::string>{}, std::vector<std::string>{"--no-verify"}})
    expect_train_error(train(data_, extra),
                       {data_ + "/train_999999.bin' is not a shard of the dataset",
                        "remove it, or prepare the dataset again with 'anetrain data prepare "
                        "--force'"});
  fs::remove(data_ + "/train_999999.bin");
  fs::copy_file(data_ + "/val_000000.bin", data_ + "/val_extra.bin");
  expect_train_error(train(data_), {"val_extra.bin' is not a shard of the dataset"});
}

TEST_F(DatasetVerify, AChangedByteIsASha256MismatchThatNoVerifySkips) {
  const std::vector<std::string> eval = {"eval", "--checkpoint", dir_.file("run0"), "--data",
                                         data_};
  expect_trains(train(data_), "sha256 verified");  // run0, for eval below
  ASSERT_EQ(run_anetrain_within(kTimeout, eval).exit_code, 0);
  flip_a_bit(data_ + "/train_000002.bin");
  const std::string says = data_ + "/train_000002.bin' does not match its sha256";
  expect_train_error(train(data_), {says, "anetrain data prepare --force"});
  expect_trains(train(data_, {"--no-verify"}), "sha256 not checked (--no-verify)");
  // eval checks a dataset the same way, and takes --no-verify too.
  expect_error(run_anetrain_within(kTimeout, eval), {says});
  std::vector<std::string> unverified = eval;
  unverified.push_back("--no-verify");
  const CommandResult r = run_anetrain_within(kTimeout, unverified);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sha256 not checked (--no-verify)"), std::string::npos) << r.err;
}

TEST_F(DatasetVerify, ASizeMismatchIsAnErrorEvenWithoutHashing) {
  const std::string path = data_ + "/val_000000.bin";
  const auto size = fs::file_size(path);
  std::ofstream(path, std::ios::binary | std::ios::app) << std::string(2, '\0');
  const std::string says = data_ + "/val_000000.bin' is " + std::to_string(size + 2) +
                           " bytes but manifest.json lists " + std::to_string(size);
  expect_train_error(train(data_), {says, "anetrain data prepare --force"});
  expect_train_error(train(data_, {"--no-verify"}), {says});
  fs::resize_file(path, size - 2);
  expect_train_error(train(data_, {"--no-verify"}), {"is " + std::to_string(size - 2) + " bytes"});
}

TEST_F(DatasetVerify, AFifoIsRefusedAtOnceNeverOpened) {
  const std::string fifo = dir_.file("fifo.bin");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0644), 0);
  expect_train_error(train(fifo), {"token shard '" + fifo + "' is not a regular file",
                                   "FIFO"});
  expect_error(run_anetrain_within(kTimeout, {"data", "prepare", "--tokenizer", "bytes", "--input",
                                              fifo, "--out", dir_.file("o")}),
               {"input '" + fifo + "' is not a regular file (it is a FIFO (named pipe))"});
  EXPECT_FALSE(fs::exists(dir_.file("o")));
  expect_error(run_anetrain_within(kTimeout, {"data", "prepare", "--tokenizer", "bytes", "--input",
                                              dir_.file("nothing.txt"), "--out", dir_.file("o")}),
               {"input '" + dir_.file("nothing.txt") + "' does not exist"});

  // A FIFO in place of a shard, or of the manifest.
  const std::string shard = data_ + "/train_000001.bin";
  fs::remove(shard);
  ASSERT_EQ(mkfifo(shard.c_str(), 0644), 0);
  expect_train_error(train(data_, {"--no-verify"}), {shard + "' is not a regular file"});
  fs::remove(shard);
  const std::string manifest = data_ + "/manifest.json";
  fs::remove(manifest);
  ASSERT_EQ(mkfifo(manifest.c_str(), 0644), 0);
  expect_train_error(train(data_), {manifest + "' is not a regular file"});
}

TEST_F(DatasetVerify, ValFractionMustBeAFractionBelowOne) {
  for (const std::string bad : {"nan", "inf", "-0.1", "1"})
    expect_error(prepare(dir_.file("o"), {"--val-fraction", bad}),
                 {"--val-fraction " + bad + " is not a number in [0, 1)"});
  EXPECT_FALSE(fs::exists(dir_.file("o")));
}

// Without --force prepare deletes nothing; with it, it replaces only a dataset directory.
TEST_F(DatasetVerify, PrepareWithoutForceDeletesNothing) {
  const std::string foreign = dir_.file("foreign");
  fs::create_directories(foreign);
  std::ofstream(foreign + "/notes.txt") << "mine";
  std::ofstream(foreign + "/train_mine.bin") << "also mine";
  std::ofstream(foreign + "/val_mine.bin") << "mine too";
  const std::vector<std::string> before = entries(foreign);
  expect_error(prepare(foreign), {"'" + foreign + "' holds files that are not part of a dataset"});
  expect_error(prepare(foreign, {"--force"}), {"--force replaces only a dataset directory"});
  EXPECT_EQ(entries(foreign), before);
  EXPECT_EQ(read_bytes(foreign + "/train_mine.bin"), "also mine");

  // Shards without a manifest (as an old, interrupted prepare left them): --force replaces them.
  fs::remove(foreign + "/notes.txt");
  expect_error(prepare(foreign), {"but no manifest.json", "pass --force to replace them"});
  EXPECT_EQ(entries(foreign), (std::vector<std::string>{"train_mine.bin", "val_mine.bin"}));
  ASSERT_EQ(prepare(foreign, {"--force"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(foreign + "/train_mine.bin"));
  expect_trains(train(foreign), "sha256 verified");

  // An existing dataset is kept; an empty directory is used.
  const std::string manifest = read_bytes(data_ + "/manifest.json");
  expect_error(prepare(data_), {"'" + data_ + "' already holds a prepared dataset: pass --force"});
  EXPECT_EQ(read_bytes(data_ + "/manifest.json"), manifest);
  fs::create_directories(dir_.file("empty"));
  ASSERT_EQ(prepare(dir_.file("empty")).exit_code, 0);
  expect_trains(train(dir_.file("empty")), "sha256 verified");
  // A file is not a dataset directory.
  std::ofstream(dir_.file("a-file")) << "x";
  expect_error(prepare(dir_.file("a-file"), {"--force"}), {"exists and is not a directory"});
}

TEST_F(DatasetVerify, ForceReplacesTheDatasetAsAWhole) {
  fs::copy_file(data_ + "/train_000000.bin", data_ + "/train_999999.bin");  // a stray shard
  const CommandResult r = prepare(data_, {"--force", "--shard-tokens", "2048"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(data_ + "/train_999999.bin"));
  const auto manifest = nlohmann::json::parse(read_file(data_ + "/manifest.json"));
  std::vector<std::string> listed = {"manifest.json"};  // bytes: no tokenizer copy
  for (const auto& shard : manifest["shards"]) listed.push_back(shard["file"]);
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(entries(data_), listed) << "the new dataset and nothing of the old";
  EXPECT_EQ(entries(dir_.path()), (std::vector<std::string>{"c.jsonl", "data"}))
      << "no work directory left beside it";
  expect_trains(train(data_), "sha256 verified");
}

// What a killed prepare leaves beside the dataset never trains, and the next prepare removes
// it; directories that only look similar are left alone.
TEST_F(DatasetVerify, AnInterruptedPrepareIsCleanedUpAndNeverTrains) {
  const std::string leftover = data_ + ".preparing-" + std::to_string(dead_pid());
  fs::create_directories(leftover);
  fs::copy_file(data_ + "/train_000000.bin", leftover + "/train_000000.bin");
  fs::copy_file(data_ + "/manifest.json", leftover + "/manifest.json");
  expect_train_error(train(leftover), {"work directory of an unfinished 'anetrain data prepare'"});
  const std::vector<std::string> kept = {
      data_ + ".preparing-" + std::to_string(getpid()),  // a running process's
      data_ + ".preparing-12x", data_ + ".preparing-", dir_.file("other.preparing-1")};
  for (const std::string& dir : kept) fs::create_directories(dir);

  const CommandResult r = prepare(data_, {"--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("removed '" + leftover + "', left by an interrupted run"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(leftover));
  for (const std::string& dir : kept) EXPECT_TRUE(fs::is_directory(dir)) << dir;
  expect_trains(train(data_), "sha256 verified");

  // Killed between moving the old dataset away and the new one in (where directories cannot
  // be swapped in one step): the old one is moved back.
  const std::string moved = data_ + ".replaced-" + std::to_string(dead_pid());
  fs::rename(data_, moved);
  const CommandResult again = prepare(data_);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("moved '" + moved + "'"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("already holds a prepared dataset"), std::string::npos) << again.err;
  EXPECT_FALSE(fs::exists(moved));
  expect_trains(train(data_), "sha256 verified");
}

// prepare --force killed at any moment: the dataset directory holds the old dataset or the
// new one, complete (the files there are exactly its manifest's, with their sha256), and the
// next prepare leaves nothing else behind. The kills are spread over a whole run, timed first.
TEST_F(DatasetVerify, ForceKilledAtAnyMomentLeavesAWholeDataset) {
  write_corpus(dir_.file("big.jsonl"), 600, 20);
  auto args = [&](int run) {
    // Alternate shard sizes, so that the old and the new dataset differ in every shard.
    return std::vector<std::string>{"data",  "prepare", "--tokenizer", "bytes", "--input",
                                    dir_.file("big.jsonl"), "--out", data_, "--force",
                                    "--quiet", "--shard-tokens", run % 2 ? "8192" : "6144"};
  };
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(run_anetrain_within(kTimeout, args(0)).exit_code, 0);
  const double whole = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int run = 1;
  for (double fraction : {0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.0, 1.1}) {
    const int pid = spawn_anetrain(args(run++));
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::duration<double>(whole * fraction));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    DatasetSource source;
    EXPECT_NO_THROW(source = resolve_dataset(data_, "")) << "killed at " << fraction;
    EXPECT_NE(source.verification, "") << "no dataset after a kill at " << fraction;
  }
  const CommandResult r = prepare(data_, {"--force"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(entries(dir_.path()), (std::vector<std::string>{"big.jsonl", "c.jsonl", "data"}));
  expect_trains(train(data_), "sha256 verified");
}

}  // namespace
}  // namespace anetrain
