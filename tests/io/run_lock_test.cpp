// The run directory's writer lock and the readers' view of a checkpoint (io/run_lock.h,
// io/checkpoint_commit.h): one writer at a time, readers that never touch a live writer's
// staging, recovery that deletes only its own temp files.
#include "io/run_lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checkpoint_commit.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
namespace fs = std::filesystem;
using testing::TempDir;
using testing::user_error_of;

void write_plain(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A committed checkpoint of two files whose contents say which generation they are.
void commit_generation(const std::string& dir, int gen) {
  CheckpointCommit commit(dir);
  write_plain(commit.staging_path("model.safetensors"), "model " + std::to_string(gen));
  write_plain(commit.staging_path("state.json"), "state " + std::to_string(gen));
  commit.commit();
}

// Another process holding `dir`'s writer lock, as a live `train` would, until destroyed. The
// child makes raw system calls only (this process may have threads).
class OtherWriter {
 public:
  explicit OtherWriter(const std::string& dir) {
    const std::string path = dir + "/.anetrain-writer.lock";
    int ready[2], release[2];
    EXPECT_EQ(pipe(ready), 0);
    EXPECT_EQ(pipe(release), 0);
    std::fflush(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      close(ready[0]);
      close(release[1]);  // or the read below would never see the parent's end close
      const int fd = open(path.c_str(), O_RDWR | O_CREAT, 0644);
      if (fd < 0 || flock(fd, LOCK_EX) != 0) _exit(2);
      char pid_text[24];
      const int n = snprintf(pid_text, sizeof pid_text, "%d\n", static_cast<int>(getpid()));
      if (ftruncate(fd, 0) != 0 || write(fd, pid_text, n) != n) _exit(2);
      char c = 1;
      if (write(ready[1], &c, 1) != 1) _exit(2);
      (void)read(release[0], &c, 1);  // until the parent closes its end
      _exit(0);
    }
    close(ready[1]);
    close(release[0]);
    release_ = release[1];
    char c = 0;
    EXPECT_EQ(read(ready[0], &c, 1), 1) << "the child could not take the lock";
    close(ready[0]);
  }
  ~OtherWriter() {
    close(release_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int release_ = -1;
};

TEST(RunLock, ASecondWriterIsRefusedNamingTheHolder) {
  TempDir d;
  {
    RunWriterLock first(d.path());
    EXPECT_TRUE(holds_writer_lock(d.path()));
    EXPECT_NE(user_error_of([&] { RunWriterLock again(d.path()); })
                  .find("already being written by this process"),
              std::string::npos);
  }
  EXPECT_FALSE(holds_writer_lock(d.path()));
  const OtherWriter other(d.path());
  const std::string error = user_error_of([&] { RunWriterLock mine(d.path()); });
  EXPECT_NE(error.find("is being written by another anetrain process (pid " +
                       std::to_string(other.pid()) + ")"),
            std::string::npos)
      << error;
  // A writer that cannot take the lock cannot commit either.
  EXPECT_NE(user_error_of([&] { commit_generation(d.path(), 1); }).find("another anetrain process"),
            std::string::npos);
}

TEST(RunLock, TheLockGoesWithItsHolder) {
  TempDir d;
  { const OtherWriter other(d.path()); }  // the holder ends: flock releases with it
  EXPECT_NO_THROW(RunWriterLock mine(d.path()));
}

TEST(RunLock, RecoveryDeletesOnlyTheTempFilesItsWritesCreate) {
  TempDir d;
  commit_generation(d.path(), 1);
  write_plain(d.file("model.safetensors.tmp.4242.7"), "a killed atomic write");
  write_plain(d.file("notes.tmp.txt"), "the user's");
  write_plain(d.file("backup.tmp.1"), "the user's");
  write_plain(d.file("x.tmp.12.y"), "the user's");
  recover_checkpoint_dir(d.path());
  EXPECT_FALSE(fs::exists(d.file("model.safetensors.tmp.4242.7")));
  EXPECT_TRUE(fs::exists(d.file("notes.tmp.txt")));
  EXPECT_TRUE(fs::exists(d.file("backup.tmp.1")));
  EXPECT_TRUE(fs::exists(d.file("x.tmp.12.y")));
}

// The bug this lock fixes: a reader ran recovery and deleted the live writer's staging.
TEST(RunLock, AReaderLeavesALiveWritersStagingAlone) {
  TempDir d;
  commit_generation(d.path(), 1);
  const OtherWriter writer(d.path());
  fs::create_directory(d.file(".staging"));
  write_plain(d.file(".staging/model.safetensors"), "model 2, half written");
  write_plain(d.file("state.json.tmp.99.0"), "the writer's temp file");
  {
    const CheckpointReadLock reading(d.path());
    EXPECT_EQ(read_file(d.file("model.safetensors")), "model 1");
  }
  EXPECT_TRUE(fs::exists(d.file(".staging/model.safetensors")));
  EXPECT_TRUE(fs::exists(d.file("state.json.tmp.99.0")));
  EXPECT_NE(user_error_of([&] { recover_checkpoint_dir(d.path()); })
                .find("another anetrain process"),
            std::string::npos)
      << "only the writer recovers";
}

// A commit that a dead writer left half-published (marker written, one file renamed) is
// finished by the next reader, which takes the writer lock to do it.
TEST(RunLock, AReaderFinishesADeadWritersPublishedCommit) {
  TempDir d;
  commit_generation(d.path(), 1);
  fs::create_directory(d.file(".staging"));
  write_plain(d.file(".staging/model.safetensors"), "model 2");
  write_plain(d.file(".staging/state.json"), "state 2");
  write_plain(d.file(".staging/COMPLETE"), "model.safetensors\nstate.json\n");
  fs::rename(d.file(".staging/model.safetensors"), d.file("model.safetensors"));
  {
    const CheckpointReadLock reading(d.path());
    EXPECT_EQ(read_file(d.file("model.safetensors")), "model 2");
    EXPECT_EQ(read_file(d.file("state.json")), "state 2");
  }
  EXPECT_FALSE(fs::exists(d.file(".staging")));
  EXPECT_FALSE(holds_writer_lock(d.path())) << "the reader let the writer lock go";
}

// A reader waits while a writer publishes: it never sees one file of each generation.
TEST(RunLock, ReadersNeverSeeHalfOfACommit) {
  TempDir d;
  commit_generation(d.path(), 0);
  std::fflush(nullptr);
  const pid_t writer = fork();
  if (writer == 0) {
    try {
      for (int gen = 1; gen <= 300; ++gen) commit_generation(d.path(), gen);
    } catch (...) {
      _exit(3);
    }
    _exit(0);
  }
  int reads = 0, status = 0;
  while (waitpid(writer, &status, WNOHANG) == 0) {
    const CheckpointReadLock reading(d.path());
    const std::string model = read_file(d.file("model.safetensors"));
    const std::string state = read_file(d.file("state.json"));
    ASSERT_EQ(model.substr(6), state.substr(6)) << "a mixed checkpoint";
    ++reads;
  }
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "writer status " << status;
  EXPECT_GT(reads, 0);
  EXPECT_EQ(read_file(d.file("model.safetensors")), "model 300");
}

}  // namespace
}  // namespace anetrain
