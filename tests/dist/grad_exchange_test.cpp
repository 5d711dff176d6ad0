// The pieces of data parallelism that need no second process: how parameters are split into
// shards, a rank's rows of a global batch, a sharded optimizer's update, and the backward
// pass's report of final gradient ranges that overlapped reduction relies on.
#include "dist/grad_exchange.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <vector>

#include "backends/backend.h"
#include "core/error.h"
#include "core/parallel.h"
#include "data/data_loader.h"
#include "model/params.h"
#include "support/test_util.h"
#include "train/optimizer.h"
#include "train/transformer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

TEST(ShardPlan, ShardsAreWholeNormBlocksCoveringEveryParameterOnce) {
  const int64_t n = 1000003;
  for (int size : {1, 2, 3, 7, 64}) {
    int64_t next = 0;
    for (int rank = 0; rank < size; ++rank) {
      const ShardPlan plan = plan_shards(n, rank, size, /*sharded=*/true);
      EXPECT_EQ(plan.begin, next) << size;
      EXPECT_EQ(plan.begin, grad_norm_block_start(n, grad_norm_blocks(n), plan.first_block));
      EXPECT_EQ(plan.end, grad_norm_block_start(n, grad_norm_blocks(n), plan.end_block));
      EXPECT_EQ(plan.offsets[rank], plan.begin);
      EXPECT_EQ(plan.counts[rank], plan.end - plan.begin);
      EXPECT_GT(plan.end, plan.begin);
      next = plan.end;
    }
    EXPECT_EQ(next, n) << size;
  }
  // Unsharded (or alone), every rank owns everything.
  const ShardPlan replicated = plan_shards(n, 1, 4, /*sharded=*/false);
  EXPECT_EQ(replicated.begin, 0);
  EXPECT_EQ(replicated.end, n);
  EXPECT_FALSE(replicated.sharded);
  EXPECT_THROW(plan_shards(n, 0, 65, true), UserError);
}

TEST(ShardPlan, PartialNormsOfShardsSumToTheGlobalNormsBits) {
  const std::vector<float> g = random_normal(5, 123457, 1.0);
  const double whole = global_grad_norm(g.data(), static_cast<int64_t>(g.size()));
  std::vector<double> partial(grad_norm_blocks(static_cast<int64_t>(g.size())), 0.0);
  for (int rank = 0; rank < 3; ++rank) {
    const ShardPlan plan = plan_shards(static_cast<int64_t>(g.size()), rank, 3, true);
    grad_norm_partials(g.data(), static_cast<int64_t>(g.size()), plan.first_block, plan.end_block,
                       partial.data());
  }
  EXPECT_EQ(norm_of_partials(partial), whole);
}

TEST(DataSlices, RanksRowsAreTheRowsOfTheGlobalBatch) {
  TempDir dir;
  write_shard(dir.file("a.bin"), pattern_tokens(5000, 256, 1));
  write_shard(dir.file("b.bin"), pattern_tokens(3000, 256, 2));
  const std::string glob = dir.path() + "/*.bin";
  const int S = 16, B = 6;
  for (const std::string sampling : {"random", "epochs"}) {
    auto whole = make_training_loader(sampling, glob, S, 256, 9);
    std::vector<std::unique_ptr<TrainingLoader>> ranks;
    for (int r = 0; r < 3; ++r) ranks.push_back(make_training_loader(sampling, glob, S, 256, 9));
    for (int step = 0; step < 200; ++step) {  // enough to cross epochs
      std::vector<int32_t> in(B * S), tg(B * S), part_in(2 * S), part_tg(2 * S);
      whole->next_batch(B, in.data(), tg.data());
      for (int r = 0; r < 3; ++r) {
        ranks[r]->next_rows(B, 2 * r, 2, part_in.data(), part_tg.data());
        ASSERT_TRUE(std::equal(part_in.begin(), part_in.end(), in.begin() + 2 * r * S))
            << sampling << " step " << step << " rank " << r;
        ASSERT_TRUE(std::equal(part_tg.begin(), part_tg.end(), tg.begin() + 2 * r * S));
      }
    }
    // Every rank is at the global position: the state any of them saves resumes all.
    EXPECT_EQ(ranks[2]->state(), whole->state()) << sampling;
  }
  SequentialLoader val(glob, S, 256), val_part(glob, S, 256);
  std::vector<int32_t> in(B * S), tg(B * S), part_in(3 * S), part_tg(3 * S);
  for (int i = 0; i < 50; ++i) {
    val.next_batch(B, in.data(), tg.data());
    val_part.next_rows(B, 3, 3, part_in.data(), part_tg.data());
    ASSERT_TRUE(std::equal(part_in.begin(), part_in.end(), in.begin() + 3 * S)) << i;
  }
}

TEST(ShardedOptimizer, UpdatesItsRangeExactlyAsTheWholeOptimizerDoes) {
  RunConfig c = load_config("tiny");
  const ParamLayout layout(c.model);
  const int64_t n = layout.total();
  for (const std::string kind : {"adamw", "lion"}) {
    c.train.optimizer = kind;
    c.train.weight_decay = 0.1f;
    std::vector<float> whole_params = random_normal(1, n, 0.02);
    std::vector<float> shard_params = whole_params;
    const std::vector<float> initial = whole_params;
    const auto whole = make_optimizer(c.train, layout);
    auto shard = make_optimizer(c.train, layout);
    const int64_t begin = n / 3 + 5, end = 2 * n / 3 + 17;  // not tensor boundaries
    shard->restrict_to(begin, end);
    EXPECT_EQ(shard->state()[0].values.size(), static_cast<size_t>(end - begin));
    EXPECT_NEAR(shard->state_bytes_per_param(), whole->state_bytes_per_param() * (end - begin) / n,
                1e-9);
    for (int step = 1; step <= 3; ++step) {
      const std::vector<float> g = random_normal(10 + step, n, 1.0);
      whole->update(whole_params.data(), g.data(), 1e-3f, step, 0.5f);
      shard->update(shard_params.data(), g.data(), 1e-3f, step, 0.5f);
    }
    for (int64_t i = 0; i < n; ++i) {
      const bool mine = i >= begin && i < end;
      // Inside: the same floats; outside: untouched (the initial values).
      if (mine)
        ASSERT_EQ(shard_params[i], whole_params[i]) << kind << " " << i;
      else
        ASSERT_EQ(shard_params[i], initial[i]) << kind << " " << i;
    }
    for (size_t s = 0; s < whole->state().size(); ++s)
      for (int64_t i = begin; i < end; ++i)
        ASSERT_EQ(shard->state()[s].values[i - begin], whole->state()[s].values[i]) << kind;
  }
}

// Every range the backward pass reports is final when reported (nothing writes it later), the
// ranges come from the end of the layout to its start, back to back, and cover it all. With
// grad_accum the reports of the last micro-batch are what overlap relies on.
TEST(GradReady, ReportedRangesAreFinalContiguousAndCoverTheLayout) {
  init_thread_pool();
  for (const bool tied : {false, true}) {
    RunConfig c = load_config("tiny");
    c.model.tied_embeddings = tied;
    const ParamLayout layout(c.model);
    const int64_t n = layout.total();
    auto cpu = make_backend("cpu", {});
    Transformer model(c.model, *cpu, 2, c.model.seq_len, false);
    std::vector<float> params(n), grads(n, 0.0f), snapshot(n, 0.0f);
    init_params(c.model, layout, 0.02f, 4, params.data());
    const std::vector<int32_t> tokens = pattern_tokens(2 * c.model.seq_len + 1, 512, 3);
    std::vector<int32_t> in(tokens.begin(), tokens.end() - 1), tg(tokens.begin() + 1, tokens.end());
    int64_t expected_end = n;
    int reports = 0;
    model.forward_backward(params.data(), in.data(), tg.data(), 1.0f, grads.data(),
                           GradWrite::kOverwrite, [&](int64_t begin, int64_t end) {
                             EXPECT_EQ(end, expected_end) << "tied " << tied;
                             EXPECT_LE(begin, end);
                             std::copy(grads.begin() + begin, grads.begin() + end,
                                       snapshot.begin() + begin);
                             expected_end = begin;
                             ++reports;
                           });
    EXPECT_EQ(expected_end, 0) << "the reports cover the whole layout";
    EXPECT_EQ(reports, c.model.n_layers + 2);  // the tail, each block, the embedding
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(snapshot[i], grads[i]) << "changed after report " << i;
  }
}

}  // namespace
}  // namespace anetrain
