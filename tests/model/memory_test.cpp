// The documented memory formula (model/memory.h, docs/DESIGN.md "Memory") against what the
// trainer really allocates: Activations::bytes() and the parameter layout.
#include "model/memory.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "backends/backend.h"
#include "core/parallel.h"
#include "model/params.h"
#include "train/activations.h"
#include "train/optimizer.h"
#include "train/transformer.h"

namespace anetrain {
namespace {

ModelConfig gqa_model() {
  ModelConfig c;
  c.dim = 64, c.hidden_dim = 176, c.n_layers = 3, c.n_heads = 8, c.n_kv_heads = 2;
  c.vocab_size = 300, c.seq_len = 40;
  return c;
}

TEST(TrainingMemory, FormulaMatchesWhatTheTrainerAllocates) {
  const ModelConfig c = gqa_model();
  for (bool recompute : {false, true}) {
    const KernelDims d = KernelDims::from(c, 3, 40);
    Activations acts;
    acts.allocate(d, c.n_layers, recompute, /*for_training=*/true, /*keep_probs=*/false);
    const TrainingMemory m = training_memory(c, 3, 40, recompute, 8.0);
    EXPECT_EQ(m.activation_bytes, static_cast<double>(acts.bytes())) << "recompute " << recompute;
    EXPECT_EQ(m.state_bytes, 16.0 * static_cast<double>(ParamLayout(c).total()));
  }
}

// LoRA: the frozen base needs its weights only; gradients and optimizer state are the
// adapters'; the adapters' taps, scratch and dropout masks are what the Transformer allocates.
TEST(TrainingMemory, LoraCountsTheAdaptersStateAndBuffers) {
  init_thread_pool();
  const ModelConfig c = gqa_model();
  const std::unique_ptr<Backend> cpu = make_backend("cpu", {});
  for (float dropout : {0.0f, 0.1f}) {
    LoraConfig lora;
    lora.rank = 4;
    lora.targets = {"wq", "wo", "w2"};
    lora.dropout = dropout;
    const LoraLayout layout(c, lora);
    const double P = static_cast<double>(ParamLayout(c).total()),
                 A = static_cast<double>(layout.params().total());
    const TrainingMemory m = training_memory(c, 3, 40, false, 8.0, &lora);
    EXPECT_EQ(m.optimizer_bytes, 8.0 * A);
    EXPECT_EQ(m.state_bytes, 4.0 * P + 16.0 * A);
    Transformer model(c, *cpu, 3, 40, false);
    std::vector<float> adapters(layout.params().total()), grads(adapters.size());
    model.use_adapters(layout, adapters.data(), grads.data(), false);
    EXPECT_EQ(m.activation_bytes - training_memory(c, 3, 40, false, 8.0).activation_bytes,
              static_cast<double>(model.adapter_buffer_bytes()))
        << "dropout " << dropout;
  }
}

// The optimizer's share is what it allocates: its state tensors, one float per parameter each.
TEST(TrainingMemory, OptimizerStateIsWhatTheOptimizerHolds) {
  const ModelConfig c = gqa_model();
  const ParamLayout layout(c);
  const double P = static_cast<double>(layout.total());
  for (const OptimizerKind& kind : optimizer_kinds()) {
    TrainConfig tc;
    tc.optimizer = kind.name;
    const std::unique_ptr<Optimizer> optimizer = make_optimizer(tc, layout);
    double held = 0;
    for (const OptimizerState& s : optimizer->state())
      held += static_cast<double>(s.values.size() * sizeof(float));
    const TrainingMemory m = training_memory(c, 2, 40, false, optimizer->state_bytes_per_param());
    EXPECT_EQ(m.optimizer_bytes, held) << kind.name;
    EXPECT_EQ(m.state_bytes, 8.0 * P + held) << kind.name;
  }
  EXPECT_EQ(training_memory(c, 2, 40, false, 8.0).state_bytes, 16.0 * P);  // AdamW: m and v
}

TEST(TrainingMemory, RecomputationKeepsOneSetOfTaps) {
  ModelConfig c = gqa_model();
  const double full = training_memory(c, 2, 40, false, 8.0).activation_bytes;
  const double lean = training_memory(c, 2, 40, true, 8.0).activation_bytes;
  // Taps per layer: (2D + 2 + 2 QD + 2 KD + H + 3F) floats per token; recompute drops L-1 sets.
  const double taps = (2.0 * 64 + 2 + 2 * 64 + 2 * 16 + 8 + 3 * 176) * 80 * 4;
  EXPECT_DOUBLE_EQ(full - lean, 2 * taps);
  c.n_layers = 1;
  EXPECT_EQ(training_memory(c, 2, 40, false, 8.0).activation_bytes,
            training_memory(c, 2, 40, true, 8.0).activation_bytes);
}

}  // namespace
}  // namespace anetrain
