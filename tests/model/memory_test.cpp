// The documented memory formula (model/memory.h, docs/DESIGN.md "Memory") against what the
// trainer really allocates: Activations::bytes() and the parameter layout.
#include <gtest/gtest.h>

#include "model/memory.h"
#include "model/params.h"
#include "train/activations.h"

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
    const TrainingMemory m = training_memory(c, 3, 40, recompute);
    EXPECT_EQ(m.activation_bytes, static_cast<double>(acts.bytes())) << "recompute " << recompute;
    EXPECT_EQ(m.state_bytes, 16.0 * static_cast<double>(ParamLayout(c).total()));
  }
}

TEST(TrainingMemory, RecomputationKeepsOneSetOfTaps) {
  ModelConfig c = gqa_model();
  const double full = training_memory(c, 2, 40, false).activation_bytes;
  const double lean = training_memory(c, 2, 40, true).activation_bytes;
  // Taps per layer: (2D + 2 + 2 QD + 2 KD + H + 3F) floats per token; recompute drops L-1 sets.
  const double taps = (2.0 * 64 + 2 + 2 * 64 + 2 * 16 + 8 + 3 * 176) * 80 * 4;
  EXPECT_DOUBLE_EQ(full - lean, 2 * taps);
  c.n_layers = 1;
  EXPECT_EQ(training_memory(c, 2, 40, false).activation_bytes,
            training_memory(c, 2, 40, true).activation_bytes);
}

}  // namespace
}  // namespace anetrain
