#include "data/data_loader.h"

#include <glob.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace anetrain {
namespace {

// Opens and validates all shards for a loader; both loaders need whole windows of
// seq_len+1 tokens, so a shard too short for one is an error rather than silently unused.
std::vector<TokenShard> open_shards(const std::string& pattern, int seq_len, int vocab_size) {
  ANETRAIN_CHECK(seq_len > 0, "seq_len must be positive");
  std::vector<TokenShard> shards;
  for (const std::string& path : expand_glob(pattern)) {
    TokenShard shard = TokenShard::open(path, vocab_size);
    if (shard.size() < int64_t{seq_len} + 1) {
      throw UserError("'" + path + "' holds " + std::to_string(shard.size()) +
                      " tokens, fewer than one sequence (seq_len+1 = " +
                      std::to_string(seq_len + 1) + "); remove it or lower seq_len");
    }
    shards.push_back(std::move(shard));
  }
  return shards;
}

int64_t count_tokens(const std::vector<TokenShard>& shards) {
  int64_t total = 0;
  for (const TokenShard& s : shards) total += s.size();
  return total;
}

// Writes window `start` of `tokens` as one row of inputs and targets.
void copy_window(const uint16_t* tokens, int64_t start, int seq_len, int32_t* inputs,
                 int32_t* targets) {
  const uint16_t* w = tokens + start;
  for (int s = 0; s < seq_len; ++s) {
    inputs[s] = w[s];
    targets[s] = w[s + 1];
  }
}

void check_rows(int batch, int first, int rows, const int32_t* inputs, const int32_t* targets) {
  ANETRAIN_CHECK(batch > 0 && first >= 0 && rows > 0 && first + rows <= batch &&
                     inputs != nullptr && targets != nullptr,
                 "bad batch arguments");
}

std::string to_hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

[[noreturn]] void bad_state(const std::string& why) {
  throw UserError("training data loader state in the checkpoint is invalid: " + why +
                  "; the checkpoint may be corrupt or from another version");
}

uint64_t parse_hex_word(const nlohmann::json& j) {
  if (!j.is_string()) bad_state("rng words must be hex strings");
  const std::string& text = j.get_ref<const std::string&>();
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, 16);
  if (text.empty() || text.size() > 16 || ec != std::errc() || ptr != end) {
    bad_state("'" + text + "' is not a 64-bit hex word");
  }
  return value;
}

int64_t get_int(const nlohmann::json& state, const char* key) {
  const auto it = state.find(key);
  if (it == state.end() || !it->is_number_integer()) {
    bad_state(std::string("missing integer field '") + key + "'");
  }
  return it->get<int64_t>();
}

}  // namespace

std::vector<std::string> expand_glob(const std::string& pattern) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> paths;
  if (rc == 0) paths.assign(g.gl_pathv, g.gl_pathv + g.gl_pathc);
  ::globfree(&g);
  if (rc == GLOB_NOMATCH || (rc == 0 && paths.empty())) {
    throw UserError("no files match '" + pattern + "': check --data/--val");
  }
  if (rc != 0) {
    throw UserError("cannot expand '" + pattern +
                    "': a directory could not be read (check "
                    "permissions in --data/--val)");
  }
  // glob() sorts with strcoll, which depends on the locale; shard order feeds sampling and
  // validation order, so it must be the same everywhere.
  std::sort(paths.begin(), paths.end());
  return paths;
}

// ---- RandomWindowLoader ----------------------------------------------------------------

RandomWindowLoader::RandomWindowLoader(const std::string& pattern, int seq_len, int vocab_size,
                                       uint64_t seed)
    : shards_(open_shards(pattern, seq_len, vocab_size)), seq_len_(seq_len), rng_(seed) {
  total_tokens_ = count_tokens(shards_);
  int64_t end = 0;
  for (const TokenShard& s : shards_) {
    end += s.size() - seq_len;  // window starts 0 .. size-seq_len-1
    start_end_.push_back(end);
  }
}

void RandomWindowLoader::next_rows(int batch, int first, int rows, int32_t* inputs,
                                   int32_t* targets) {
  check_rows(batch, first, rows, inputs, targets);
  const auto total_starts = static_cast<uint64_t>(start_end_.back());
  for (int b = 0; b < batch; ++b) {
    // One uniform draw over all window starts of all shards: the same as picking a shard
    // in proportion to its start count and then a uniform offset in it, for one Rng call.
    const auto global = static_cast<int64_t>(rng_.below(total_starts));
    const size_t shard =
        std::upper_bound(start_end_.begin(), start_end_.end(), global) - start_end_.begin();
    const int64_t start = global - (shard == 0 ? 0 : start_end_[shard - 1]);
    if (b < first || b >= first + rows) continue;
    const int64_t row = int64_t{b - first} * seq_len_;
    copy_window(shards_[shard].data(), start, seq_len_, inputs + row, targets + row);
  }
  ++batches_drawn_;
}

nlohmann::json RandomWindowLoader::state() const {
  nlohmann::json words = nlohmann::json::array();
  for (uint64_t w : rng_.state()) words.push_back(to_hex(w));
  // seq_len, shard count and token total are not needed to resume; they let set_state
  // refuse a checkpoint taken over different data, where "resume" would not be exact.
  return {{"rng", words},
          {"batches", batches_drawn_},
          {"seq_len", seq_len_},
          {"num_shards", shards_.size()},
          {"total_tokens", total_tokens_}};
}

void RandomWindowLoader::set_state(const nlohmann::json& state) {
  if (!state.is_object()) bad_state("expected a JSON object");
  const auto rng_it = state.find("rng");
  if (rng_it == state.end() || !rng_it->is_array() || rng_it->size() != 4) {
    bad_state("'rng' must be an array of 4 hex strings");
  }
  std::array<uint64_t, 4> words{};
  for (size_t i = 0; i < 4; ++i) words[i] = parse_hex_word((*rng_it)[i]);
  if (words == std::array<uint64_t, 4>{}) bad_state("the rng state is all zero");
  const int64_t batches = get_int(state, "batches");
  if (batches < 0) bad_state("'batches' is negative");

  const int64_t seq_len = get_int(state, "seq_len");
  const int64_t num_shards = get_int(state, "num_shards");
  const int64_t total_tokens = get_int(state, "total_tokens");
  if (seq_len != seq_len_ || num_shards != static_cast<int64_t>(shards_.size()) ||
      total_tokens != total_tokens_) {
    throw UserError("cannot resume the training data position: the checkpoint was taken with " +
                    std::to_string(num_shards) + " shards, " + std::to_string(total_tokens) +
                    " tokens, seq_len " + std::to_string(seq_len) + " but now there are " +
                    std::to_string(shards_.size()) + " shards, " + std::to_string(total_tokens_) +
                    " tokens, seq_len " + std::to_string(seq_len_) +
                    "; resume with the same --data and seq_len");
  }
  rng_.set_state(words);
  batches_drawn_ = batches;
}

// ---- EpochLoader -----------------------------------------------------------------------

EpochLoader::EpochLoader(const std::string& pattern, int seq_len, int vocab_size, uint64_t seed)
    : shards_(open_shards(pattern, seq_len, vocab_size)), seq_len_(seq_len), rng_(seed) {
  total_tokens_ = count_tokens(shards_);
  for (size_t s = 0; s < shards_.size(); ++s)
    for (int64_t w = 0; w < (shards_[s].size() - 1) / seq_len_; ++w)
      windows_.push_back({static_cast<int32_t>(s), w * seq_len_});
  shuffle();
}

void EpochLoader::shuffle() {
  epoch_rng_ = rng_.state();
  order_.resize(windows_.size());
  for (size_t i = 0; i < order_.size(); ++i) order_[i] = static_cast<int64_t>(i);
  for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng_.below(i)]);
}

void EpochLoader::next_rows(int batch, int first, int rows, int32_t* inputs, int32_t* targets) {
  check_rows(batch, first, rows, inputs, targets);
  for (int b = 0; b < batch; ++b) {
    if (position_ == static_cast<int64_t>(order_.size())) {
      ++epoch_;
      position_ = 0;
      shuffle();
    }
    const auto [shard, start] = windows_[order_[position_++]];
    if (b < first || b >= first + rows) continue;
    const int64_t row = int64_t{b - first} * seq_len_;
    copy_window(shards_[shard].data(), start, seq_len_, inputs + row, targets + row);
  }
}

nlohmann::json EpochLoader::state() const {
  nlohmann::json words = nlohmann::json::array();
  for (uint64_t w : epoch_rng_) words.push_back(to_hex(w));
  return {{"sampling", "epochs"},         {"epoch_rng", words},  {"epoch", epoch_},
          {"position", position_},        {"seq_len", seq_len_}, {"num_shards", shards_.size()},
          {"total_tokens", total_tokens_}};
}

void EpochLoader::set_state(const nlohmann::json& state) {
  if (!state.is_object() || state.value("sampling", "") != "epochs")
    bad_state("not an epoch loader state (was the run started with another 'sampling'?)");
  const auto rng_it = state.find("epoch_rng");
  if (rng_it == state.end() || !rng_it->is_array() || rng_it->size() != 4)
    bad_state("'epoch_rng' must be an array of 4 hex strings");
  std::array<uint64_t, 4> words{};
  for (size_t i = 0; i < 4; ++i) words[i] = parse_hex_word((*rng_it)[i]);
  const int64_t epoch = get_int(state, "epoch"), position = get_int(state, "position");
  if (get_int(state, "seq_len") != seq_len_ ||
      get_int(state, "num_shards") != static_cast<int64_t>(shards_.size()) ||
      get_int(state, "total_tokens") != total_tokens_)
    throw UserError(
        "cannot resume the training data position: the checkpoint was taken over "
        "different shards or seq_len; resume with the same --data and seq_len");
  if (epoch < 0 || position < 0 || position > static_cast<int64_t>(windows_.size()))
    bad_state("'epoch' or 'position' out of range");
  rng_.set_state(words);
  shuffle();  // the same order as when this epoch began
  epoch_ = epoch;
  position_ = position;
}

std::unique_ptr<TrainingLoader> make_training_loader(const std::string& sampling,
                                                     const std::string& pattern, int seq_len,
                                                     int vocab_size, uint64_t seed) {
  if (sampling == "random")
    return std::make_unique<RandomWindowLoader>(pattern, seq_len, vocab_size, seed);
  if (sampling == "epochs")
    return std::make_unique<EpochLoader>(pattern, seq_len, vocab_size, seed);
  throw UserError("sampling '" + sampling + "' is unknown: use random or epochs");
}

// ---- SequentialLoader ------------------------------------------------------------------

SequentialLoader::SequentialLoader(const std::string& pattern, int seq_len, int vocab_size)
    : shards_(open_shards(pattern, seq_len, vocab_size)), seq_len_(seq_len) {
  total_tokens_ = count_tokens(shards_);
  // Window k spans tokens [k*seq_len, k*seq_len + seq_len], so it fits while
  // k*seq_len + seq_len <= size - 1.
  for (const TokenShard& s : shards_) num_windows_ += (s.size() - 1) / seq_len_;
}

void SequentialLoader::next_rows(int batch, int first, int rows, int32_t* inputs,
                                 int32_t* targets) {
  check_rows(batch, first, rows, inputs, targets);
  for (int b = 0; b < batch; ++b) {
    // Every shard holds at least one window (open_shards), so this terminates.
    while (window_ >= (shards_[shard_].size() - 1) / seq_len_) {
      window_ = 0;
      shard_ = (shard_ + 1) % shards_.size();
    }
    if (b >= first && b < first + rows) {
      const int64_t row = int64_t{b - first} * seq_len_;
      copy_window(shards_[shard_].data(), window_ * seq_len_, seq_len_, inputs + row,
                  targets + row);
    }
    ++window_;
  }
}

void SequentialLoader::reset() {
  shard_ = 0;
  window_ = 0;
}

}  // namespace anetrain
