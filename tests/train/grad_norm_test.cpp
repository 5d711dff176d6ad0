// The clipping norm (train/grad_norm.h): summed in parts as backward finishes them, it has the
// bits of one pass over every gradient; the Transformer hands over each weight gradient once it
// is final; the step's loss scale costs no pass of its own and changes no bit.
#include "train/grad_norm.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "backends/backend.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "model/params.h"
#include "support/test_util.h"
#include "train/optimizer.h"
#include "train/train_step.h"
#include "train/transformer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

// The norm in long double, one gradient at a time: what the fixed-order sum approximates.
double reference_norm(const std::vector<float>& g) {
  long double sum = 0;
  for (float x : g) sum += static_cast<long double>(x) * x;
  return static_cast<double>(std::sqrt(sum));
}

TEST(GradNorm, BlocksAreAbout16KFloatsAndAtLeast64) {
  EXPECT_EQ(grad_norm_blocks(1000), 64);
  EXPECT_EQ(grad_norm_blocks(1 << 20), 64);
  EXPECT_EQ(grad_norm_blocks(7000000), 7000000 / 16384);
  for (int64_t n : {int64_t(1000), int64_t(123457), int64_t(7000000)}) {
    const int64_t k = grad_norm_blocks(n);
    EXPECT_EQ(grad_norm_block_start(n, k, 0), 0);
    EXPECT_EQ(grad_norm_block_start(n, k, k), n);
  }
}

TEST(GradNorm, AnyFinishedRangesGiveTheBitsOfOnePass) {
  init_thread_pool();
  for (int64_t n : {int64_t(100), int64_t(123457), int64_t(2500001)}) {
    const std::vector<float> g = random_normal(3, n, 1e-3);
    const double whole = global_grad_norm(g.data(), n);
    EXPECT_NEAR(whole, reference_norm(g), 1e-12 * whole) << n;
    Rng rng(static_cast<uint64_t>(n));
    for (int trial = 0; trial < 8; ++trial) {
      // Random disjoint ranges (some empty, some inside one block), given in random order
      // from two threads at once; gaps are left for finish().
      std::vector<int64_t> cuts = {0, n};
      for (int c = 0; c < 20; ++c) cuts.push_back(static_cast<int64_t>(rng.below(n + 1)));
      std::sort(cuts.begin(), cuts.end());
      std::vector<std::pair<int64_t, int64_t>> ranges;
      for (size_t c = 0; c + 1 < cuts.size(); ++c)
        if (rng.below(4) != 0) ranges.push_back({cuts[c], cuts[c + 1]});
      for (size_t i = ranges.size(); i > 1; --i) std::swap(ranges[i - 1], ranges[rng.below(i)]);
      GradNorm norm;
      norm.start(g.data(), n);
      std::thread other([&] {
        for (size_t i = 0; i < ranges.size(); i += 2)
          norm.finished(ranges[i].first, ranges[i].second);
      });
      for (size_t i = 1; i < ranges.size(); i += 2)
        norm.finished(ranges[i].first, ranges[i].second);
      other.join();
      EXPECT_EQ(norm.finish(), whole) << "n " << n << " trial " << trial;
    }
    GradNorm untouched;  // no range at all: finish() sums everything
    untouched.start(g.data(), n);
    EXPECT_EQ(untouched.finish(), whole);
  }
}

TEST(GradNorm, OnlyBlocksInsideAFinishedRangeAreSummedEarly) {
  const int64_t n = 64 * 1000;  // 64 blocks of 1000
  std::vector<float> g(n, 1.0f);
  GradNorm norm;
  norm.start(g.data(), n);
  norm.finished(500, 3500);  // blocks 1 and 2 lie inside; 0 and 3 only partly
  EXPECT_EQ(norm.blocks_summed(), 2);
  g[0] = 3.0f;     // block 0 was not summed yet: finish() must see the change
  g[1500] = 3.0f;  // block 1 was: the early sum stands (it was final)
  EXPECT_EQ(norm.finish(), std::sqrt(static_cast<double>(n - 1 + 9)));
}

// The blocks wholly inside the ranges a backward pass declares final: per layer Wq..Wo and
// W1..W3, and an untied classifier.
int64_t blocks_inside_weights(const ParamLayout& layout, const ModelConfig& mc) {
  const int64_t n = layout.total(), k = grad_norm_blocks(n);
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (int l = 0; l < mc.n_layers; ++l) {
    const LayerParams& lp = layout.layer(l);
    ranges.push_back({lp.wq, lp.ffn_norm});
    ranges.push_back(
        {lp.w1, l + 1 < mc.n_layers ? layout.layer(l + 1).attention_norm : layout.final_norm()});
  }
  if (layout.classifier() != layout.tok_embeddings())
    ranges.push_back({layout.classifier(), layout.classifier() + mc.vocab_size * mc.dim});
  int64_t inside = 0;
  for (int64_t b = 0; b < k; ++b)
    for (const auto& [begin, end] : ranges)
      if (grad_norm_block_start(n, k, b) >= begin && grad_norm_block_start(n, k, b + 1) <= end)
        ++inside;
  return inside;
}

TEST(GradNorm, BackwardHandsOverEachWeightGradientOnceFinal) {
  init_thread_pool();
  for (bool tied : {true, false}) {
    RunConfig c = load_config("tiny");
    c.model.tied_embeddings = tied;
    ParamLayout layout(c.model);
    std::vector<float> params(layout.total()), grads(layout.total());
    init_params(c.model, layout, 0.02f, 1, params.data());
    auto cpu = make_backend("cpu", {});
    Transformer model(c.model, *cpu, 1, c.model.seq_len, false);
    const int64_t T = model.dims().T();
    const std::vector<int32_t> tokens = pattern_tokens(T + 1, c.model.vocab_size, 4);
    GradNorm norm;
    norm.start(grads.data(), layout.total());
    model.forward_backward(params.data(), tokens.data(), tokens.data() + 1, 1.0f / T, grads.data(),
                           GradWrite::kOverwrite, GradReady(), &norm);
    const int64_t expected = blocks_inside_weights(layout, c.model);
    EXPECT_GT(expected, grad_norm_blocks(layout.total()) / 4) << "tied " << tied;
    EXPECT_EQ(norm.blocks_summed(), expected) << "tied " << tied;
    EXPECT_EQ(norm.finish(), global_grad_norm(grads.data(), layout.total())) << "tied " << tied;
  }
}

// Scaling the loss by 2^k scales every gradient exactly; the step divides the norm and folds
// 1 / scale into the update instead of unscaling the gradients in a pass of their own.
TEST(GradNorm, APowerOfTwoLossScaleTrainsTheSameBits) {
  init_thread_pool();
  struct Run {
    std::vector<float> params;
    std::vector<double> norms;
  };
  auto train = [](float loss_scale, int grad_accum) {
    RunConfig c = load_config("tiny");
    c.train.loss_scale = loss_scale;
    c.train.grad_accum = grad_accum;
    c.train.grad_clip = 0.05f;  // clipping active
    ParamLayout layout(c.model);
    Run run;
    run.params.resize(layout.total());
    init_params(c.model, layout, 0.02f, 1, run.params.data());
    auto cpu = make_backend("cpu", {});
    Transformer model(c.model, *cpu, 1, c.model.seq_len, false);
    const std::unique_ptr<Optimizer> adam = make_optimizer(c.train, layout);
    TrainStep step(model, c.train, layout);
    const int64_t T = model.dims().T();
    const std::vector<int32_t> tokens = pattern_tokens(64 * T, c.model.vocab_size, 5);
    int64_t at = 0;
    for (int s = 0; s < 3; ++s) {
      const StepStats stats =
          step.run(s, 3, run.params.data(), *adam, [&](int32_t* in, int32_t* tg) {
            for (int64_t i = 0; i < T; ++i) in[i] = tokens[at + i], tg[i] = tokens[at + i + 1];
            at += T;
          });
      EXPECT_FALSE(stats.skipped);
      run.norms.push_back(stats.grad_norm);
    }
    return run;
  };
  for (int grad_accum : {1, 2}) {
    const Run plain = train(1.0f, grad_accum), scaled = train(1024.0f, grad_accum);
    EXPECT_GT(plain.norms[0], 0.05);  // so the clip coefficient is below 1
    EXPECT_EQ(plain.norms, scaled.norms) << "grad_accum " << grad_accum;
    EXPECT_TRUE(plain.params == scaled.params) << "grad_accum " << grad_accum;
  }
}

}  // namespace
}  // namespace anetrain
