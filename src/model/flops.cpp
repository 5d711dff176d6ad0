#include "model/flops.h"

namespace anetrain {
namespace {

// One S x S product per query head (Q·Kᵀ, P·V, dP, dS·K, ...), full square, all sequences.
double attention_product(const KernelDims& d) {
  return 2.0 * static_cast<double>(d.B) * d.S * d.S * d.QD();
}

double tokens(const KernelDims& d) { return static_cast<double>(d.T()); }

}  // namespace

double attention_forward_flops(const KernelDims& d) {
  const double D = d.D, QD = d.QD(), KD = d.KD();
  // Q, K, V and Wo projections, then Q·Kᵀ and P·V.
  return 2 * tokens(d) * D * (QD + 2 * KD) + 2 * tokens(d) * QD * D + 2 * attention_product(d);
}

double ffn_forward_flops(const KernelDims& d) { return 2 * tokens(d) * d.D * d.F * 3; }

double ffn_backward_flops(const KernelDims& d) { return 2 * tokens(d) * d.D * d.F * 3; }

double sdpa_backward1_flops(const KernelDims& d, bool materialized) {
  // Woᵀ dy; materialized, also P rebuilt, dV and dP.
  return 2 * tokens(d) * d.D * d.QD() + (materialized ? 3 : 0) * attention_product(d);
}

double sdpa_backward2_flops(const KernelDims& d, bool materialized) {
  // dQ and dK; unmaterialized, also P rebuilt, dV and dP.
  return (materialized ? 2 : 5) * attention_product(d);
}

double qkv_backward_flops(const KernelDims& d) {
  return 2 * tokens(d) * d.D * (d.QD() + 2 * d.KD());
}

double classifier_loss_flops(const KernelDims& d, bool with_gradient) {
  return 2.0 * tokens(d) * d.D * d.V * (with_gradient ? 2 : 1);
}

double block_forward_flops(const ModelConfig& c, int64_t B, int64_t S) {
  const KernelDims d = KernelDims::from(c, B, S);
  return attention_forward_flops(d) + ffn_forward_flops(d);
}

double model_forward_flops(const ModelConfig& c, int64_t B, int64_t S) {
  return c.n_layers * block_forward_flops(c, B, S) +
         classifier_loss_flops(KernelDims::from(c, B, S), false);
}

double lora_training_flops(const ModelConfig& c, int64_t B, int64_t S, const LoraLayout& lora) {
  const KernelDims d = KernelDims::from(c, B, S);
  const double attention_products = 2.0 * c.n_layers * attention_product(d);
  const double projections = model_forward_flops(c, B, S) - attention_products;
  double adapters = 0;
  for (const LoraLayout::Adapter& a : lora.adapters())
    adapters += 2.0 * tokens(d) * lora.config().rank * static_cast<double>(a.in + a.out);
  return 2.0 * projections + 3.0 * attention_products + 3.0 * adapters;
}

}  // namespace anetrain
