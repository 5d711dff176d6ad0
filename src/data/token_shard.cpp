#include "data/token_shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "core/error.h"
#include "io/file_kind.h"

namespace anetrain {
namespace {

// The format is little-endian and tokens are mapped in place, so a big-endian host would
// need byte swapping. Every platform anetrain targets is little-endian.
static_assert(std::endian::native == std::endian::little,
              "token shards are mapped in place and assume a little-endian host");

constexpr int kHeaderInts = 256;

std::string quoted(const std::string& path) { return "'" + path + "'"; }

std::string errno_text() { return std::strerror(errno); }

// Writes all of `bytes`, retrying short writes and EINTR; false on error (errno set).
bool write_all(int fd, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

// Creates a fresh temporary file next to `path` (same directory, so rename() stays atomic).
// The name carries the pid and a counter so concurrent writers never collide; O_EXCL guards
// against a stale leftover from a crashed run that happened to have the same pid.
int create_temp_beside(const std::string& path, std::string& temp_path) {
  static std::atomic<uint64_t> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp_path = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

// Best effort: makes the rename itself durable. Some filesystems refuse fsync on
// directories; the data is already safe in that case, so failures are ignored.
void fsync_parent_dir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

void write_token_shard(const std::string& path, const uint16_t* tokens, int64_t count) {
  ANETRAIN_CHECK(count >= 0, "negative token count");
  ANETRAIN_CHECK(tokens != nullptr || count == 0, "null tokens");
  if (count > std::numeric_limits<int32_t>::max()) {
    throw UserError("cannot write " + quoted(path) + ": " + std::to_string(count) +
                    " tokens exceed the format's limit of 2147483647 per shard; split the data "
                    "into several shards");
  }

  int32_t header[kHeaderInts] = {};
  header[0] = kTokenShardMagic;
  header[1] = kTokenShardVersion;
  header[2] = static_cast<int32_t>(count);

  std::string temp_path;
  const int fd = create_temp_beside(path, temp_path);
  if (fd < 0) {
    throw UserError("cannot write " + quoted(path) + ": " + errno_text() +
                    " (check that the directory exists and is writable)");
  }
  const bool ok = write_all(fd, header, sizeof header) &&
                  write_all(fd, tokens, static_cast<size_t>(count) * sizeof(uint16_t)) &&
                  ::fsync(fd) == 0;
  const std::string failure = ok ? std::string() : errno_text();
  const bool closed = ::close(fd) == 0;
  if (!ok || !closed || ::rename(temp_path.c_str(), path.c_str()) != 0) {
    const std::string reason = !failure.empty() ? failure : errno_text();
    ::unlink(temp_path.c_str());
    throw UserError("cannot write " + quoted(path) + ": " + reason +
                    " (check free disk space and permissions)");
  }
  fsync_parent_dir(path);
}

void write_token_shard(const std::string& path, const std::vector<int32_t>& tokens) {
  std::vector<uint16_t> narrow(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t id = tokens[i];
    if (id < 0 || id > 65535) {
      throw UserError("cannot write " + quoted(path) + ": token id " + std::to_string(id) +
                      " at position " + std::to_string(i) +
                      " is outside [0, 65535], which llm.c shards (uint16 ids) cannot store; "
                      "use a tokenizer with at most 65536 tokens");
    }
    narrow[i] = static_cast<uint16_t>(id);
  }
  write_token_shard(path, narrow.data(), static_cast<int64_t>(narrow.size()));
}

TokenShard TokenShard::open(const std::string& path, int vocab_size) {
  ANETRAIN_CHECK(vocab_size > 0, "vocab_size must be positive");
  // stat() before open(): opening a FIFO blocks until a writer appears.
  require_regular_file(path, "token shard", "point --data/--val at token shards");
  // O_NONBLOCK: should the path turn into a FIFO after the check, open() still returns at once
  // (and fstat() below refuses it); it changes nothing for a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    throw UserError("cannot open token shard " + quoted(path) + ": " + errno_text() +
                    " (check the path)");
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw UserError("token shard " + quoted(path) +
                    " is not a regular file: point --data/--val at token shards");
  }
  const int64_t file_bytes = st.st_size;
  if (file_bytes < kTokenShardHeaderBytes) {
    ::close(fd);
    throw UserError(quoted(path) + " is " + std::to_string(file_bytes) +
                    " bytes, shorter than the 1024-byte llm.c token shard header; the file is "
                    "not a token shard or is truncated");
  }

  TokenShard shard;
  shard.path_ = path;
  shard.mapping_bytes_ = static_cast<size_t>(file_bytes);
  void* mapping = ::mmap(nullptr, shard.mapping_bytes_, PROT_READ, MAP_PRIVATE, fd, 0);
  const std::string map_error = mapping == MAP_FAILED ? errno_text() : std::string();
  ::close(fd);  // the mapping keeps the file alive
  if (mapping == MAP_FAILED) {
    throw UserError("cannot map token shard " + quoted(path) + ": " + map_error);
  }
  shard.mapping_ = mapping;  // from here on the destructor unmaps, including on a throw below

  int32_t header[kHeaderInts];
  std::memcpy(header, mapping, sizeof header);
  if (header[0] != kTokenShardMagic) {
    throw UserError(quoted(path) + " is not an llm.c token shard (magic " +
                    std::to_string(header[0]) + ", expected 20240520)");
  }
  if (header[1] != kTokenShardVersion) {
    throw UserError(quoted(path) + ": unsupported token shard version " +
                    std::to_string(header[1]) +
                    " (anetrain reads version 1, uint16 tokens); re-export the data as version 1");
  }
  const int64_t claimed = header[2];
  const int64_t payload_bytes = file_bytes - kTokenShardHeaderBytes;
  if (claimed < 0 || payload_bytes != claimed * 2) {
    throw UserError(quoted(path) + ": header claims " + std::to_string(claimed) +
                    " tokens but the file holds " + std::to_string(payload_bytes / 2) +
                    (payload_bytes % 2 ? " and a half" : "") +
                    "; the shard is truncated or corrupt, regenerate it");
  }
  shard.count_ = claimed;
  shard.tokens_ =
      reinterpret_cast<const uint16_t*>(static_cast<const char*>(mapping) + kTokenShardHeaderBytes);

  // Vocabulary check: a branch-free max over all ids (vectorizes well) decides whether any
  // id is out of range; only then is the first offender located for the message.
  if (vocab_size <= 65535) {
    const uint16_t* t = shard.tokens_;
    uint16_t max_id = 0;
    for (int64_t i = 0; i < claimed; ++i) max_id = std::max(max_id, t[i]);
    if (max_id >= vocab_size) {
      const auto too_big = [&](uint16_t id) { return id >= vocab_size; };
      const int64_t pos = std::find_if(t, t + claimed, too_big) - t;
      throw UserError(quoted(path) + ": token id " + std::to_string(t[pos]) + " at position " +
                      std::to_string(pos) + " is >= vocab_size " + std::to_string(vocab_size) +
                      "; the shard was made with a different tokenizer");
    }
  }
  return shard;
}

TokenShard::TokenShard(TokenShard&& other) noexcept { *this = std::move(other); }

TokenShard& TokenShard::operator=(TokenShard&& other) noexcept {
  if (this != &other) {
    unmap();
    path_ = std::move(other.path_);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_bytes_ = std::exchange(other.mapping_bytes_, 0);
    tokens_ = std::exchange(other.tokens_, nullptr);
    count_ = std::exchange(other.count_, 0);
  }
  return *this;
}

TokenShard::~TokenShard() { unmap(); }

void TokenShard::unmap() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_bytes_);
  mapping_ = nullptr;
  mapping_bytes_ = 0;
  tokens_ = nullptr;
  count_ = 0;
}

}  // namespace anetrain
