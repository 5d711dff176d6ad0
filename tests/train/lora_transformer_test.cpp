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
           const std::vector<float>& adapters, bool base_grads = true) {
    Transformer model(c.model, *cpu, 2, c.model.seq_len, GetParam());
    Pass p{0, std::vector<float>(params.size(), 3.0f), std::vector<float>(adapters.size(), 5.0f)};
    if (layout) model.use_adapters(*layout, adapters.data(), p.adapter_grads.data(), base_grads);
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

}  // namespace
}  // namespace anetrain
