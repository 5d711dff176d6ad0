// Turning a set of token shards into (input, target) batches for training and validation.
//
// A window is seq_len+1 consecutive tokens of one shard (windows never cross shards);
// inputs are its first seq_len tokens and targets the last seq_len, i.e. inputs shifted by
// one. Batches are written row-major as [batch][seq_len] int32.
//
//  - RandomWindowLoader (training): every window start in every shard is equally likely,
//    drawn from a seeded Rng. Its position is a few words (state()/set_state()), so a run
//    resumed from a checkpoint sees exactly the batches it would have seen.
//  - SequentialLoader (validation): fixed, non-overlapping windows in shard order, so every
//    validation pass scores the same tokens.
//
// This file does not tokenize, shuffle files, or prefetch; shard files are validated by
// token_shard.h when the loader opens them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/rng.h"
#include "data/token_shard.h"

namespace anetrain {

// Files matching a shell glob pattern (POSIX glob()), sorted bytewise so the shard order
// does not depend on the locale. No match is a UserError.
std::vector<std::string> expand_glob(const std::string& pattern);

// What the trainer draws training batches from: the next batch, and an exact, serializable
// position so that resume continues the same batch sequence.
class TrainingLoader {
 public:
  virtual ~TrainingLoader() = default;
  void next_batch(int batch, int32_t* inputs, int32_t* targets) {
    next_rows(batch, 0, batch, inputs, targets);
  }
  // Draws the next `batch` windows exactly as next_batch would, but writes only rows
  // [first, first + rows) of them: one rank's slice of a global batch (data parallel), so
  // every rank advances through the same sequence and the same global batch trains the same
  // whatever the number of ranks.
  virtual void next_rows(int batch, int first, int rows, int32_t* inputs, int32_t* targets) = 0;
  virtual nlohmann::json state() const = 0;
  virtual void set_state(const nlohmann::json& state) = 0;
};

// Creates the loader named by `sampling`: "random" (RandomWindowLoader) or "epochs"
// (EpochLoader). Throws UserError for another name.
std::unique_ptr<TrainingLoader> make_training_loader(const std::string& sampling,
                                                     const std::string& pattern, int seq_len,
                                                     int vocab_size, uint64_t seed);

class RandomWindowLoader : public TrainingLoader {
 public:
  // Opens every shard matching `pattern`. Each must hold at least seq_len+1 tokens, all
  // below vocab_size. Throws UserError naming the offending file.
  RandomWindowLoader(const std::string& pattern, int seq_len, int vocab_size, uint64_t seed);

  void next_rows(int batch, int first, int rows, int32_t* inputs, int32_t* targets) override;

  // The loader's position: {"rng": [4 hex strings], "batches": n, plus the seq_len, shard
  // count and token total it was taken with}. A loader over the same data given this state
  // yields the same remaining batches, bit for bit.
  nlohmann::json state() const;
  // Throws UserError (changing nothing) if `state` is malformed or was taken over
  // different data or a different seq_len.
  void set_state(const nlohmann::json& state);

  int64_t batches_drawn() const { return batches_drawn_; }
  int64_t total_tokens() const { return total_tokens_; }
  size_t num_shards() const { return shards_.size(); }

 private:
  std::vector<TokenShard> shards_;
  // Cumulative window-start counts: shard i owns global starts [end[i-1], end[i]).
  std::vector<int64_t> start_end_;
  int seq_len_;
  int64_t total_tokens_ = 0;
  Rng rng_;
  int64_t batches_drawn_ = 0;
};

// Epochs over non-overlapping windows (stride seq_len, never crossing a shard boundary), each
// epoch in a fresh random order (Fisher-Yates from the loader's RNG): every window is seen
// once per epoch. state() keeps the epoch number, the position in it and the RNG state from
// which the epoch's order was drawn, so resume rebuilds the same order.
class EpochLoader : public TrainingLoader {
 public:
  EpochLoader(const std::string& pattern, int seq_len, int vocab_size, uint64_t seed);
  void next_rows(int batch, int first, int rows, int32_t* inputs, int32_t* targets) override;
  nlohmann::json state() const override;
  void set_state(const nlohmann::json& state) override;
  int64_t epoch() const { return epoch_; }
  int64_t num_windows() const { return static_cast<int64_t>(order_.size()); }

 private:
  void shuffle();  // draws a new order from rng_, remembering the state it started from
  std::vector<TokenShard> shards_;
  std::vector<std::pair<int32_t, int64_t>> windows_;  // (shard, start) of every window
  std::vector<int64_t> order_;
  int seq_len_;
  int64_t total_tokens_ = 0, epoch_ = 0, position_ = 0;
  Rng rng_;
  std::array<uint64_t, 4> epoch_rng_{};
};

class SequentialLoader {
 public:
  // Opens every shard matching `pattern`, with the same checks as RandomWindowLoader.
  SequentialLoader(const std::string& pattern, int seq_len, int vocab_size);

  // Fills the next `batch` windows; after the last window it starts again from the first.
  void next_batch(int batch, int32_t* inputs, int32_t* targets) {
    next_rows(batch, 0, batch, inputs, targets);
  }
  // The next `batch` windows, writing only rows [first, first + rows) (TrainingLoader).
  void next_rows(int batch, int first, int rows, int32_t* inputs, int32_t* targets);
  // Goes back to the first window (call before each validation pass).
  void reset();

  // Windows per pass: sum over shards of (size - 1) / seq_len.
  int64_t num_windows() const { return num_windows_; }
  int64_t total_tokens() const { return total_tokens_; }
  size_t num_shards() const { return shards_.size(); }

 private:
  std::vector<TokenShard> shards_;
  int seq_len_;
  int64_t num_windows_ = 0;
  int64_t total_tokens_ = 0;
  size_t shard_ = 0;    // current shard
  int64_t window_ = 0;  // next window within it
};

}  // namespace anetrain
