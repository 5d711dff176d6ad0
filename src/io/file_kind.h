// Checking what a path is before opening it. Opening a FIFO for reading blocks until a writer
// appears, and a device can be endless, so every input file anetrain reads whole (token shards,
// corpus files, dataset manifests) is stat()ed first and refused unless it is a regular file.
#pragma once

#include <string>

namespace anetrain {

// What `path` is, for messages: "a regular file", "a directory", "a FIFO (named pipe)", "a
// character device", "a block device", "a socket", "a symbolic link" (dangling), or "" when
// nothing is there. Follows symbolic links.
std::string file_kind(const std::string& path);

// Throws UserError unless `path` is a regular file (after following symbolic links):
// "'<path>' does not exist: <hint>" or "'<path>' is not a regular file (it is a FIFO (named
// pipe)): <hint>". `what` names the file's role ("token shard", "input"), prefixed to the path.
void require_regular_file(const std::string& path, const std::string& what,
                          const std::string& hint);

}  // namespace anetrain
