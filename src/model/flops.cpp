#include "model/flops.h"

namespace anetrain {

double block_forward_flops(const ModelConfig& c, int64_t B, int64_t S) {
  const double D = c.dim, F = c.hidden_dim, QD = c.q_dim(), KD = c.kv_dim();
  const double tokens = static_cast<double>(B) * S;
  const double projections = 2.0 * tokens * (D * QD + 2.0 * D * KD + QD * D);
  const double ffn = 2.0 * tokens * 3.0 * D * F;
  const double attention = 2.0 * 2.0 * static_cast<double>(B) * S * S * QD;  // QK^T and PV
  return projections + ffn + attention;
}

double model_forward_flops(const ModelConfig& c, int64_t B, int64_t S) {
  const double classifier = 2.0 * static_cast<double>(B) * S * c.dim * c.vocab_size;
  return c.n_layers * block_forward_flops(c, B, S) + classifier;
}

}  // namespace anetrain
