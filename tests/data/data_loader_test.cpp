// Tests for src/data/data_loader.h: glob expansion, random training windows (validity,
// determinism, exact resume, coverage) and sequential validation windows.
#include "data/data_loader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/error.h"
#include "data/token_shard.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

namespace fs = std::filesystem;

// Shard i holds tokens i*1000, i*1000+1, ...: every token value names its shard and
// position, so a window's first input says exactly where it came from.
class DataLoaderTest : public ::testing::Test {
 protected:
  static constexpr int kVocab = 10000;

  std::string file(const std::string& name) const { return temp_.file(name); }
  std::string pattern() const { return temp_.file("shard_*.bin"); }

  // Writes shards shard_00.bin, shard_01.bin, ... with the given token counts.
  void write_shards(const std::vector<int>& sizes) {
    for (size_t i = 0; i < sizes.size(); ++i) {
      std::vector<int32_t> tokens(sizes[i]);
      for (int j = 0; j < sizes[i]; ++j) tokens[j] = static_cast<int32_t>(i * 1000 + j);
      char name[32];
      std::snprintf(name, sizeof name, "shard_%02zu.bin", i);
      write_token_shard(file(name), tokens);
    }
  }

  testing::TempDir temp_;
};

struct Batch {
  std::vector<int32_t> inputs, targets;
  bool operator==(const Batch&) const = default;
};

template <class Loader>
Batch draw(Loader& loader, int batch, int seq_len) {
  Batch b{std::vector<int32_t>(batch * seq_len), std::vector<int32_t>(batch * seq_len)};
  loader.next_batch(batch, b.inputs.data(), b.targets.data());
  return b;
}

template <class Loader>
std::vector<Batch> draw_many(Loader& loader, int count, int batch, int seq_len) {
  std::vector<Batch> out;
  for (int i = 0; i < count; ++i) out.push_back(draw(loader, batch, seq_len));
  return out;
}

std::string user_error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UserError";
  return "";
}

TEST_F(DataLoaderTest, GlobExpandsSortedAndRejectsNoMatch) {
  write_shards({10, 10, 10});
  write_token_shard(file("other.bin"), std::vector<int32_t>{1});
  const std::vector<std::string> paths = expand_glob(pattern());
  EXPECT_EQ(paths, (std::vector<std::string>{file("shard_00.bin"), file("shard_01.bin"),
                                             file("shard_02.bin")}));
  EXPECT_EQ(expand_glob(file("other.bin")), std::vector<std::string>{file("other.bin")});

  const std::string none = temp_.file("nothing_*.bin");
  EXPECT_EQ(user_error_message([&] { expand_glob(none); }),
            "no files match '" + none + "': check --data/--val");
  EXPECT_NE(user_error_message([&] { RandomWindowLoader(none, 4, kVocab, 1); }).find(none),
            std::string::npos);
}

TEST_F(DataLoaderTest, ShardShorterThanOneSequenceIsNamed) {
  write_shards({100, 40});
  const std::string message =
      user_error_message([&] { RandomWindowLoader(pattern(), 64, kVocab, 1); });
  EXPECT_NE(message.find("'" + file("shard_01.bin") +
                         "' holds 40 tokens, fewer than one sequence (seq_len+1 = 65)"),
            std::string::npos)
      << message;
  EXPECT_NE(user_error_message([&] {
              SequentialLoader(pattern(), 64, kVocab);
            }).find(file("shard_01.bin")),
            std::string::npos);
  // Exactly seq_len+1 tokens is one window and is accepted.
  EXPECT_NO_THROW(RandomWindowLoader(pattern(), 39, kVocab, 1));
}

TEST_F(DataLoaderTest, BadShardInGlobIsNamed) {
  write_shards({100, 100});
  write_token_shard(file("shard_05.bin"), std::vector<int32_t>{1, 2, 3, 9999});
  const std::string message =
      user_error_message([&] { RandomWindowLoader(pattern(), 2, 5000, 1); });
  EXPECT_NE(message.find("'" + file("shard_05.bin") + "': token id 9999 at position 3"),
            std::string::npos)
      << message;
}

TEST_F(DataLoaderTest, RandomWindowsAreContiguousSlicesWithShiftedTargets) {
  const std::vector<int> sizes = {50, 120, 33};
  write_shards(sizes);
  const int seq_len = 16, batch = 8;
  RandomWindowLoader loader(pattern(), seq_len, kVocab, 1234);
  EXPECT_EQ(loader.num_shards(), 3u);
  EXPECT_EQ(loader.total_tokens(), 50 + 120 + 33);
  for (int step = 0; step < 50; ++step) {
    const Batch b = draw(loader, batch, seq_len);
    for (int row = 0; row < batch; ++row) {
      const int32_t first = b.inputs[row * seq_len];
      const int shard = first / 1000, start = first % 1000;
      ASSERT_LT(shard, 3);
      // The window's last target, start + seq_len, must exist in the shard.
      ASSERT_LE(start + seq_len, sizes[shard] - 1) << "window runs past the shard end";
      for (int s = 0; s < seq_len; ++s) {
        ASSERT_EQ(b.inputs[row * seq_len + s], shard * 1000 + start + s);
        ASSERT_EQ(b.targets[row * seq_len + s], shard * 1000 + start + s + 1);
      }
    }
  }
  EXPECT_EQ(loader.batches_drawn(), 50);
}

TEST_F(DataLoaderTest, SameSeedSameBatchesDifferentSeedDifferent) {
  write_shards({200, 300});
  RandomWindowLoader a(pattern(), 8, kVocab, 42), b(pattern(), 8, kVocab, 42),
      c(pattern(), 8, kVocab, 43);
  const auto batches_a = draw_many(a, 10, 4, 8);
  EXPECT_EQ(batches_a, draw_many(b, 10, 4, 8));
  EXPECT_NE(batches_a, draw_many(c, 10, 4, 8));
}

TEST_F(DataLoaderTest, StateResumesTheExactSequence) {
  write_shards({200, 300, 150});
  RandomWindowLoader original(pattern(), 8, kVocab, 7);
  draw_many(original, 5, 4, 8);
  // Through text, as a checkpoint would store it.
  const nlohmann::json saved = nlohmann::json::parse(original.state().dump());
  const auto expected = draw_many(original, 5, 4, 8);

  RandomWindowLoader resumed(pattern(), 8, kVocab, 999);  // the seed must not matter
  resumed.set_state(saved);
  EXPECT_EQ(resumed.batches_drawn(), 5);
  EXPECT_EQ(draw_many(resumed, 5, 4, 8), expected);
  EXPECT_EQ(resumed.batches_drawn(), 10);
  EXPECT_EQ(resumed.state(), original.state());
}

TEST_F(DataLoaderTest, MalformedOrMismatchedStateIsRejectedAndChangesNothing) {
  write_shards({200, 300});
  RandomWindowLoader loader(pattern(), 8, kVocab, 7);
  draw_many(loader, 3, 2, 8);
  const nlohmann::json good = loader.state();

  std::vector<nlohmann::json> bad;
  bad.push_back(nlohmann::json::array());
  bad.push_back(nlohmann::json::object());
  auto with = [&](const std::string& key, const nlohmann::json& value) {
    nlohmann::json j = good;
    j[key] = value;
    return j;
  };
  auto without = [&](const std::string& key) {
    nlohmann::json j = good;
    j.erase(key);
    return j;
  };
  bad.push_back(without("rng"));
  bad.push_back(without("batches"));
  bad.push_back(with("rng", {"1", "2", "3"}));
  bad.push_back(with("rng", {"1", "2", "3", "xyz"}));
  bad.push_back(with("rng", {"1", "2", "3", "11112222333344445"}));  // 17 digits
  bad.push_back(with("rng", {1, 2, 3, 4}));
  bad.push_back(with("rng", {"0", "0", "0", "0"}));
  bad.push_back(with("batches", "5"));
  bad.push_back(with("batches", -1));
  bad.push_back(with("seq_len", 16));        // different seq_len
  bad.push_back(with("num_shards", 3));      // different data
  bad.push_back(with("total_tokens", 501));  // different data
  for (const nlohmann::json& state : bad) {
    EXPECT_THROW(loader.set_state(state), UserError) << state.dump();
    EXPECT_EQ(loader.state(), good) << "a failed set_state must not change the loader";
  }
  EXPECT_NE(user_error_message([&] { loader.set_state(with("seq_len", 16)); }).find("seq_len"),
            std::string::npos);
  EXPECT_NO_THROW(loader.set_state(good));
}

TEST_F(DataLoaderTest, SamplingCoversEveryShardAndStartInProportion) {
  const std::vector<int> sizes = {10, 20, 40};  // 6, 16 and 36 window starts with seq_len 4
  write_shards(sizes);
  const int seq_len = 4, draws = 20000;
  RandomWindowLoader loader(pattern(), seq_len, kVocab, 3);
  std::map<int, int> per_shard;
  std::set<int32_t> starts_seen;
  for (int i = 0; i < draws / 10; ++i) {
    const Batch b = draw(loader, 10, seq_len);
    for (int row = 0; row < 10; ++row) {
      per_shard[b.inputs[row * seq_len] / 1000]++;
      starts_seen.insert(b.inputs[row * seq_len]);
    }
  }
  EXPECT_EQ(starts_seen.size(), 6u + 16u + 36u) << "every window start should occur";
  const double total_starts = 58;
  const double expected[] = {6 / total_starts, 16 / total_starts, 36 / total_starts};
  for (int s = 0; s < 3; ++s) {
    EXPECT_NEAR(per_shard[s] / double(draws), expected[s], 0.02) << "shard " << s;
  }
}

TEST_F(DataLoaderTest, SequentialOrderAndWrapAround) {
  // seq_len 3: shard 0 (10 tokens) has windows at 0, 3, 6 (the last ends at token 9);
  // shard 1 (7 tokens) has windows at 0, 3.
  write_shards({10, 7});
  const int seq_len = 3;
  SequentialLoader loader(pattern(), seq_len, kVocab);
  EXPECT_EQ(loader.num_windows(), 5);
  EXPECT_EQ(loader.num_shards(), 2u);
  EXPECT_EQ(loader.total_tokens(), 17);

  const std::vector<int32_t> pass_starts = {0, 3, 6, 1000, 1003};
  auto check = [&](const Batch& b, const std::vector<int32_t>& starts) {
    ASSERT_EQ(b.inputs.size(), starts.size() * seq_len);
    for (size_t row = 0; row < starts.size(); ++row) {
      for (int s = 0; s < seq_len; ++s) {
        EXPECT_EQ(b.inputs[row * seq_len + s], starts[row] + s) << "row " << row;
        EXPECT_EQ(b.targets[row * seq_len + s], starts[row] + s + 1) << "row " << row;
      }
    }
  };
  check(draw(loader, 5, seq_len), pass_starts);
  check(draw(loader, 2, seq_len), {0, 3});              // wrapped
  check(draw(loader, 4, seq_len), {6, 1000, 1003, 0});  // wraps inside a batch
  loader.reset();
  check(draw(loader, 1, seq_len), {0});
  loader.reset();
  check(draw(loader, 12, seq_len), {0, 3, 6, 1000, 1003, 0, 3, 6, 1000, 1003, 0, 3});
}

}  // namespace
}  // namespace anetrain
