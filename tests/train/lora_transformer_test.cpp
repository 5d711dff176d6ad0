// The Transformer with LoRA adapters (Transformer::use_adapters) computes what the merged model
// W + scale B A computes, and the adapters' gradients are the chain rule through it:
// dA = scale B^T dW and dB = scale dW A^T, dW being the merged weight's gradient, and agree
// with centered finite differences of the model's loss.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "backends/backend.h"
#include "core/parallel.h"
#include "core/rng.h"
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
  std::vector<float> base_params(uint64_t seed, float std = 0.02f) const {
    const ParamLayout base(c.model);
    std::vector<float> params(base.total());
    init_params(c.model, base, std, seed, params.data());
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

// The adapters' gradients through the whole model (every block and target, a frozen base)
// against centered differences of the mean loss Transformer::forward computes. forward is fp32,
// so each adapter tensor is probed where its derivative stands well above fp32's rounding: at
// its element of largest gradient and along a random unit direction over the whole tensor
// (whose derivative is the gradient's dot product with it). A base larger than the other
// tests' makes attention far from uniform, so that wq and wk have gradients worth checking.
TEST_P(LoraTransformer, AdapterGradientsMatchFiniteDifferences) {
  const LoraLayout layout(c.model, lora);
  const std::vector<float> params = base_params(13, 0.2f);
  std::vector<float> adapters = random_normal(14, layout.params().total(), 0.1);
  const std::vector<float> grads =
      run(params, &layout, adapters, /*base_grads=*/false).adapter_grads;

  Transformer model(c.model, *cpu, 2, c.model.seq_len, GetParam());
  std::vector<float> unused(adapters.size());
  model.use_adapters(layout, adapters.data(), unused.data(), /*base_gradients=*/false);
  std::vector<int32_t> in(tokens.begin(), tokens.end() - 1), tg(tokens.begin() + 1, tokens.end());
  // d loss / d eps of loss(adapters + eps * dir) over tensor t, centered, in double.
  auto derivative = [&](const ParamInfo& t, const std::vector<double>& dir, double h) {
    const std::vector<float> keep(adapters.begin() + t.offset,
                                  adapters.begin() + t.offset + t.numel);
    double loss[2];
    for (int side = 0; side < 2; ++side) {
      const double eps = side == 0 ? h : -h;
      for (int64_t i = 0; i < t.numel; ++i)
        adapters[t.offset + i] = static_cast<float>(keep[i] + eps * dir[i]);
      loss[side] = model.forward(params.data(), in.data(), tg.data()) / in.size();
    }
    std::copy(keep.begin(), keep.end(), adapters.begin() + t.offset);
    return (loss[0] - loss[1]) / (2 * h);
  };
  Rng rng(15);
  double worst = 0;
  for (const ParamInfo& t : layout.params().tensors()) {
    const float* g = grads.data() + t.offset;
    double norm2 = 0;
    int64_t top = 0;
    for (int64_t i = 0; i < t.numel; ++i) {
      norm2 += static_cast<double>(g[i]) * g[i];
      if (std::abs(g[i]) > std::abs(g[top])) top = i;
    }
    const double norm = std::sqrt(norm2);
    ASSERT_GT(norm, 0) << t.name;

    std::vector<double> dir(t.numel, 0.0);
    dir[top] = 1;
    const double element = derivative(t, dir, 1e-2);
    double dir2 = 0, dot = 0;
    for (int64_t i = 0; i < t.numel; ++i) dir2 += (dir[i] = rng.normal()) * dir[i];
    for (int64_t i = 0; i < t.numel; ++i) dot += g[i] * (dir[i] /= std::sqrt(dir2));
    const double along = derivative(t, dir, 1e-2);
    // Measured: at most 2.3e-4 of the tensor's gradient norm (rounding and h^2 terms).
    EXPECT_NEAR(element, g[top], 2e-3 * norm) << t.name << " element " << top;
    EXPECT_NEAR(along, dot, 2e-3 * norm) << t.name << " along a random direction";
    worst = std::max({worst, std::abs(element - g[top]) / norm, std::abs(along - dot) / norm});
  }
  std::printf("[ finite differences ] worst error %.2e of the tensor's gradient norm\n", worst);
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
