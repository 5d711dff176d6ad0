// Reading and writing llm.c token shards (the `.bin` files its data scripts produce).
//
// Format (all little-endian): a 1024-byte header of 256 int32 -- [0] magic 20240520,
// [1] version 1, [2] token count N, the rest zero -- followed by N uint16 token ids.
//
// This file only handles one shard at a time: validating it, exposing its tokens, and
// writing one atomically. Choosing windows across shards is data_loader.h's job.
// Every problem with a file is a UserError whose one-line message names the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace anetrain {

inline constexpr int32_t kTokenShardMagic = 20240520;
inline constexpr int32_t kTokenShardVersion = 1;
inline constexpr int64_t kTokenShardHeaderBytes = 1024;

// Writes `count` tokens to `path` atomically: the data goes to a temporary file in the same
// directory, is fsynced, then renamed over `path`, so readers never see a partial shard.
void write_token_shard(const std::string& path, const uint16_t* tokens, int64_t count);
// Same, from wider ids (what tokenizers return). Ids outside [0, 65535] cannot be stored in
// the format and are refused with a UserError before anything is written.
void write_token_shard(const std::string& path, const std::vector<int32_t>& tokens);

// A validated, read-only, memory-mapped shard. Move-only; unmaps on destruction.
// The file must not be truncated while open (the OS would fault on access).
class TokenShard {
 public:
  // Maps `path` and validates the header, the file size and that every token id is below
  // vocab_size (one pass at open, so later reads need no checks). Throws UserError.
  static TokenShard open(const std::string& path, int vocab_size);

  TokenShard(TokenShard&& other) noexcept;
  TokenShard& operator=(TokenShard&& other) noexcept;
  TokenShard(const TokenShard&) = delete;
  TokenShard& operator=(const TokenShard&) = delete;
  ~TokenShard();

  int64_t size() const { return count_; }
  uint16_t operator[](int64_t i) const { return tokens_[i]; }
  const uint16_t* data() const { return tokens_; }
  const std::string& path() const { return path_; }

 private:
  TokenShard() = default;
  void unmap();

  std::string path_;
  void* mapping_ = nullptr;  // whole file, header included
  size_t mapping_bytes_ = 0;
  const uint16_t* tokens_ = nullptr;
  int64_t count_ = 0;
};

}  // namespace anetrain
