// Tests for write_file_atomic / read_file / fsync helpers: contents round-trip, failures throw
// UserError naming the path, and no temp files are ever left behind.
#include "io/atomic_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>

#include "core/error.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  std::set<std::string> entries() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.insert(e.path().filename().string());
    return names;
  }

  anetrain::testing::TempDir temp_;
  const std::string dir_ = temp_.path();
};

template <typename F>
void expect_user_error_mentioning(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected UserError mentioning " << needle;
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "message must be one line";
  }
}

TEST_F(AtomicFileTest, WritesAndReadsBackBinaryContents) {
  const std::string path = dir_ + "/blob.bin";
  const std::string data("a\0b\xff\n z", 7);
  write_file_atomic(path, data.data(), data.size());
  EXPECT_EQ(read_file(path), data);
  EXPECT_EQ(entries(), std::set<std::string>{"blob.bin"});
}

TEST_F(AtomicFileTest, ReplacesExistingFileAndLeavesNoTempFiles) {
  const std::string path = dir_ + "/state.json";
  for (int i = 0; i < 5; ++i) {
    std::string data = "generation " + std::to_string(i) + std::string(i * 1000, 'x');
    write_file_atomic(path, data.data(), data.size());
    EXPECT_EQ(read_file(path), data);
  }
  EXPECT_EQ(entries(), std::set<std::string>{"state.json"});
}

TEST_F(AtomicFileTest, EmptyFile) {
  const std::string path = dir_ + "/empty";
  write_file_atomic(path, nullptr, 0);
  EXPECT_EQ(read_file(path), "");
}

TEST_F(AtomicFileTest, StreamingWriter) {
  const std::string path = dir_ + "/streamed.txt";
  write_file_atomic(path, [](std::FILE* f) {
    for (int i = 0; i < 1000; ++i) std::fprintf(f, "%d\n", i);
  });
  std::string expected;
  for (int i = 0; i < 1000; ++i) expected += std::to_string(i) + "\n";
  EXPECT_EQ(read_file(path), expected);
  EXPECT_EQ(entries(), std::set<std::string>{"streamed.txt"});
}

TEST_F(AtomicFileTest, WriterExceptionKeepsOldFileAndRemovesTemp) {
  const std::string path = dir_ + "/keep.txt";
  write_file_atomic(path, "old", 3);
  EXPECT_THROW(write_file_atomic(path,
                                 [](std::FILE* f) {
                                   std::fputs("partial new contents", f);
                                   throw std::runtime_error("writer failed");
                                 }),
               std::runtime_error);
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(entries(), std::set<std::string>{"keep.txt"});
}

TEST_F(AtomicFileTest, StreamErrorThrowsUserErrorAndKeepsOldFile) {
  const std::string path = dir_ + "/keep.txt";
  write_file_atomic(path, "old", 3);
  // Reading from a write-only stream sets its error indicator: a stand-in for a failed fwrite
  // (disk full), which write_file_atomic must notice through ferror.
  expect_user_error_mentioning(
      [&] { write_file_atomic(path, [](std::FILE* f) { (void)std::fgetc(f); }); }, path);
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(entries(), std::set<std::string>{"keep.txt"});
}

TEST_F(AtomicFileTest, MissingDirectoryThrowsUserErrorNamingPath) {
  const std::string path = dir_ + "/no/such/dir/file.bin";
  expect_user_error_mentioning([&] { write_file_atomic(path, "x", 1); }, "cannot write '" + path);
}

TEST_F(AtomicFileTest, ReadFileErrorsNameThePath) {
  const std::string missing = dir_ + "/missing.txt";
  expect_user_error_mentioning([&] { read_file(missing); }, missing);
  // A directory opens but cannot be read.
  expect_user_error_mentioning([&] { read_file(dir_); }, dir_);
}

TEST_F(AtomicFileTest, FsyncHelpers) {
  const std::string path = dir_ + "/f";
  write_file_atomic(path, "abc", 3);
  EXPECT_NO_THROW(fsync_file(path));
  EXPECT_NO_THROW(fsync_directory(dir_));
  expect_user_error_mentioning([&] { fsync_file(dir_ + "/nope"); }, dir_ + "/nope");
  expect_user_error_mentioning([&] { fsync_directory(dir_ + "/nope"); }, dir_ + "/nope");
}

TEST_F(AtomicFileTest, RelativePathInCurrentDirectory) {
  // A bare file name has no parent component; the directory to sync is ".".
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir_);
  EXPECT_NO_THROW(write_file_atomic("relative.txt", "hi", 2));
  fs::current_path(old_cwd);
  EXPECT_EQ(read_file(dir_ + "/relative.txt"), "hi");
}

}  // namespace
}  // namespace anetrain
