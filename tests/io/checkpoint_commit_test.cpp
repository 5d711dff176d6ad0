// Tests for the journaled checkpoint commit: normal commits replace the whole set, crashes before
// the COMPLETE marker keep the old set, crashes after it roll forward, and a writer SIGKILLed at
// arbitrary moments never leaves a mixed set behind.
#include "io/checkpoint_commit.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <string>

#include "core/error.h"
#include "io/atomic_file.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

namespace fs = std::filesystem;

const char* const kFiles[3] = {"model.safetensors", "optimizer.safetensors", "state.json"};

// Contents of file `index` at generation `gen`. Sizes differ per generation and file so a torn
// or mixed-up file cannot pass for a whole one.
std::string payload(int gen, int index) {
  std::string s = "gen " + std::to_string(gen) + "\n";
  s.append(48 * 1024 + 4096 * index + (gen % 7) * 100, static_cast<char>('a' + (gen + index) % 26));
  return s;
}

// The generation a file holds, or -1 if it is not exactly some payload(gen, index).
int generation_of(const std::string& contents, int index) {
  int gen = -1;
  if (std::sscanf(contents.c_str(), "gen %d", &gen) != 1 || gen < 0) return -1;
  return contents == payload(gen, index) ? gen : -1;
}

void write_plain(const std::string& path, const std::string& contents) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(std::fwrite(contents.data(), 1, contents.size(), f), contents.size());
  ASSERT_EQ(std::fclose(f), 0);
}

// Stages all three files (one through write_file_atomic, two with plain writes, as callers may
// do either) without committing.
void stage_generation(CheckpointCommit& commit, int gen) {
  write_file_atomic(commit.staging_path(kFiles[0]), payload(gen, 0).data(), payload(gen, 0).size());
  for (int i = 1; i < 3; ++i) write_plain(commit.staging_path(kFiles[i]), payload(gen, i));
}

void commit_generation(const std::string& dir, int gen) {
  CheckpointCommit commit(dir);
  stage_generation(commit, gen);
  commit.commit();
}

class CheckpointCommitTest : public ::testing::Test {
 protected:
  // The directory's files besides its two lock files (io/run_lock.h), which stay.
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
    EXPECT_EQ(names.erase(".anetrain-writer.lock"), 1u);
    EXPECT_EQ(names.erase(".anetrain-commit.lock"), 1u);
    return names;
  }

  // Asserts dir holds exactly the three files, all at generation `gen`, and nothing else.
  void expect_generation(int gen) const {
    EXPECT_EQ(entries(), (std::set<std::string>{kFiles[0], kFiles[1], kFiles[2]}));
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(generation_of(read_file(dir_ + "/" + kFiles[i]), i), gen) << kFiles[i];
    }
  }

  std::string staging() const { return dir_ + "/.staging"; }

  anetrain::testing::TempDir temp_;
  const std::string root_ = temp_.path(), dir_ = root_ + "/ckpt";
};

TEST_F(CheckpointCommitTest, CommitCreatesDirectoryAndFiles) {
  CheckpointCommit commit(dir_);
  EXPECT_TRUE(fs::is_directory(staging()));
  EXPECT_EQ(commit.staging_path("state.json"), dir_ + "/.staging/state.json");
  stage_generation(commit, 1);
  // Nothing is visible before the commit.
  EXPECT_EQ(entries(), std::set<std::string>{".staging"});
  commit.commit();
  expect_generation(1);
}

TEST_F(CheckpointCommitTest, CommitReplacesAllFiles) {
  commit_generation(dir_, 1);
  commit_generation(dir_, 2);
  expect_generation(2);
  commit_generation(dir_, 3);
  expect_generation(3);
}

TEST_F(CheckpointCommitTest, CommitLeavesUnstagedFilesAlone) {
  commit_generation(dir_, 1);
  CheckpointCommit commit(dir_);
  write_plain(commit.staging_path("state.json"), payload(2, 2));
  commit.commit();
  EXPECT_EQ(generation_of(read_file(dir_ + "/model.safetensors"), 0), 1);
  EXPECT_EQ(generation_of(read_file(dir_ + "/state.json"), 2), 2);
}

TEST_F(CheckpointCommitTest, AbandonedCommitKeepsOldFiles) {
  commit_generation(dir_, 1);
  {
    CheckpointCommit commit(dir_);
    stage_generation(commit, 2);
  }  // destroyed without commit(), as when an exception interrupts a save
  recover_checkpoint_dir(dir_);
  expect_generation(1);
}

TEST_F(CheckpointCommitTest, CommitFailsIfARequestedFileWasNotWritten) {
  commit_generation(dir_, 1);
  CheckpointCommit commit(dir_);
  write_plain(commit.staging_path(kFiles[0]), payload(2, 0));
  commit.staging_path(kFiles[1]);  // never written
  try {
    commit.commit();
    ADD_FAILURE() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(dir_), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(kFiles[1]), std::string::npos) << e.what();
  }
  EXPECT_EQ(generation_of(read_file(dir_ + "/" + kFiles[0]), 0), 1);
}

TEST_F(CheckpointCommitTest, CrashBeforeMarkerRollsBack) {
  commit_generation(dir_, 1);
  // The state a SIGKILL leaves mid-save: new files staged (one half-written), no COMPLETE, and
  // temp files from interrupted atomic writes both in staging and in the directory itself.
  fs::create_directory(staging());
  for (int i = 0; i < 3; ++i) write_plain(staging() + "/" + kFiles[i], payload(2, i));
  write_plain(staging() + "/" + kFiles[2], payload(2, 2).substr(0, 100));
  write_plain(staging() + "/COMPLETE.tmp.999.0", "model.safetensors\n");
  write_plain(dir_ + "/state.json.tmp.999.3", "partial");

  recover_checkpoint_dir(dir_);
  expect_generation(1);
  recover_checkpoint_dir(dir_);  // idempotent
  expect_generation(1);
}

TEST_F(CheckpointCommitTest, CrashAfterMarkerRollsForward) {
  commit_generation(dir_, 1);
  // The state a SIGKILL leaves after COMPLETE was written and one file was already renamed.
  fs::create_directory(staging());
  for (int i = 0; i < 3; ++i) write_plain(staging() + "/" + kFiles[i], payload(2, i));
  write_plain(staging() + "/COMPLETE",
              std::string(kFiles[0]) + "\n" + kFiles[1] + "\n" + kFiles[2] + "\n");
  fs::rename(staging() + "/" + kFiles[1], dir_ + "/" + kFiles[1]);

  recover_checkpoint_dir(dir_);
  expect_generation(2);
  recover_checkpoint_dir(dir_);
  expect_generation(2);
}

TEST_F(CheckpointCommitTest, CrashAfterAllRenamesFinishesCleanup) {
  commit_generation(dir_, 2);
  fs::create_directory(staging());
  write_plain(staging() + "/COMPLETE",
              std::string(kFiles[0]) + "\n" + kFiles[1] + "\n" + kFiles[2] + "\n");
  recover_checkpoint_dir(dir_);
  expect_generation(2);
}

TEST_F(CheckpointCommitTest, ConstructorRecoversBeforeStaging) {
  commit_generation(dir_, 1);
  fs::create_directory(staging());
  for (int i = 0; i < 3; ++i) write_plain(staging() + "/" + kFiles[i], payload(2, i));
  write_plain(staging() + "/COMPLETE",
              std::string(kFiles[0]) + "\n" + kFiles[1] + "\n" + kFiles[2] + "\n");
  CheckpointCommit commit(dir_);
  EXPECT_TRUE(fs::is_empty(staging())) << "staging must start fresh";
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(generation_of(read_file(dir_ + "/" + kFiles[i]), i), 2) << kFiles[i];
  }
}

TEST_F(CheckpointCommitTest, DamagedJournalIsAUserError) {
  commit_generation(dir_, 1);
  fs::create_directory(staging());
  write_plain(staging() + "/COMPLETE", "missing.bin\n");
  EXPECT_THROW(recover_checkpoint_dir(dir_), UserError);
  write_plain(staging() + "/COMPLETE", "../escape\n");
  EXPECT_THROW(recover_checkpoint_dir(dir_), UserError);
}

TEST_F(CheckpointCommitTest, RecoverIsANoOpWithoutStaging) {
  EXPECT_NO_THROW(recover_checkpoint_dir(dir_));  // does not exist yet
  EXPECT_FALSE(fs::exists(dir_));
  commit_generation(dir_, 1);
  recover_checkpoint_dir(dir_);
  expect_generation(1);
}

// A child process commits generation after generation; the parent SIGKILLs it at varied moments
// (including mid-write, mid-fsync and mid-rename) and checks that recovery always yields three
// files from one generation, never going backwards.
TEST_F(CheckpointCommitTest, SigkillAtRandomMomentsNeverMixesGenerations) {
  // Kill delays scale with how long one commit takes here, so the kills spread over whole
  // commits whether syncs are fast (tmpfs) or slow (F_FULLFSYNC on macOS).
  const auto start = std::chrono::steady_clock::now();
  commit_generation(dir_, 0);
  const auto commit_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  const uint32_t max_delay_us = static_cast<uint32_t>(4 * commit_us + 2000);
  std::mt19937 rng(20240611);
  int last = 0;
  int rolled_back = 0, rolled_forward = 0;
  for (int iteration = 0; iteration < 30; ++iteration) {
    std::fflush(nullptr);  // or the child would re-flush gtest's buffered output
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      try {
        for (int gen = last + 1;; ++gen) commit_generation(dir_, gen);
      } catch (...) {
      }
      _exit(3);  // only reached on an error; the parent reports the exit status
    }
    usleep(static_cast<useconds_t>(rng() % max_delay_us));
    kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "writer failed on its own, status " << status;

    if (fs::exists(staging() + "/COMPLETE")) {
      ++rolled_forward;
    } else if (fs::exists(staging())) {
      ++rolled_back;
    }
    recover_checkpoint_dir(dir_);
    ASSERT_EQ(entries(), (std::set<std::string>{kFiles[0], kFiles[1], kFiles[2]}))
        << "iteration " << iteration;
    int gens[3];
    for (int i = 0; i < 3; ++i) gens[i] = generation_of(read_file(dir_ + "/" + kFiles[i]), i);
    ASSERT_NE(gens[0], -1) << "torn file, iteration " << iteration;
    ASSERT_EQ(gens[0], gens[1]) << "iteration " << iteration;
    ASSERT_EQ(gens[0], gens[2]) << "iteration " << iteration;
    ASSERT_GE(gens[0], last) << "a committed generation was lost";
    last = gens[0];
  }
  EXPECT_GT(last, 0) << "the writer never completed a commit; the test exercised nothing";
  std::printf("[   INFO   ] reached generation %d; recoveries: %d rolled back, %d rolled forward\n",
              last, rolled_back, rolled_forward);
}

}  // namespace
}  // namespace anetrain
