#include "train/activations.h"

namespace anetrain {

void QkvBuffer::allocate(const KernelDims& d) {
  const int64_t T = d.T();
  data.assign((d.QD() + 2 * d.KD()) * T, 0.0f);
  k_offset = d.QD() * T;
  v_offset = (d.QD() + d.KD()) * T;
}

void AttentionTaps::allocate(const KernelDims& d) {
  const int64_t T = d.T();
  xnorm.assign(d.D * T, 0.0f);
  rms_inv.assign(T, 0.0f);
  qkv.allocate(d);
  attn.assign(d.QD() * T, 0.0f);
  lse.assign(d.H * T, 0.0f);
}

void FfnTaps::allocate(const KernelDims& d) {
  const int64_t T = d.T();
  xnorm.assign(d.D * T, 0.0f);
  rms_inv.assign(T, 0.0f);
  h1.assign(d.F * T, 0.0f);
  h3.assign(d.F * T, 0.0f);
  gate.assign(d.F * T, 0.0f);
}

void Activations::allocate(const KernelDims& d, int n_layers, bool recompute, bool for_training,
                           bool keep_probs) {
  const int64_t T = d.T(), DT = d.D * T;
  // Inference keeps only what the next layer needs: one set of taps, two stream buffers.
  const int tap_sets = (recompute || !for_training) ? 1 : n_layers;
  const int stream_sets = for_training ? n_layers : 1;
  resid.assign(stream_sets + 1, FloatBuffer(DT));
  mid.assign(stream_sets, FloatBuffer(DT));
  attention.resize(tap_sets);
  ffn.resize(tap_sets);
  for (auto& t : attention) t.allocate(d);
  for (auto& t : ffn) t.allocate(d);
  final_xnorm.assign(DT, 0.0f);
  final_rms_inv.assign(T, 0.0f);
  logits.assign(T * d.V, 0.0f);
  block_out.assign(DT, 0.0f);
  if (!for_training) return;
  dres.assign(DT, 0.0f);
  dmid.assign(DT, 0.0f);
  dxnorm.assign(DT, 0.0f);
  dh1.assign(d.F * T, 0.0f);
  dh3.assign(d.F * T, 0.0f);
  dattn.assign(d.QD() * T, 0.0f);
  dqkv.allocate(d);
  if (keep_probs) {
    probs.assign(d.H * d.B * d.S * d.S, 0.0f);
    dprobs.assign(d.H * d.B * d.S * d.S, 0.0f);
  }
}

int64_t Activations::bytes() const {
  int64_t floats = 0;
  auto count = [&](const FloatBuffer& v) { floats += static_cast<int64_t>(v.size()); };
  for (auto& v : resid) count(v);
  for (auto& v : mid) count(v);
  for (auto& t : attention)
    for (auto* v : {&t.xnorm, &t.rms_inv, &t.qkv.data, &t.attn, &t.lse}) count(*v);
  for (auto& t : ffn)
    for (auto* v : {&t.xnorm, &t.rms_inv, &t.h1, &t.h3, &t.gate}) count(*v);
  for (auto* v : {&final_xnorm, &final_rms_inv, &logits, &block_out, &dres, &dmid, &dxnorm, &dh1,
                  &dh3, &dattn, &dqkv.data, &probs, &dprobs})
    count(*v);
  return floats * 4;
}

}  // namespace anetrain
