#include "io/file_kind.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace anetrain {

std::string file_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    struct stat link {};
    if (errno == ENOENT && ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode))
      return "a symbolic link to nothing";
    return "";
  }
  if (S_ISREG(st.st_mode)) return "a regular file";
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISFIFO(st.st_mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISBLK(st.st_mode)) return "a block device";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  return "not a file anetrain can read";
}

void require_regular_file(const std::string& path, const std::string& what,
                          const std::string& hint) {
  const std::string prefix = (what.empty() ? "" : what + " ") + "'" + path + "'";
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISREG(st.st_mode)) return;
    throw UserError(prefix + " is not a regular file (it is " + file_kind(path) + "): " + hint);
  }
  const int err = errno;
  if (err == ENOENT || err == ENOTDIR) {
    const std::string kind = file_kind(path);
    throw UserError(prefix + (kind.empty() ? " does not exist" : " is " + kind) + ": " + hint);
  }
  throw UserError("cannot read " + prefix + ": " + std::strerror(err) + " (" + hint + ")");
}

}  // namespace anetrain
