// A step's first micro-batch overwrites the gradients (no zeroing pass), later ones add to them.
// Overwriting must not read the old contents (a buffer of NaNs gives the same floats as a zeroed
// one), and accumulating must add exactly what a lone micro-batch writes, for tied and untied
// embeddings (untied, the embedding table's scatter-add needs its own zeroing).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "backends/backend.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "model/config.h"
#include "model/params.h"
#include "train/transformer.h"

namespace anetrain {
namespace {

class GradWriteTest : public ::testing::TestWithParam<bool> {};

TEST_P(GradWriteTest, OverwriteIgnoresOldContentsAndAccumulateAdds) {
  init_thread_pool();
  RunConfig config = load_config("tiny");
  config.model.tied_embeddings = GetParam();
  auto backend = make_backend("cpu");
  ParamLayout layout(config.model);
  std::vector<float> params(layout.total());
  init_params(config.model, layout, 0.05f, 5, params.data());
  Transformer model(config.model, *backend, 2, 64, false);
  const int64_t T = model.dims().T();
  Rng rng(4);
  std::vector<int32_t> in1(T), tg1(T), in2(T), tg2(T);
  for (auto* v : {&in1, &tg1, &in2, &tg2})
    for (auto& t : *v) t = static_cast<int32_t>(rng.below(config.model.vocab_size));

  const int64_t n = layout.total();
  std::vector<float> from_zero(n, 0.0f), from_nan(n, std::numeric_limits<float>::quiet_NaN());
  std::vector<float> second(n, 0.0f);
  model.forward_backward(params.data(), in1.data(), tg1.data(), 0.5f, from_zero.data(),
                         GradWrite::kAccumulate);
  model.forward_backward(params.data(), in1.data(), tg1.data(), 0.5f, from_nan.data(),
                         GradWrite::kOverwrite);
  EXPECT_EQ(from_zero, from_nan) << "overwriting must write every gradient and read none";

  model.forward_backward(params.data(), in2.data(), tg2.data(), 0.5f, second.data(),
                         GradWrite::kOverwrite);
  model.forward_backward(params.data(), in2.data(), tg2.data(), 0.5f, from_nan.data(),
                         GradWrite::kAccumulate);
  double worst = 0, largest = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double expected = static_cast<double>(from_zero[i]) + second[i];
    worst = std::max(worst, std::abs(from_nan[i] - expected));
    largest = std::max(largest, std::abs(expected));
  }
  // The sums are fp32 and their order differs (tied: classifier + embedding per micro-batch, or
  // all four in turn), so they agree to rounding, not bit for bit.
  EXPECT_LT(worst, 1e-6 * largest);
}

INSTANTIATE_TEST_SUITE_P(Embeddings, GradWriteTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Tied" : "Untied"; });

}  // namespace
}  // namespace anetrain
