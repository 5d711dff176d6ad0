// EpochLoader: every window exactly once per epoch, a new order each epoch, and an exact
// resume from state() in the middle of an epoch.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/data_loader.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

TEST(EpochLoader, VisitsEveryWindowOncePerEpochInNewOrders) {
  TempDir dir;
  std::vector<int32_t> a(8 * 10 + 1), b(8 * 5 + 3);  // 10 and 5 windows of seq 8
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int32_t>(i % 100);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<int32_t>(100 + i % 100);
  write_shard(dir.file("a.bin"), a);
  write_shard(dir.file("b.bin"), b);
  EpochLoader loader(dir.file("*.bin"), 8, 256, 3);
  ASSERT_EQ(loader.num_windows(), 15);
  std::vector<int32_t> in(8), tg(8);
  std::vector<std::vector<int32_t>> epoch_orders(2);
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::map<std::vector<int32_t>, int> seen;
    for (int w = 0; w < 15; ++w) {
      loader.next_batch(1, in.data(), tg.data());
      ++seen[in];
      epoch_orders[epoch].push_back(in[0]);
      for (int s = 0; s < 7; ++s) EXPECT_EQ(tg[s], in[s + 1]);
    }
    EXPECT_EQ(seen.size(), 15u);
    for (const auto& [window, count] : seen) EXPECT_EQ(count, 1);
  }
  EXPECT_NE(epoch_orders[0], epoch_orders[1]) << "each epoch reshuffles";
  EXPECT_EQ(loader.epoch(), 1);
}

TEST(EpochLoader, ResumesExactlyMidEpochAndAcrossEpochs) {
  TempDir dir;
  write_shard(dir.file("a.bin"), pattern_tokens(2000, 256, 4));
  EpochLoader first(dir.file("a.bin"), 16, 256, 9);
  std::vector<int32_t> in(64), tg(64), in2(64), tg2(64);
  for (int i = 0; i < 20; ++i) first.next_batch(4, in.data(), tg.data());  // crosses an epoch
  const nlohmann::json saved = nlohmann::json::parse(first.state().dump());
  EpochLoader second(dir.file("a.bin"), 16, 256, 12345);
  second.set_state(saved);
  for (int i = 0; i < 40; ++i) {
    first.next_batch(4, in.data(), tg.data());
    second.next_batch(4, in2.data(), tg2.data());
    ASSERT_EQ(in, in2) << "batch " << i;
  }
  RandomWindowLoader random(dir.file("a.bin"), 16, 256, 1);
  EXPECT_THROW(random.set_state(saved), UserError);
  EXPECT_THROW(second.set_state(random.state()), UserError);
  EXPECT_THROW(make_training_loader("shuffled", dir.file("a.bin"), 16, 256, 1), UserError);
}

}  // namespace
}  // namespace anetrain
