// Advisory locks on a run directory; see run_lock.h.
#include "io/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "core/error.h"

namespace anetrain {
namespace {

namespace fs = std::filesystem;

constexpr const char* kWriterLockName = ".anetrain-writer.lock";
constexpr const char* kCommitLockName = ".anetrain-commit.lock";
constexpr const char* kInheritedFdVariable = "ANETRAIN_RUN_LOCK_FD";

std::string canonical_dir(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(dir, ec);
  return (ec ? fs::path(dir) : p).string();
}

std::string lock_path(const std::string& dir, const char* name) {
  return (fs::path(dir) / name).string();
}

// Directories whose writer lock this process holds: flock locks belong to an open file, so a
// second open + flock in the same process would conflict with the first, not share it.
std::mutex held_mutex;
std::set<std::string>& held_dirs() {
  static std::set<std::string> dirs;
  return dirs;
}

[[noreturn]] void throw_lock_error(const std::string& what, const std::string& path, int err) {
  throw UserError("cannot " + what + " '" + path + "': " + std::strerror(err) +
                  " (check the run directory's permissions)");
}

// The pid the holder recorded in the writer lock file, or "unknown".
std::string recorded_pid(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "unknown";
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  close(fd);
  std::string pid(buf, n > 0 ? static_cast<size_t>(n) : 0);
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return pid.empty() ? "unknown" : pid;
}

// The descriptor a restarted trainer inherited for `path`'s lock, or -1.
int adopt_inherited(const std::string& path) {
  const char* value = std::getenv(kInheritedFdVariable);
  if (!value) return -1;
  char* end = nullptr;
  const long fd = std::strtol(value, &end, 10);
  struct stat inherited {}, wanted {};
  if (end == value || *end != '\0' || fd < 0 || fstat(static_cast<int>(fd), &inherited) != 0 ||
      stat(path.c_str(), &wanted) != 0 || inherited.st_dev != wanted.st_dev ||
      inherited.st_ino != wanted.st_ino)
    return -1;
  unsetenv(kInheritedFdVariable);
  fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  return static_cast<int>(fd);
}

}  // namespace

RunWriterLock::RunWriterLock(const std::string& dir) : dir_(canonical_dir(dir)) {
  std::lock_guard<std::mutex> guard(held_mutex);
  const std::string path = lock_path(dir_, kWriterLockName);
  if (held_dirs().count(dir_))
    throw UserError("'" + dir + "' is already being written by this process (pid " +
                    std::to_string(getpid()) + "): use another --out");
  fd_ = adopt_inherited(path);
  if (fd_ < 0) fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_lock_error("create the run directory's lock file", path, errno);
  if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    close(fd_);
    if (err != EWOULDBLOCK) throw_lock_error("lock", path, err);
    throw UserError("'" + dir + "' is being written by another anetrain process (pid " +
                    recorded_pid(path) +
                    "): wait for it to finish, or train into another --out");
  }
  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd_, 0) != 0 || pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is only for the message a refused writer prints; the lock itself holds.
  }
  held_dirs().insert(dir_);
}

RunWriterLock::~RunWriterLock() {
  std::lock_guard<std::mutex> guard(held_mutex);
  held_dirs().erase(dir_);
  if (fd_ >= 0) close(fd_);  // releases the flock
}

void RunWriterLock::keep_across_exec() {
  fcntl(fd_, F_SETFD, 0);
  setenv(kInheritedFdVariable, std::to_string(fd_).c_str(), 1);
}

bool holds_writer_lock(const std::string& dir) {
  std::lock_guard<std::mutex> guard(held_mutex);
  return held_dirs().count(canonical_dir(dir)) > 0;
}

std::unique_ptr<RunWriterLock> try_writer_lock(const std::string& dir) {
  if (holds_writer_lock(dir)) return nullptr;
  try {
    return std::make_unique<RunWriterLock>(dir);
  } catch (const UserError&) {
    return nullptr;
  }
}

CommitLock::CommitLock(const std::string& dir, Mode mode) {
  const std::string path = lock_path(dir, kCommitLockName);
  fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0 && errno == ENOENT) fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    // A reader of a directory it cannot write: no writer of this user can change it either.
    if (mode == Mode::kShared && (errno == EACCES || errno == EROFS)) return;
    throw_lock_error("open the checkpoint's commit lock", path, errno);
  }
  const int op = mode == Mode::kShared ? LOCK_SH : LOCK_EX;
  while (flock(fd_, op) != 0) {
    if (errno == EINTR) continue;
    const int err = errno;
    close(fd_);
    fd_ = -1;
    throw_lock_error("lock", path, err);
  }
}

CommitLock::~CommitLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace anetrain
