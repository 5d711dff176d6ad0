// LoRA training end to end against PyTorch: the same frozen base, initial adapters and batches
// go to tools/torch_golden.py in its LoRA mode (lora.json + adapters.safetensors), which trains
// the adapters alone with AdamW, clipping and the schedule over them. TrainStep with
// TrainedAdapters must agree to fp32 accuracy on the logits, the adapters' gradients at step 0,
// every step's loss and gradient norm and the final adapters, and leave the base weights
// untouched bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/parallel.h"
#include "io/safetensors.h"
#include "model/lora.h"
#include "model/params.h"
#include "support/test_util.h"
#include "support/torch_golden.h"
#include "train/train_step.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

constexpr int kSteps = 6;

// fp32 against PyTorch's fp32, as tests/train/golden_test.cpp's tolerances.
constexpr double kLogitsNorm = 1e-5, kLogitsMax = 1e-4, kLoss = 1e-4, kGradNorm = 1e-4,
                 kGradMax = 1e-3, kStepLoss = 1e-4, kFinal = 1e-4;

// The worst of each error over a case, printed at its end.
struct Worst {
  double logits = 0, grad_norm = 0, grad_max = 0, loss = 0, norm = 0, final_norm = 0;
};

void run_lora_golden_case(RunConfig config, const LoraConfig& lora, const std::string& label) {
  init_thread_pool();
  config.model.validate();
  const ModelConfig& mc = config.model;
  const TrainConfig& tc = config.train;
  TempDir dir;

  // Inputs: the base, the adapters (B made non-zero so that A has a gradient from step 0 on),
  // the batches.
  const ParamLayout layout(mc);
  std::vector<float> params(layout.total());
  init_params(mc, layout, 0.05f, 17, params.data());
  const LoraLayout lora_layout(mc, lora);
  const ParamLayout& adapter_layout = lora_layout.params();
  std::vector<float> adapters(adapter_layout.total());
  init_lora(lora_layout, 23, adapters.data());
  const std::vector<float> noise = random_normal(29, adapter_layout.total(), 0.05);
  for (const LoraLayout::Adapter& a : lora_layout.adapters())
    std::copy_n(noise.begin() + a.b, a.out * lora.rank, adapters.begin() + a.b);
  GoldenBatches batches(write_golden_case(dir, config, kSteps, params), tc.batch_size, mc.seq_len);
  std::ofstream(dir.file("lora.json")) << nlohmann::json{
      {"rank", lora.rank},
      {"alpha", lora.alpha},
      {"targets", lora.targets}}.dump();
  SafetensorsWriter writer;
  for (const ParamInfo& t : adapter_layout.tensors())
    writer.add_f32(t.name, t.shape, adapters.data() + t.offset);
  writer.write(dir.file("adapters.safetensors"));
  ASSERT_TRUE(run_torch_golden(dir));
  SafetensorsFile golden = SafetensorsFile::open(dir.file("golden.safetensors"));
  Worst worst;

  auto backend = make_backend("cpu");
  const int64_t B = tc.batch_size, S = mc.seq_len, T = B * S;
  Transformer model(mc, *backend, B, S, tc.recompute);
  auto next_batch = [&](int32_t* inputs, int32_t* targets) { batches.next(inputs, targets); };
  const std::vector<float> base = params;
  const std::vector<float> initial = adapters;

  // 1. Logits and loss of the first micro-batch, through the adapters.
  {
    std::vector<float> unused_grads(adapter_layout.total());
    model.use_adapters(lora_layout, adapters.data(), unused_grads.data(), false);
    std::vector<int32_t> inputs(T), targets(T);
    next_batch(inputs.data(), targets.data());
    batches.rewind();
    model.forward(params.data(), inputs.data(), nullptr);
    const Diff logits = compare(model.logits(), golden.read_f32("logits"));
    EXPECT_LT(logits.norm_rel, kLogitsNorm) << label << " logits";
    EXPECT_LT(logits.max_rel, kLogitsMax) << label << " logits";
    worst.logits = logits.max_rel;
    const double loss0 = model.forward(params.data(), inputs.data(), targets.data()) / T;
    EXPECT_NEAR(loss0, golden.read_f32("loss0")[0], kLoss * loss0) << label;
  }

  // 2. The steps; the adapters' gradients of step 0 (before clipping) from the step itself.
  const std::unique_ptr<Optimizer> adam = make_optimizer(tc, adapter_layout);
  TrainStep step(model, tc, layout, nullptr, {&lora_layout, adapters.data()});
  const std::vector<float> losses = golden.read_f32("losses"), norms = golden.read_f32("grad_norm"),
                           lrs = golden.read_f32("lr");
  int clipped = 0;
  for (int s = 0; s < kSteps; ++s) {
    const StepStats stats = step.run(s, kSteps, params.data(), *adam, next_batch);
    if (s == 0) {
      for (const ParamInfo& t : adapter_layout.tensors()) {
        const Diff g = compare(step.grads().data() + t.offset, golden.read_f32("grad." + t.name));
        EXPECT_LT(g.norm_rel, kGradNorm) << label << " grad of " << t.name;
        EXPECT_LT(g.max_rel, kGradMax) << label << " grad of " << t.name;
        worst.grad_norm = std::max(worst.grad_norm, g.norm_rel);
        worst.grad_max = std::max(worst.grad_max, g.max_rel);
      }
    }
    EXPECT_NEAR(stats.loss, losses[s], kStepLoss * losses[s]) << label << " loss at step " << s;
    EXPECT_NEAR(stats.grad_norm, norms[s], 10 * kStepLoss * norms[s])
        << label << " grad norm at step " << s;
    EXPECT_NEAR(stats.lr, lrs[s], 1e-6 * lrs[s]) << label << " lr at step " << s;
    worst.loss = std::max(worst.loss, std::abs(stats.loss - losses[s]) / losses[s]);
    worst.norm = std::max(worst.norm, std::abs(stats.grad_norm - norms[s]) / norms[s]);
    clipped += norms[s] > tc.grad_clip;
  }
  for (const ParamInfo& t : adapter_layout.tensors()) {
    const Diff p = compare(adapters.data() + t.offset, golden.read_f32("final." + t.name));
    EXPECT_LT(p.norm_rel, kFinal) << label << " final " << t.name;
    // The run must have moved every adapter far more than the tolerance.
    const std::vector<float> start(initial.begin() + t.offset,
                                   initial.begin() + t.offset + t.numel);
    EXPECT_GT(compare(adapters.data() + t.offset, start).norm_rel, 100 * kFinal)
        << label << " " << t.name << " hardly moved";
    worst.final_norm = std::max(worst.final_norm, p.norm_rel);
  }
  // The base is frozen: not one bit of it changed.
  EXPECT_EQ(std::memcmp(params.data(), base.data(), base.size() * sizeof(float)), 0) << label;
  EXPECT_GT(clipped, 0) << label << ": grad_clip " << tc.grad_clip << " never clipped";
  std::printf(
      "[ %s ] worst relative errors: logits %.2e, grad (tensor norm) %.2e, grad (max) %.2e, "
      "loss %.2e, grad norm %.2e, final adapters %.2e; %d of %d steps clipped\n",
      label.c_str(), worst.logits, worst.grad_norm, worst.grad_max, worst.loss, worst.norm,
      worst.final_norm, clipped, kSteps);
}

// The base golden test's GQA model (untied, batched and accumulated), trained harder.
RunConfig gqa_config() {
  RunConfig config = gqa_golden_config();
  config.train.lr = 4e-3f;
  config.train.warmup_steps = 2;
  config.train.weight_decay = 0.5f;  // large, so that decay on the adapters shows
  config.train.grad_clip = 0.6f;     // about the gradient norm here: some steps are clipped
  // AdamW moves an element by about lr whatever its gradient's size, as long as the gradient is
  // well above adam_eps; a gradient that is almost exactly 0 (one element in this case is 4e-9)
  // carries fp32's rounding as a large relative error into its update. A larger eps than the
  // default 1e-8 keeps such elements' updates proportional to their gradients.
  config.train.adam_eps = 1e-6f;
  return config;
}

// Every weight adapted.
TEST(LoraGolden, AllTargetsGqaAccumulatedMatchesPyTorch) {
  LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 6;  // scale 1.5
  ASSERT_EQ(lora.targets, lora_target_names());
  run_lora_golden_case(gqa_config(), lora, "lora-all");
}

// Two targets only, tied embeddings, recomputed activations.
TEST(LoraGolden, QueryAndValueTiedRecomputeMatchesPyTorch) {
  RunConfig config = gqa_config();
  config.model.n_layers = 2;
  config.model.tied_embeddings = true;
  config.train.recompute = true;
  config.train.grad_clip = 0.33f;  // about the gradient norm with these adapters
  LoraConfig lora;
  lora.rank = 2;
  lora.alpha = 8;  // scale 4
  lora.targets = {"wq", "wv"};
  run_lora_golden_case(config, lora, "lora-wq-wv");
}

}  // namespace
}  // namespace anetrain
