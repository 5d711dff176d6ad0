// Journaled checkpoint-directory commit and crash recovery; see checkpoint_commit.h.
#include "io/checkpoint_commit.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <regex>
#include <system_error>
#include <thread>

#include "core/error.h"
#include "io/atomic_file.h"

namespace fs = std::filesystem;

namespace anetrain {
namespace {

constexpr const char* kStagingName = ".staging";
constexpr const char* kMarkerName = "COMPLETE";

std::string join(const std::string& dir, const std::string& name) {
  return (fs::path(dir) / name).string();
}

// write_file_atomic's temp files contain ".tmp."; staged names must not, or recovery would
// mistake a committed file for debris.
bool is_temp_name(const std::string& name) { return name.find(".tmp.") != std::string::npos; }

// Exactly the names write_file_atomic gives its temp files ("NAME.tmp.PID.N"): recovery deletes
// these and no other file, such as a user's "notes.tmp.txt".
bool is_our_temp_file(const std::string& name) {
  static const std::regex pattern(R"(.+\.tmp\.[0-9]+\.[0-9]+)");
  return std::regex_match(name, pattern);
}

bool is_plain_name(const std::string& name) {
  return !name.empty() && name[0] != '.' && name.find('/') == std::string::npos &&
         name != kMarkerName && !is_temp_name(name);
}

[[noreturn]] void throw_fs_error(const std::string& what, const std::string& path,
                                 const std::error_code& ec) {
  throw UserError("cannot " + what + " '" + path + "': " + ec.message() +
                  " (check the checkpoint directory's permissions and free disk space)");
}

// Names of the regular files waiting in the staging directory, sorted so commits are
// reproducible. The marker and any temp files are not part of the checkpoint.
std::vector<std::string> list_staged(const std::string& staging) {
  std::vector<std::string> names;
  std::error_code ec;
  for (fs::directory_iterator it(staging, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec) || !is_plain_name(name)) continue;
    names.push_back(std::move(name));
  }
  if (ec) throw_fs_error("list staging directory", staging, ec);
  std::sort(names.begin(), names.end());
  return names;
}

// Step 3 of the protocol, shared by commit() and recovery. Safe to repeat after a crash at any
// point inside it: a name missing from staging was already renamed into dir.
void roll_forward(const std::string& dir, const std::vector<std::string>& names) {
  const std::string staging = join(dir, kStagingName);
  for (const std::string& name : names) {
    const std::string from = join(staging, name);
    const std::string to = join(dir, name);
    std::error_code ec;
    if (fs::exists(from, ec)) {
      fs::rename(from, to, ec);
      if (ec) throw_fs_error("move staged checkpoint file into place as", to, ec);
    } else if (!fs::exists(to, ec)) {
      throw UserError("checkpoint '" + dir + "' is damaged: its commit journal lists '" + name +
                      "' but the file is neither staged nor in place; restore it from a backup");
    }
  }
  // The renames must be durable before the marker goes, or a power cut could lose both.
  fsync_directory(dir);
  std::error_code ec;
  fs::remove(join(staging, kMarkerName), ec);
  if (ec) throw_fs_error("remove commit marker", join(staging, kMarkerName), ec);
  fs::remove_all(staging, ec);
  if (ec) throw_fs_error("remove staging directory", staging, ec);
  fsync_directory(dir);
}

std::vector<std::string> parse_manifest(const std::string& marker, const std::string& text) {
  std::vector<std::string> names;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string name = text.substr(start, end - start);
    if (!name.empty()) {
      if (!is_plain_name(name)) {
        throw UserError("checkpoint commit journal '" + marker +
                        "' is damaged (bad file name); delete it and the old checkpoint files "
                        "will be kept");
      }
      names.push_back(std::move(name));
    }
    start = end + 1;
  }
  return names;
}

}  // namespace

CheckpointCommit::CheckpointCommit(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  bool created = fs::create_directories(dir_, ec);
  if (ec) throw_fs_error("create checkpoint directory", dir_, ec);
  if (created) {
    // Make the new directory's own entry durable. has_filename() is false for "a/b/", whose
    // parent_path() would be "a/b" itself.
    fs::path normal = fs::path(dir_).lexically_normal();
    if (!normal.has_filename()) normal = normal.parent_path();
    std::string parent = normal.parent_path().string();
    fsync_directory(parent.empty() ? "." : parent);
  }
  if (!holds_writer_lock(dir_)) own_lock_ = std::make_unique<RunWriterLock>(dir_);
  recover_checkpoint_dir(dir_);
  staging_ = join(dir_, kStagingName);
  fs::create_directory(staging_, ec);
  if (ec) throw_fs_error("create staging directory", staging_, ec);
  // Roll-forward after a power cut needs the staging directory's own entry to be durable.
  fsync_directory(dir_);
}

CheckpointCommit::~CheckpointCommit() {
  // After the marker exists the new set is committed even if renaming failed; recovery must
  // finish it, so only an unmarked staging directory may be discarded here.
  if (committed_ || marker_written_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);  // best effort: recovery deletes it later anyway
}

std::string CheckpointCommit::staging_path(const std::string& filename) {
  ANETRAIN_CHECK(!committed_, "staging_path() after commit()");
  ANETRAIN_CHECK(is_plain_name(filename), "bad checkpoint file name '" + filename + "'");
  if (std::find(requested_.begin(), requested_.end(), filename) == requested_.end()) {
    requested_.push_back(filename);
  }
  return join(staging_, filename);
}

void CheckpointCommit::commit() {
  ANETRAIN_CHECK(!committed_ && !marker_written_, "commit() called twice");
  std::vector<std::string> names = list_staged(staging_);
  for (const std::string& name : requested_) {
    if (!std::binary_search(names.begin(), names.end(), name)) {
      throw UserError("cannot commit checkpoint '" + dir_ + "': '" + name +
                      "' was never written to its staging path");
    }
  }
  // Staged contents must be on disk before the marker can vouch for them.
  for (const std::string& name : names) fsync_file(join(staging_, name));
  fsync_directory(staging_);

  std::string manifest;
  for (const std::string& name : names) manifest += name + "\n";
  const CommitLock publishing(dir_, CommitLock::Mode::kExclusive);
  write_file_atomic(join(staging_, kMarkerName), manifest.data(), manifest.size());
  marker_written_ = true;

  roll_forward(dir_, names);
  committed_ = true;
}

void recover_checkpoint_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::unique_ptr<RunWriterLock> own_lock;
  if (!holds_writer_lock(dir)) own_lock = std::make_unique<RunWriterLock>(dir);
  const CommitLock publishing(dir, CommitLock::Mode::kExclusive);

  // Leftovers of a write_file_atomic that was killed before its rename. Collect first:
  // deleting while iterating is unspecified.
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) && is_our_temp_file(it->path().filename().string())) {
      stale.push_back(it->path());
    }
  }
  if (ec) throw_fs_error("list checkpoint directory", dir, ec);
  for (const fs::path& path : stale) {
    fs::remove(path, ec);
    if (ec) throw_fs_error("remove stale temp file", path.string(), ec);
  }

  const std::string staging = join(dir, kStagingName);
  const std::string marker = join(staging, kMarkerName);
  if (fs::exists(marker, ec)) {
    roll_forward(dir, parse_manifest(marker, read_file(marker)));
  } else if (fs::exists(fs::symlink_status(staging, ec))) {
    // No marker: the new set never became complete, so the old files in dir are the truth.
    fs::remove_all(staging, ec);
    if (ec) throw_fs_error("remove unfinished staging directory", staging, ec);
    fsync_directory(dir);
  }
}

CheckpointReadLock::CheckpointReadLock(const std::string& dir) {
  const std::string marker = join(join(dir, kStagingName), kMarkerName);
  // A marker seen under the shared lock was left by a writer that died while publishing (a live
  // one holds the exclusive lock until the marker is gone). Its commit is finished by whoever
  // holds the writer lock: this process if it can take it, else the writer that just started.
  constexpr int kAttempts = 50;
  for (int attempt = 1;; ++attempt) {
    lock_ = std::make_unique<CommitLock>(dir, CommitLock::Mode::kShared);
    std::error_code ec;
    if (!fs::exists(marker, ec)) return;
    lock_.reset();
    if (holds_writer_lock(dir)) {
      recover_checkpoint_dir(dir);
    } else if (const std::unique_ptr<RunWriterLock> writer = try_writer_lock(dir)) {
      recover_checkpoint_dir(dir);
    } else if (attempt == kAttempts) {
      throw UserError("checkpoint '" + dir +
                      "' has a half-published commit that another process holds the lock to "
                      "finish: try again in a moment");
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

}  // namespace anetrain
