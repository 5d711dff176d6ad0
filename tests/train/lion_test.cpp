// Lion (train/lion.cpp) against updates computed by hand on a few elements: the sign of the
// interpolation (not of the gradient), sign(0) = 0, decoupled weight decay off for norm gains.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "train/optimizer.h"

namespace anetrain {
namespace {

const ParamLayout& one_layer() {
  static const ParamLayout layout = [] {
    ModelConfig mc;
    mc.n_layers = 1;
    return ParamLayout(mc);
  }();
  return layout;
}

std::unique_ptr<Optimizer> make_lion(TrainConfig tc) {
  tc.optimizer = "lion";
  return make_optimizer(tc, one_layer());
}

TEST(Lion, MatchesHandComputedUpdates) {
  const ParamLayout& layout = one_layer();
  TrainConfig tc;
  tc.weight_decay = 0.5f;
  tc.beta1 = 0.9f;
  tc.beta2 = 0.99f;
  const std::unique_ptr<Optimizer> lion = make_lion(tc);
  const FloatBuffer& m = lion->state("m");
  const ParamInfo* norm = layout.find("layers.0.attention_norm.weight");
  ASSERT_NE(norm, nullptr);
  ASSERT_TRUE(norm->is_norm);
  const int64_t a = 0, b = 1, idle = 2, n = norm->offset;  // a, b, idle: tok_embeddings
  std::vector<float> p(layout.total(), 1.0f), g(layout.total(), 0.0f);
  const float lr = 0.1f;  // shrink = 1 - lr * weight_decay = 0.95 where decay applies

  // Step 1, m = 0: u = 0.1 g, so sign(u) = sign(g).
  g[a] = 0.25f, g[b] = 0.25f, g[n] = 0.25f;
  lion->update(p.data(), g.data(), lr, 1);
  EXPECT_NEAR(p[a], 0.85f, 1e-6);     // 1 * 0.95 - 0.1
  EXPECT_NEAR(p[n], 0.9f, 1e-6);      // no decay on norm gains: 1 - 0.1
  EXPECT_NEAR(p[idle], 0.95f, 1e-6);  // g = 0: u = 0, sign 0, only the decay
  EXPECT_NEAR(m[a], 0.0025f, 1e-8);   // 0.01 * 0.25

  // Step 2: u = 0.9 * 0.0025 + 0.1 g. For g = -0.01, u = 0.00125 > 0: the momentum outvotes
  // the gradient's sign. For g = -0.05, u = -0.00275 < 0.
  g[a] = -0.01f, g[b] = -0.05f, g[n] = -0.01f;
  lion->update(p.data(), g.data(), lr, 2);
  EXPECT_NEAR(p[a], 0.7075f, 1e-6);     // 0.85 * 0.95 - 0.1
  EXPECT_NEAR(p[b], 0.9075f, 1e-6);     // 0.85 * 0.95 + 0.1
  EXPECT_NEAR(p[n], 0.8f, 1e-6);        // 0.9 - 0.1
  EXPECT_NEAR(p[idle], 0.9025f, 1e-6);  // 0.95 * 0.95
  EXPECT_NEAR(m[a], 0.002375f, 1e-8);   // 0.99 * 0.0025 + 0.01 * -0.01
  EXPECT_NEAR(m[b], 0.001975f, 1e-8);   // 0.99 * 0.0025 + 0.01 * -0.05
  EXPECT_EQ(m[idle], 0.0f);

  // Every other parameter only decayed (norm gains not even that).
  int64_t wrong = 0;
  for (const ParamInfo& t : layout.tensors())
    for (int64_t i = t.offset; i < t.offset + t.numel; ++i)
      if (i != a && i != b && i != n) wrong += p[i] != (t.is_norm ? 1.0f : p[idle]) || m[i] != 0.0f;
  EXPECT_EQ(wrong, 0);
}

TEST(Lion, GradientMultiplierScalesTheGradient) {
  // Folding a clip coefficient in: the sign is unchanged, the momentum sees the scaled gradient.
  TrainConfig tc;
  tc.weight_decay = 0.0f;
  const std::unique_ptr<Optimizer> lion = make_lion(tc);
  std::vector<float> p(one_layer().total(), 0.0f), g(one_layer().total(), -2.0f);
  lion->update(p.data(), g.data(), 0.01f, 1, 0.25f);
  EXPECT_FLOAT_EQ(p[5], 0.01f);
  EXPECT_NEAR(lion->state("m")[5], (1.0f - tc.beta2) * -0.5f, 1e-7);
}

}  // namespace
}  // namespace anetrain
