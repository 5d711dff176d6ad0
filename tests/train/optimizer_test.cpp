// The schedule, clipping and AdamW against their defining formulas, computed independently here.
#include <gtest/gtest.h>

#include <cmath>

#include "train/optimizer.h"

namespace anetrain {
namespace {

TEST(Schedule, WarmupThenCosineToMinimum) {
  TrainConfig c;
  c.lr = 1.0f;
  c.warmup_steps = 4;
  c.min_lr_frac = 0.1f;
  EXPECT_FLOAT_EQ(learning_rate(c, 0, 14), 0.25f);
  EXPECT_FLOAT_EQ(learning_rate(c, 3, 14), 1.0f);
  EXPECT_FLOAT_EQ(learning_rate(c, 4, 14), 1.0f);              // cosine starts at the peak
  EXPECT_NEAR(learning_rate(c, 9, 14), 0.55, 1e-6);            // halfway: (1 + 0.1) / 2
  EXPECT_NEAR(learning_rate(c, 14, 14), 0.1, 1e-6);            // ends at lr * min_lr_frac
  EXPECT_NEAR(learning_rate(c, 100, 14), 0.1, 1e-6);           // and stays there
}

TEST(Clip, ScalesToMaxNormOnlyWhenAbove) {
  std::vector<float> g = {3.0f, 4.0f};
  double norm = global_grad_norm(g.data(), 2);
  EXPECT_DOUBLE_EQ(norm, 5.0);
  const float c = clip_coefficient(norm, 1.0f);
  EXPECT_NEAR(std::hypot(g[0] * c, g[1] * c), 1.0, 1e-6);
  EXPECT_EQ(clip_coefficient(0.5, 1.0f), 1.0f);  // already below max_norm
  EXPECT_EQ(clip_coefficient(5.0, 0.0f), 1.0f);  // clipping off
}

TEST(Clip, ClippedUpdateEqualsClippingTheGradientsFirst) {
  ModelConfig mc;
  mc.n_layers = 1;
  ParamLayout layout(mc);
  TrainConfig tc;
  std::vector<float> g(layout.total());
  for (size_t i = 0; i < g.size(); ++i) g[i] = 0.01f * static_cast<float>(i % 17) - 0.05f;
  std::vector<float> p1(layout.total(), 1.0f), p2 = p1;
  AdamW folded(tc, layout), separate(tc, layout);
  const double norm = folded.clipped_update(p1.data(), g.data(), 0.1f, 1, 1.0f);
  ASSERT_GT(norm, 1.0);  // so clipping really happens
  std::vector<float> clipped = g;
  for (float& x : clipped) x *= clip_coefficient(norm, 1.0f);
  separate.update(p2.data(), clipped.data(), 0.1f, 1);
  EXPECT_EQ(p1, p2);
  EXPECT_EQ(folded.m(), separate.m());
}

TEST(AdamW, MatchesTheUpdateRuleAndSkipsDecayOnNorms) {
  // Every element of every tensor: the update walks all parameters in blocks that cross tensor
  // boundaries, and each element must get its own tensor's weight decay.
  ModelConfig mc;
  mc.n_layers = 2;
  ParamLayout layout(mc);
  TrainConfig tc;
  tc.weight_decay = 0.5f;
  AdamW adam(tc, layout);
  std::vector<float> p(layout.total(), 1.0f), g(layout.total(), 0.25f);
  adam.update(p.data(), g.data(), 0.1f, 1);
  // Step 1: m = 0.1 g, v = 0.05 g^2; bias-corrected m/sqrt(v) = sign(g) = 1 (up to eps).
  const float expected_decayed = 1.0f * (1.0f - 0.1f * 0.5f) - 0.1f * 1.0f;
  const float expected_norm = 1.0f - 0.1f;
  ASSERT_NE(layout.find("layers.1.attention_norm.weight"), nullptr);
  int64_t wrong = 0, norms = 0;
  for (const ParamInfo& t : layout.tensors()) {
    norms += t.is_norm;
    const float expected = t.is_norm ? expected_norm : expected_decayed;
    for (int64_t i = t.offset; i < t.offset + t.numel; ++i)
      wrong += std::abs(p[i] - expected) > 1e-6f;
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(norms, 2 * mc.n_layers + 1);
}

}  // namespace
}  // namespace anetrain
