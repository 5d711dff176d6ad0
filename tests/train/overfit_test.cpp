// Training can memorize one small batch: the loss of the tiny model on a fixed batch falls
// below 0.1. Catches wiring errors that gradient checks of single kernels cannot (a gradient
// landing in the wrong parameter, a missing residual path, a broken optimizer).
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "backends/backend.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "model/config.h"
#include "model/params.h"
#include "train/optimizer.h"
#include "train/transformer.h"

namespace anetrain {
namespace {

double train_on_one_batch(RunConfig config, int steps, float lr = 3e-3f) {
  init_thread_pool();
  config.train.lr = lr;
  config.train.warmup_steps = 5;
  config.train.weight_decay = 0.0f;
  const ModelConfig& mc = config.model;
  auto backend = make_backend("cpu");
  ParamLayout layout(mc);
  std::vector<float> params(layout.total()), grads(layout.total());
  init_params(mc, layout, config.train.init_std, 3, params.data());
  const std::unique_ptr<Optimizer> optimizer = make_optimizer(config.train, layout);
  Transformer model(mc, *backend, config.train.batch_size, mc.seq_len, config.train.recompute);
  const int64_t T = model.dims().T();
  Rng rng(11);
  std::vector<int32_t> inputs(T), targets(T);
  for (auto& t : inputs) t = static_cast<int32_t>(rng.below(mc.vocab_size));
  for (auto& t : targets) t = static_cast<int32_t>(rng.below(mc.vocab_size));
  double loss = 0;
  GradNorm norm;
  for (int step = 0; step < steps; ++step) {
    norm.start(grads.data(), layout.total());
    loss = model.forward_backward(params.data(), inputs.data(), targets.data(), 1.0f / T,
                                  grads.data(), GradWrite::kOverwrite, GradReady(), &norm) /
           T;
    optimizer->clipped_update(params.data(), grads.data(), learning_rate(config.train, step, steps),
                              step + 1, 1.0f, norm);
  }
  return model.forward(params.data(), inputs.data(), targets.data()) / T;
}

TEST(Overfit, TinyMemorizesOneBatch) {
  RunConfig config = load_config("tiny");
  config.train.batch_size = 2;
  const double final_loss = train_on_one_batch(config, 300);
  EXPECT_LT(final_loss, 0.1) << "random targets over vocab 512 start near ln(512) = 6.24";
}

TEST(Overfit, RecomputeMemorizesToo) {
  RunConfig config = load_config("tiny");
  config.train.batch_size = 2;
  config.train.recompute = true;
  EXPECT_LT(train_on_one_batch(config, 300), 0.1);
}

TEST(Overfit, LionMemorizesOneBatchToo) {
  RunConfig config = load_config("tiny");
  config.train.batch_size = 2;
  config.train.optimizer = "lion";
  config.train.beta2 = 0.99f;
  EXPECT_LT(train_on_one_batch(config, 300, 1e-3f), 0.1)
      << "random targets over vocab 512 start near ln(512) = 6.24";
}

TEST(Overfit, RecomputeGivesIdenticalGradients) {
  init_thread_pool();
  RunConfig config = load_config("tiny");
  auto backend = make_backend("cpu");
  ParamLayout layout(config.model);
  std::vector<float> params(layout.total());
  init_params(config.model, layout, 0.05f, 5, params.data());
  Transformer keep(config.model, *backend, 2, 64, false);
  Transformer recompute(config.model, *backend, 2, 64, true);
  Rng rng(2);
  std::vector<int32_t> inputs(128), targets(128);
  for (auto& t : inputs) t = static_cast<int32_t>(rng.below(512));
  for (auto& t : targets) t = static_cast<int32_t>(rng.below(512));
  std::vector<float> g1(layout.total()), g2(layout.total());
  double l1 = keep.forward_backward(params.data(), inputs.data(), targets.data(), 1.0f / 128,
                                    g1.data(), GradWrite::kOverwrite);
  double l2 = recompute.forward_backward(params.data(), inputs.data(), targets.data(), 1.0f / 128,
                                         g2.data(), GradWrite::kOverwrite);
  EXPECT_EQ(l1, l2);
  EXPECT_EQ(g1, g2) << "recomputation must reproduce the stored activations exactly";
  EXPECT_LT(recompute.activation_bytes(), keep.activation_bytes());
}

}  // namespace
}  // namespace anetrain
