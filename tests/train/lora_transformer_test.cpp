// The Transformer with LoRA adapters (Transformer::use_adapters) computes what the merged model
// W + scale B A computes, and the adapters' gradients are the chain rule through it:
// dA = scale B^T dW and dB = scale dW A^T, dW being the merged weight's gradient.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/backend.h"
#include "core/parallel.h"
#include "model/lora.h"
#include "model/params.h"
#include "support/test_util.h"
#include "train/transformer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

struct Pass {
  double loss;
  std::vector<float> grads, adapter_grads;
};

class LoraTransformer : public ::testing::TestWithParam<bool> {  // recompute
 protected:
  void SetUp() override {
    init_thread_pool();
    c = load_config("tiny");
    lora.rank = 4;
    lora.alpha = 6;
    cpu = make_backend("cpu", {});
    tokens = pattern_tokens(2 * c.model.seq_len + 1, c.model.vocab_size, 3);
  }
  Pass run(const std::vector<float>& params, const LoraLayout* layout,
           const std::vector<float>& adapters, bool base_grads = true, uint64_t dropout_seed = 0) {
    Transformer model(c.model, *cpu, 2, c.model.seq_len, GetParam());
    Pass p{0, std::vector<float>(params.size(), 3.0f), std::vector<float>(adapters.size(), 5.0f)};
    if (layout) model.use_adapters(*layout, adapters.data(), p.adapter_grads.data(), base_grads);
    model.set_adapter_dropout_seed(dropout_seed);
    std::vector<int32_t> in(tokens.begin(), tokens.end() - 1), tg(tokens.begin() + 1, tokens.end());
    const float scale = 1.0f / static_cast<float>(in.size());
    p.loss = model.forward_backward(params.data(), in.data(), tg.data(), scale, p.grads.data(),
                                    GradWrite::kOverwrite);
    return p;
  }
  // Base weights initialized from `seed`.
  std::vector<float> base_params(uint64_t seed) const {
    const ParamLayout base(c.model);
    std::vector<float> params(base.total());
    init_params(c.model, base, 0.02f, seed, params.data());
    return params;
  }

  RunConfig c;
  LoraConfig lora;
  std::unique_ptr<Backend> cpu;
  std::vector<int32_t> tokens;
};

TEST_P(LoraTransformer, MatchesTheMergedModelAndItsChainRule) {
  const LoraLayout layout(c.model, lora);
  const std::vector<float> params = base_params(7);
  const std::vector<float> adapters = random_normal(8, layout.params().total(), 0.05);
  std::vector<float> merged = params;
  merge_lora(layout, adapters.data(), merged.data());

  const Pass with = run(params, &layout, adapters);
  const Pass ref = run(merged, nullptr, {});
  EXPECT_NEAR(with.loss, ref.loss, 1e-5 * std::abs(ref.loss));
  double gmax = 0;
  for (float g : ref.grads) gmax = std::max(gmax, static_cast<double>(std::abs(g)));
  for (size_t i = 0; i < ref.grads.size(); ++i)
    ASSERT_NEAR(with.grads[i], ref.grads[i], 1e-4 * gmax) << "base gradient " << i;

  const int64_t r = lora.rank;
  const double s = lora.alpha / lora.rank;
  for (const LoraLayout::Adapter& a : layout.adapters()) {
    const float* dw = ref.grads.data() + a.base;  // [out, in]
    double amax = 0, bmax = 0;
    std::vector<double> da(r * a.in, 0.0), db(a.out * r, 0.0);
    for (int64_t o = 0; o < a.out; ++o)
      for (int64_t i = 0; i < a.in; ++i)
        for (int64_t k = 0; k < r; ++k) {
          da[k * a.in + i] += s * adapters[a.b + o * r + k] * dw[o * a.in + i];
          db[o * r + k] += s * dw[o * a.in + i] * adapters[a.a + k * a.in + i];
        }
    for (double v : da) amax = std::max(amax, std::abs(v));
    for (double v : db) bmax = std::max(bmax, std::abs(v));
    ASSERT_GT(amax, 0);
    for (size_t i = 0; i < da.size(); ++i)
      ASSERT_NEAR(with.adapter_grads[a.a + i], da[i], 1e-3 * amax) << a.target << " A " << a.layer;
    for (size_t i = 0; i < db.size(); ++i)
      ASSERT_NEAR(with.adapter_grads[a.b + i], db[i], 1e-3 * bmax) << a.target << " B " << a.layer;
  }
}

// Fresh adapters (B = 0) leave the model exactly the base model.
TEST_P(LoraTransformer, FreshAdaptersChangeNothing) {
  const LoraLayout layout(c.model, lora);
  const std::vector<float> params = base_params(9);
  std::vector<float> adapters(layout.params().total());
  init_lora(layout, 10, adapters.data());
  const Pass with = run(params, &layout, adapters);
  const Pass ref = run(params, nullptr, {});
  EXPECT_EQ(with.loss, ref.loss);
  EXPECT_EQ(with.grads, ref.grads);
}

// A frozen base (no base weight gradients) gives the same adapter gradients and loss, bit for
// bit, and leaves the base gradient buffer alone.
TEST_P(LoraTransformer, AFrozenBaseSkipsItsGradientsAndChangesNoAdapterGradient) {
  const LoraLayout layout(c.model, lora);
  const std::vector<float> params = base_params(11);
  const std::vector<float> adapters = random_normal(12, layout.params().total(), 0.05);
  const Pass full = run(params, &layout, adapters, /*base_grads=*/true);
  const Pass frozen = run(params, &layout, adapters, /*base_grads=*/false);
  EXPECT_EQ(frozen.loss, full.loss);
  EXPECT_EQ(frozen.adapter_grads, full.adapter_grads);
  EXPECT_TRUE(
      std::all_of(frozen.grads.begin(), frozen.grads.end(), [](float g) { return g == 3.0f; }));
}

INSTANTIATE_TEST_SUITE_P(Recompute, LoraTransformer, ::testing::Bool());

// With dropout the loss is still a smooth function of the adapters for fixed masks (one seed),
// so centered differences of it check the adapter gradients through the masked paths: the
// forward kernels' masked inputs, the masked shares of the input gradients (dropping one of
// them, or masking the wrong way, fails this).
TEST_P(LoraTransformer, DropoutGradientsMatchFiniteDifferences) {
  lora.dropout = 0.3f;
  const LoraLayout layout(c.model, lora);
  const std::vector<float> params = base_params(11);
  std::vector<float> adapters = random_normal(12, layout.params().total(), 0.2);
  constexpr uint64_t kSeed = 99;
  const Pass with = run(params, &layout, adapters, false, kSeed);
  const double T = 2.0 * c.model.seq_len;
  int checked = 0;
  for (const ParamInfo& t : layout.params().tensors()) {
    // The element with the largest gradient in each tensor of block 0 (every target, A and B).
    if (t.name.rfind("layers.0.", 0) != 0) continue;
    int64_t at = t.offset;
    for (int64_t i = t.offset; i < t.offset + t.numel; ++i)
      if (std::abs(with.adapter_grads[i]) > std::abs(with.adapter_grads[at])) at = i;
    const float eps = 2e-3f, saved = adapters[at];
    adapters[at] = saved + eps;
    const double up = run(params, &layout, adapters, false, kSeed).loss;
    adapters[at] = saved - eps;
    const double down = run(params, &layout, adapters, false, kSeed).loss;
    adapters[at] = saved;
    const double numeric = (up - down) / (2 * eps) / T;
    EXPECT_NEAR(with.adapter_grads[at], numeric, 2e-2 * std::abs(numeric) + 1e-6) << t.name;
    ++checked;
  }
  EXPECT_EQ(checked, 14);  // 7 targets x (A, B)
}

// Masks follow the seed (the same seed: the same bits; another: another loss), and forward()
// (validation, sampling) never drops.
TEST_P(LoraTransformer, DropoutFollowsTheSeedAndOnlyTrainingDrops) {
  lora.dropout = 0.5f;
  const LoraLayout layout(c.model, lora);
  const std::vector<float> params = base_params(13);
  const std::vector<float> adapters = random_normal(14, layout.params().total(), 0.2);
  const Pass a = run(params, &layout, adapters, false, 1),
             again = run(params, &layout, adapters, false, 1);
  const Pass other = run(params, &layout, adapters, false, 2);
  EXPECT_EQ(a.loss, again.loss);
  EXPECT_EQ(a.adapter_grads, again.adapter_grads);
  EXPECT_NE(a.loss, other.loss);

  LoraConfig no_dropout = lora;
  no_dropout.dropout = 0;
  const LoraLayout plain(c.model, no_dropout);
  const double undropped = run(params, &plain, adapters, false).loss;
  EXPECT_NE(a.loss, undropped);
  Transformer model(c.model, *cpu, 2, c.model.seq_len, GetParam());
  std::vector<float> grads(adapters.size());
  model.use_adapters(layout, adapters.data(), grads.data(), false);
  model.set_adapter_dropout_seed(1);
  std::vector<int32_t> in(tokens.begin(), tokens.end() - 1), tg(tokens.begin() + 1, tokens.end());
  EXPECT_EQ(model.forward(params.data(), in.data(), tg.data()), undropped);
}

}  // namespace
}  // namespace anetrain
