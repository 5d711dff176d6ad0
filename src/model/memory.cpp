#include "model/memory.h"

#include <vector>

#include "model/params.h"

namespace anetrain {

TrainingMemory training_memory(const ModelConfig& c, int64_t B, int64_t S, bool recompute,
                               double optimizer_bytes_per_param, const LoraConfig* lora) {
  const double T = static_cast<double>(B * S), D = c.dim, F = c.hidden_dim, V = c.vocab_size,
               L = c.n_layers, H = c.n_heads, E = c.head_dim(), QD = H * E,
               KD = static_cast<double>(c.n_kv_heads) * E;
  TrainingMemory m;
  const double P = static_cast<double>(ParamLayout(c).total());
  double adapter_taps = 0;
  if (lora) {
    const LoraLayout layout(c, *lora);
    const double A = static_cast<double>(layout.params().total());
    m.optimizer_bytes = optimizer_bytes_per_param * A;
    m.state_bytes = 4.0 * P + 8.0 * A + m.optimizer_bytes;
    adapter_taps = 2.0 * lora->rank * T * static_cast<double>(layout.adapters().size());
    if (lora->dropout > 0) {
      std::vector<bool> kinds(kLoraTargetCount);
      for (const LoraLayout::Adapter& a : layout.adapters()) {
        if (!kinds[static_cast<int>(a.kind)]) adapter_taps += static_cast<double>(a.in) * T;
        kinds[static_cast<int>(a.kind)] = true;
      }
    }
  } else {
    m.optimizer_bytes = optimizer_bytes_per_param * P;
    m.state_bytes = 8.0 * P + m.optimizer_bytes;
  }
  // One layer's taps: attention (xnorm, rms_inv, q, k, v, attn, lse), FFN (xnorm, rms_inv,
  // h1, h3, gate).
  const double taps = (D + 1 + 2 * QD + 2 * KD + H) * T + (D + 1 + 3 * F) * T;
  const double streams = (2 * L + 1) * D * T;  // block inputs x_0..x_L and mid_0..mid_L-1
  const double head = (D + 1) * T + T * V;     // final norm taps and the logits
  // Backward scratch shared by all layers: block_out, dres, dmid, dxnorm, dh1, dh3, dattn, dq,
  // dk, dv.
  const double scratch = (4 * D + 2 * F + 2 * QD + 2 * KD) * T;
  m.activation_bytes = 4.0 * (streams + (recompute ? 1 : L) * taps + head + scratch + adapter_taps);
  return m;
}

}  // namespace anetrain
