// Durable whole-file I/O. write_file_atomic() replaces a file so that, after a crash or power
// loss at any instant, the path holds either the complete old contents or the complete new
// contents, never a mix: it writes a temp file in the same directory, syncs it, renames it over
// the path and syncs the directory. Temp files are named "<path>.tmp.<pid>.<n>"; a killed write
// can leave one behind, and checkpoint recovery deletes such leftovers (see checkpoint_commit.h).
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>

namespace anetrain {

// Atomically replaces `path` with `size` bytes from `data`. Throws UserError naming the path on
// any I/O failure, after removing the temp file.
void write_file_atomic(const std::string& path, const void* data, size_t size);

// Streaming variant for large files: `writer` writes the contents to the temp file's stream
// (plain fwrite is enough; a write error is detected afterwards through ferror). If `writer`
// throws, the temp file is removed, `path` is left untouched and the exception propagates.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& writer);

// Makes a file's contents durable (fsync; F_FULLFSYNC on macOS, where plain fsync does not
// reach stable storage). Throws UserError naming the path.
void fsync_file(const std::string& path);

// Makes a directory's entries (creations, renames, deletions) durable. Throws UserError naming
// the directory.
void fsync_directory(const std::string& dir);

// Creates `dir` and its missing parents. Throws UserError naming the directory and the reason
// (a file in the way, no permission) instead of std::filesystem's exception.
void create_directory_tree(const std::string& dir);

// Reads a whole file. Throws UserError naming the path if it is missing or unreadable.
std::string read_file(const std::string& path);

}  // namespace anetrain
