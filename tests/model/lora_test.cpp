// LoRA adapters' layout, initialization, validation and merge (model/lora.h).
#include "model/lora.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "model/flops.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

TEST(Lora, LayoutNamesShapesAndOffsetsFollowTheBaseWeights) {
  RunConfig c = load_config("tiny");
  LoraConfig lora;
  lora.rank = 4;
  lora.targets = {"wv", "wq", "w2"};  // any order: the layout keeps the canonical one
  const LoraLayout layout(c.model, lora);
  const ParamLayout base(c.model);
  ASSERT_EQ(layout.adapters().size(), 3u * c.model.n_layers);
  const LoraLayout::Adapter& first = layout.adapters()[0];
  EXPECT_EQ(first.target, "wq");
  EXPECT_EQ(first.base, base.layer(0).wq);
  EXPECT_EQ(layout.adapters()[1].target, "wv");
  EXPECT_EQ(layout.adapters()[2].target, "w2");
  EXPECT_EQ(layout.adapters()[2].out, c.model.dim);
  EXPECT_EQ(layout.adapters()[2].in, c.model.hidden_dim);
  const ParamInfo* a = layout.params().find("layers.1.feed_forward.w2.lora_A");
  const ParamInfo* b = layout.params().find("layers.1.feed_forward.w2.lora_B");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{4, c.model.hidden_dim}));
  EXPECT_EQ(b->shape, (std::vector<int64_t>{c.model.dim, 4}));
  EXPECT_EQ(a->offset, layout.adapters().back().a);
  EXPECT_EQ(b->offset, layout.adapters().back().b);
  int64_t expected = 0;
  for (const auto& ad : layout.adapters()) expected += 4 * (ad.in + ad.out);
  EXPECT_EQ(layout.params().total(), expected);
}

// A LoRA step's formula FLOPs: the frozen base's projections and classifier twice (forward,
// input gradients), attention's S x S products three times, each adapter three times its
// forward 2·T·r·(in + out). Written out here for tiny (D 64, F 192, H 4, G 2, E 16, V 512).
TEST(Lora, StepFlopsDropTheBaseWeightGradientsAndAddTheAdapters) {
  RunConfig c = load_config("tiny");
  LoraConfig lora;
  lora.rank = 4;
  lora.targets = {"wq", "w2"};
  const LoraLayout layout(c.model, lora);
  const double B = 2, S = 8, T = B * S, D = 64, F = 192, QD = 64, KD = 32, V = 512, L = 2;
  const double projections = L * (2 * T * (D * QD + 2 * D * KD + QD * D) + 2 * T * 3 * D * F);
  const double products = L * 2 * (2 * B * S * S * QD);  // Q·Kᵀ and P·V, forward
  const double adapters = L * (2 * T * 4 * (D + QD) + 2 * T * 4 * (F + D));
  const double classifier = 2 * T * D * V;
  EXPECT_DOUBLE_EQ(model_forward_flops(c.model, 2, 8), projections + products + classifier);
  EXPECT_DOUBLE_EQ(lora_training_flops(c.model, 2, 8, layout),
                   2 * (projections + classifier) + 3 * products + 3 * adapters);
}

TEST(Lora, InitIsKaimingUniformAForZeroB) {
  RunConfig c = load_config("tiny");
  const LoraLayout layout(c.model, LoraConfig{});
  std::vector<float> adapters(layout.params().total(), 7.0f);
  init_lora(layout, 3, adapters.data());
  for (const auto& ad : layout.adapters()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(ad.in));
    double sum_sq = 0;
    const int64_t n = layout.config().rank * ad.in;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_LE(std::abs(adapters[ad.a + i]), bound);
      sum_sq += adapters[ad.a + i] * adapters[ad.a + i];
    }
    // Uniform on [-bound, bound] has variance bound^2 / 3.
    EXPECT_NEAR(sum_sq / n, bound * bound / 3, 0.25 * bound * bound / 3) << ad.target;
    for (int64_t i = 0; i < ad.out * layout.config().rank; ++i) ASSERT_EQ(adapters[ad.b + i], 0.0f);
  }
}

TEST(Lora, MergeAddsScaledBTimesA) {
  RunConfig c = load_config("tiny");
  LoraConfig lora;
  lora.rank = 3;
  lora.alpha = 6;  // scale 2
  const LoraLayout layout(c.model, lora);
  const ParamLayout base(c.model);
  std::vector<float> adapters = random_normal(1, layout.params().total(), 0.1);
  std::vector<float> params = random_normal(2, base.total(), 0.02);
  const std::vector<float> before = params;
  merge_lora(layout, adapters.data(), params.data());
  for (const auto& ad : layout.adapters()) {
    for (int64_t o = 0; o < ad.out; o += 7) {
      for (int64_t i = 0; i < ad.in; i += 5) {
        double delta = 0;
        for (int k = 0; k < 3; ++k)
          delta += static_cast<double>(adapters[ad.b + o * 3 + k]) * adapters[ad.a + k * ad.in + i];
        ASSERT_NEAR(params[ad.base + o * ad.in + i], before[ad.base + o * ad.in + i] + 2 * delta,
                    1e-6)
            << ad.target;
      }
    }
  }
  // Norms and embeddings are not targets: untouched.
  EXPECT_EQ(params[base.layer(0).attention_norm], before[base.layer(0).attention_norm]);
  EXPECT_EQ(params[base.tok_embeddings()], before[base.tok_embeddings()]);
  // With B = 0 (a fresh adapter) the merged model is the base model, bit for bit.
  std::vector<float> fresh(layout.params().total());
  init_lora(layout, 4, fresh.data());
  std::vector<float> same = before;
  merge_lora(layout, fresh.data(), same.data());
  EXPECT_EQ(same, before);
}

TEST(Lora, BadSettingsAreOneLineErrors) {
  RunConfig c = load_config("tiny");  // dim 64
  auto error = [&](LoraConfig lora) {
    return user_error_of([&] { LoraLayout layout(c.model, lora); });
  };
  LoraConfig lora;
  lora.rank = 0;
  EXPECT_NE(error(lora).find("--lora-rank 0 is out of range: use 1 to"), std::string::npos);
  lora.rank = 65;
  EXPECT_NE(error(lora).find("--lora-rank 65 is out of range: use 1 to 32"), std::string::npos)
      << error(lora);  // wk and wv are [kv_dim = 32, 64] in tiny
  lora.rank = 8;
  lora.alpha = -1;
  EXPECT_NE(error(lora).find("--lora-alpha must be a positive number"), std::string::npos);
  lora.alpha = 16;
  lora.dropout = 1;
  EXPECT_NE(error(lora).find("--lora-dropout must be in [0, 1)"), std::string::npos);
  EXPECT_EQ(user_error_of([] { parse_lora_targets("wq,wx"); }),
            "--lora-targets: 'wx' is not a weight LoRA can adapt: use some of "
            "wq,wk,wv,wo,w1,w2,w3");
  EXPECT_NE(user_error_of([] { parse_lora_targets("wq,wq"); }).find("given twice"),
            std::string::npos);
  EXPECT_NE(user_error_of([] { parse_lora_targets(""); }).find("is empty"), std::string::npos);
  EXPECT_EQ(parse_lora_targets("w1,wo"), (std::vector<std::string>{"w1", "wo"}));
}

// Dropout masks: the fraction dropped is p, kept elements carry 1 / (1 - p), and each adapter
// (layer, target) and seed draws its own mask, the same one every time.
TEST(Lora, DropoutMasksDropPAndAreReproducible) {
  init_thread_pool();
  constexpr int64_t n = 200000;
  constexpr float p = 0.25f;
  std::vector<float> m(n), again(n), other_layer(n), other_kind(n), other_seed(n);
  lora_dropout_mask(5, 1, LoraTarget::wq, p, n, m.data());
  lora_dropout_mask(5, 1, LoraTarget::wq, p, n, again.data());
  lora_dropout_mask(5, 2, LoraTarget::wq, p, n, other_layer.data());
  lora_dropout_mask(5, 1, LoraTarget::wk, p, n, other_kind.data());
  lora_dropout_mask(6, 1, LoraTarget::wq, p, n, other_seed.data());
  EXPECT_EQ(m, again);
  EXPECT_NE(m, other_layer);
  EXPECT_NE(m, other_kind);
  EXPECT_NE(m, other_seed);
  const int64_t zeros = std::count(m.begin(), m.end(), 0.0f);
  const int64_t kept = std::count(m.begin(), m.end(), 1.0f / (1.0f - p));
  EXPECT_EQ(zeros + kept, n);
  EXPECT_NEAR(static_cast<double>(zeros) / n, p, 0.005);
  int64_t both = 0;  // independent masks agree on dropping about p^2 of the elements
  for (int64_t i = 0; i < n; ++i) both += m[i] == 0.0f && other_kind[i] == 0.0f;
  EXPECT_NEAR(static_cast<double>(both) / n, p * p, 0.005);
}

}  // namespace
}  // namespace anetrain
