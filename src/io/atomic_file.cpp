// Temp-file + fsync + rename + directory fsync; see atomic_file.h for the guarantee.
#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/file_kind.h"

namespace anetrain {
namespace {

// Flushes a descriptor to stable storage. On macOS fsync only reaches the drive's cache, so a
// power cut could still reorder writes; F_FULLFSYNC is the real barrier. Some filesystems
// (network mounts) reject it, hence the fsync fallback.
int sync_fd(int fd) {
#ifdef __APPLE__
  if (fcntl(fd, F_FULLFSYNC) == 0) return 0;
#endif
  while (fsync(fd) != 0) {
    if (errno != EINTR) return -1;
  }
  return 0;
}

// Returns 0 or an errno. Some filesystems cannot sync a directory and say EINVAL; there is
// nothing stronger to do there, and refusing to save checkpoints on them would be worse.
int sync_dir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = (sync_fd(fd) != 0 && errno != EINVAL) ? errno : 0;
  close(fd);
  return err;
}

std::string parent_dir(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// pid keeps concurrent processes apart; the counter keeps threads (and repeated writes within
// one process) apart.
std::string temp_path_for(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  return path + ".tmp." + std::to_string(static_cast<long>(getpid())) + "." +
         std::to_string(counter.fetch_add(1));
}

[[noreturn]] void throw_write_error(const std::string& path, int err) {
  throw UserError("cannot write '" + path + "': " + std::strerror(err) +
                  " (check that the directory exists and is writable and the disk is not full)");
}

}  // namespace

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  write_file_atomic(path, [&](std::FILE* f) {
    if (size > 0) std::fwrite(data, 1, size, f);
  });
}

void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer) {
  const std::string tmp = temp_path_for(path);
  // open + fdopen rather than fopen so the descriptor is close-on-exec.
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) throw_write_error(path, errno);
  std::FILE* f = fdopen(fd, "wb");
  if (f == nullptr) {
    int err = errno;
    close(fd);
    unlink(tmp.c_str());
    throw_write_error(path, err);
  }

  auto fail = [&](int err) {
    if (f != nullptr) std::fclose(f);
    unlink(tmp.c_str());
    throw_write_error(path, err != 0 ? err : EIO);
  };

  errno = 0;
  try {
    writer(f);
  } catch (...) {
    std::fclose(f);
    unlink(tmp.c_str());
    throw;
  }
  // ferror is sticky, so one check catches a failure anywhere in the writer's fwrites.
  if (std::ferror(f)) fail(errno);
  if (std::fflush(f) != 0) fail(errno);
  if (sync_fd(fileno(f)) != 0) fail(errno);
  int close_result = std::fclose(f);
  f = nullptr;
  if (close_result != 0) fail(errno);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(errno);
  // The new contents are in place; this only makes the rename itself survive a power cut.
  if (int err = sync_dir(parent_dir(path)); err != 0) throw_write_error(path, err);
}

void fsync_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || sync_fd(fd) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    throw UserError("cannot sync '" + path + "' to disk: " + std::strerror(err));
  }
  close(fd);
}

void fsync_directory(const std::string& dir) {
  if (int err = sync_dir(dir); err != 0) {
    throw UserError("cannot sync directory '" + dir + "' to disk: " + std::strerror(err));
  }
}

void create_directory_tree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw UserError("cannot create directory '" + dir + "': " + ec.message() +
                    " (choose a path under a writable directory)");
}

std::string read_file(const std::string& path) {
  // Opening a FIFO blocks until a writer appears, and a device can be endless.
  struct stat before;
  if (stat(path.c_str(), &before) == 0 && !S_ISREG(before.st_mode))
    throw UserError("cannot read '" + path + "': it is " + file_kind(path) +
                    ", not a regular file (give the path of a file)");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    throw UserError("cannot read '" + path + "': " + std::strerror(errno) +
                    " (check the path and its permissions)");
  }
  std::string contents;
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && st.st_size > 0) {
    contents.reserve(static_cast<size_t>(st.st_size));
  }
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) contents.append(buffer, n);
  // A directory opens fine on Linux and only fails here, with EISDIR.
  if (std::ferror(f)) {
    int err = errno;
    std::fclose(f);
    throw UserError("cannot read '" + path + "': " + std::strerror(err));
  }
  std::fclose(f);
  return contents;
}

}  // namespace anetrain
