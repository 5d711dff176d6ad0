// The schedule, clipping and AdamW against their defining formulas, computed independently here;
// the optimizer interface (train/optimizer.h): chosen by config, named state tensors.
#include "train/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "support/test_util.h"

namespace anetrain {
namespace {

TEST(Schedule, WarmupThenCosineToMinimum) {
  TrainConfig c;
  c.lr = 1.0f;
  c.warmup_steps = 4;
  c.min_lr_frac = 0.1f;
  EXPECT_FLOAT_EQ(learning_rate(c, 0, 14), 0.25f);
  EXPECT_FLOAT_EQ(learning_rate(c, 3, 14), 1.0f);
  EXPECT_FLOAT_EQ(learning_rate(c, 4, 14), 1.0f);     // cosine starts at the peak
  EXPECT_NEAR(learning_rate(c, 9, 14), 0.55, 1e-6);   // halfway: (1 + 0.1) / 2
  EXPECT_NEAR(learning_rate(c, 14, 14), 0.1, 1e-6);   // ends at lr * min_lr_frac
  EXPECT_NEAR(learning_rate(c, 100, 14), 0.1, 1e-6);  // and stays there
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
  std::vector<float> g(layout.total());
  for (size_t i = 0; i < g.size(); ++i) g[i] = 0.01f * static_cast<float>(i % 17) - 0.05f;
  for (const OptimizerKind& kind : optimizer_kinds()) {
    TrainConfig tc;
    tc.optimizer = kind.name;
    std::vector<float> p1(layout.total(), 1.0f), p2 = p1;
    auto folded = make_optimizer(tc, layout), separate = make_optimizer(tc, layout);
    GradNorm global;
    global.start(g.data(), static_cast<int64_t>(g.size()));
    const double norm = folded->clipped_update(p1.data(), g.data(), 0.1f, 1, 1.0f, global);
    ASSERT_GT(norm, 1.0);  // so clipping really happens
    std::vector<float> clipped = g;
    for (float& x : clipped) x *= clip_coefficient(norm, 1.0f);
    separate->update(p2.data(), clipped.data(), 0.1f, 1);
    EXPECT_EQ(p1, p2) << kind.name;
    for (size_t s = 0; s < folded->state().size(); ++s)
      EXPECT_EQ(folded->state()[s].values, separate->state()[s].values) << kind.name;
  }
}

TEST(Optimizer, ChosenByTheConfigKeyWithNamedStateTensors) {
  ModelConfig mc;
  mc.n_layers = 1;
  const ParamLayout layout(mc);
  TrainConfig tc;
  EXPECT_EQ(tc.optimizer, "adamw");  // the default: checkpoints from before the key are AdamW's
  const std::map<std::string, std::vector<std::string>> expected = {{"adamw", {"m", "v"}},
                                                                    {"lion", {"m"}}};
  for (const auto& [name, state_names] : expected) {
    tc.optimizer = name;
    const std::unique_ptr<Optimizer> optimizer = make_optimizer(tc, layout);
    EXPECT_EQ(optimizer->name(), name);
    std::vector<std::string> names;
    for (const OptimizerState& s : optimizer->state()) {
      names.push_back(s.name);
      EXPECT_EQ(static_cast<int64_t>(s.values.size()), layout.total()) << name << " " << s.name;
      EXPECT_EQ(&optimizer->state(s.name), &s.values);
    }
    EXPECT_EQ(names, state_names);
    EXPECT_EQ(optimizer->state_bytes_per_param(), 4.0 * state_names.size());
    EXPECT_THROW(optimizer->state("w"), std::logic_error);
  }
  EXPECT_EQ(optimizer_kinds().size(), expected.size());
  tc.optimizer = "sgd";
  const std::string error = testing::user_error_of([&] { make_optimizer(tc, layout); });
  EXPECT_NE(error.find("optimizer 'sgd' is unknown: use one of adamw, lion"), std::string::npos)
      << error;
}

// A config without the key (a state.json or model.safetensors written before it existed) reads
// as AdamW, and AdamW's config is written without it, as before; another optimizer is written.
TEST(Optimizer, ConfigKeyIsLeftOutAtItsDefault) {
  RunConfig config = load_config("tiny");
  nlohmann::json j = config_to_json(config);
  EXPECT_FALSE(j.contains("optimizer"));
  EXPECT_EQ(config_from_json(j).train.optimizer, "adamw");
  apply_override(config, "optimizer=lion");
  j = config_to_json(config);
  EXPECT_EQ(j.at("optimizer"), "lion");
  EXPECT_EQ(config_from_json(j).train.optimizer, "lion");
}

TEST(AdamW, MatchesTheUpdateRuleAndSkipsDecayOnNorms) {
  // Every element of every tensor: the update walks all parameters in blocks that cross tensor
  // boundaries, and each element must get its own tensor's weight decay.
  ModelConfig mc;
  mc.n_layers = 2;
  ParamLayout layout(mc);
  TrainConfig tc;
  tc.weight_decay = 0.5f;
  const std::unique_ptr<Optimizer> adam = make_optimizer(tc, layout);  // the default, AdamW
  std::vector<float> p(layout.total(), 1.0f), g(layout.total(), 0.25f);
  adam->update(p.data(), g.data(), 0.1f, 1);
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
