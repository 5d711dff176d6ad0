#include "train/transformer.h"

#include <algorithm>

#include "backends/cpu/lora_path.h"
#include "backends/cpu/rmsnorm.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/profiler.h"
#include "train/host_ops.h"

namespace anetrain {
namespace {

// What one RMSNorm backward must move: the output's gradient, the input and the input's
// gradient, plus the residual gradient it adds when there is one (the gains are negligible).
MemoryBytes rmsnorm_backward_bytes(int64_t D, int64_t T, bool residual) {
  return {(residual ? 16.0 : 12.0) * static_cast<double>(D * T)};
}

}  // namespace

Transformer::Transformer(const ModelConfig& config, Backend& backend, int64_t batch, int64_t seq,
                         bool recompute, bool for_training)
    : config_(config),
      backend_(backend),
      layout_(config),
      dims_(KernelDims::from(config, batch, seq)),
      recompute_(recompute),
      for_training_(for_training) {
  require_all_kernels(backend_, dims_);
  acts_.allocate(dims_, config.n_layers, recompute, for_training,
                 backend_.materializes_attention_probs());
  // The fused Wq/Wk/Wv weight-gradient GEMM in block_backward relies on this layout.
  for (int l = 0; l < config.n_layers; ++l) {
    const LayerParams& lp = layout_.layer(l);
    ANETRAIN_CHECK(lp.wk == lp.wq + dims_.QD() * dims_.D && lp.wv == lp.wk + dims_.KD() * dims_.D,
                   "Wq, Wk, Wv must be adjacent in the parameter layout");
  }
}

// Inference keeps two stream buffers and alternates them; training keeps every block's input.
float* Transformer::resid(int l) { return acts_.resid[for_training_ ? l : l % 2].data(); }
float* Transformer::mid(int l) { return acts_.mid[for_training_ ? l : 0].data(); }
AttentionTaps& Transformer::attention_taps(int l) {
  return acts_.attention[acts_.attention.size() == 1 ? 0 : l];
}
FfnTaps& Transformer::ffn_taps(int l) { return acts_.ffn[acts_.ffn.size() == 1 ? 0 : l]; }

void Transformer::block_forward(int l, const float* p) {
  const LayerParams& lp = layout_.layer(l);
  const int64_t n = dims_.D * dims_.T();
  AttentionTaps& at = attention_taps(l);
  float* y = acts_.block_out.data();
  backend_.run(dims_, AttentionForwardArgs{.x = resid(l),
                                           .norm_w = p + lp.attention_norm,
                                           .wq = p + lp.wq,
                                           .wk = p + lp.wk,
                                           .wv = p + lp.wv,
                                           .wo = p + lp.wo,
                                           .y = y,
                                           .xnorm = at.xnorm.data(),
                                           .rms_inv = at.rms_inv.data(),
                                           .q = at.qkv.q(),
                                           .k = at.qkv.k(),
                                           .v = at.qkv.v(),
                                           .attn = at.attn.data(),
                                           .lse = at.lse.data(),
                                           .lora_q = adapter(l, LoraTarget::wq),
                                           .lora_k = adapter(l, LoraTarget::wk),
                                           .lora_v = adapter(l, LoraTarget::wv)});
  lora_forward(adapter(l, LoraTarget::wo), dims_.QD(), dims_.D, at.attn.data(), dims_.T(), y);
  {
    ProfileScope scope("host residual add", MemoryBytes{12.0 * static_cast<double>(n)});
    add(resid(l), y, n, mid(l));
  }
  FfnTaps& ft = ffn_taps(l);
  backend_.run(dims_, FfnForwardArgs{.x = mid(l),
                                     .norm_w = p + lp.ffn_norm,
                                     .w1 = p + lp.w1,
                                     .w3 = p + lp.w3,
                                     .w2 = p + lp.w2,
                                     .y = y,
                                     .xnorm = ft.xnorm.data(),
                                     .rms_inv = ft.rms_inv.data(),
                                     .h1 = ft.h1.data(),
                                     .h3 = ft.h3.data(),
                                     .gate = ft.gate.data(),
                                     .lora_1 = adapter(l, LoraTarget::w1),
                                     .lora_3 = adapter(l, LoraTarget::w3)});
  lora_forward(adapter(l, LoraTarget::w2), dims_.F, dims_.D, ft.gate.data(), dims_.T(), y);
  ProfileScope scope("host residual add", MemoryBytes{12.0 * static_cast<double>(n)});
  add(mid(l), y, n, resid(l + 1));
}

double Transformer::run_forward(const float* p, const int32_t* inputs, const int32_t* targets,
                                float grad_scale) {
  const int64_t T = dims_.T();
  const int L = config_.n_layers;
  {
    // Reads one table row per token and writes it.
    ProfileScope scope("host embedding", MemoryBytes{8.0 * static_cast<double>(dims_.D * T)});
    embedding_forward(inputs, p + layout_.tok_embeddings(), dims_.D, T, resid(0));
  }
  for (int l = 0; l < L; ++l) block_forward(l, p);
  double loss_sum = 0.0;
  backend_.run(dims_, ClassifierLossArgs{
                          .x = resid(L),
                          .norm_w = p + layout_.final_norm(),
                          .wcls = p + layout_.classifier(),
                          .targets = targets,
                          .grad_scale = grad_scale,
                          .logits = acts_.logits.data(),
                          .xnorm = acts_.final_xnorm.data(),
                          .rms_inv = acts_.final_rms_inv.data(),
                          .dxnorm = for_training_ ? acts_.dxnorm.data() : acts_.block_out.data(),
                          .loss_sum = &loss_sum});
  return loss_sum;
}

double Transformer::forward(const float* params, const int32_t* inputs, const int32_t* targets) {
  Bf16ReadOnlyRegion weights(params, layout_.total());
  return run_forward(params, inputs, targets, 1.0f);
}

double Transformer::forward_backward(const float* p, const int32_t* inputs, const int32_t* targets,
                                     float grad_scale, float* g, GradWrite write,
                                     const GradReady& ready, GradNorm* norm) {
  ANETRAIN_CHECK(for_training_, "forward_backward on an inference-only Transformer");
  NormWhileRunning norm_while_running(norm_, norm);
  ANETRAIN_CHECK(targets != nullptr);
  // The weights do not change until the optimizer runs: round them to bf16 once (bf16 mode).
  Bf16ReadOnlyRegion weights(p, layout_.total());
  const int64_t T = dims_.T(), D = dims_.D;
  const int L = config_.n_layers;
  // Adapters see dropout while this step's forward and backward run, and only then.
  struct Dropping {
    bool& flag;
    ~Dropping() { flag = false; }
  } dropping{dropping_};
  dropping_ = lora_ && lora_->config().dropout > 0;
  const double loss_sum = run_forward(p, inputs, targets, grad_scale);

  // Classifier and final norm: logits now hold dlogits, dxnorm the normed input's gradient.
  if (base_grads_) {
    ProfileScope scope("host weight gradients", 2.0 * T * D * dims_.V);
    classifier_grad(acts_.logits.data(), acts_.final_xnorm.data(), dims_.V, D, T,
                    g + layout_.classifier(), write);
  }
  // Tied, the table is also the embedding's gradient, final only after its scatter-add below.
  if (base_grads_ && layout_.classifier() != layout_.tok_embeddings())
    gradient_final(layout_.classifier(), dims_.V * D);
  {
    ProfileScope scope("host rmsnorm_backward", rmsnorm_backward_bytes(D, T, false));
    cpu::rmsnorm_backward(acts_.dxnorm.data(), resid(L), p + layout_.final_norm(),
                          acts_.final_rms_inv.data(), nullptr, D, T, acts_.dres.data(),
                          base_grad(g, layout_.final_norm()), write);
  }
  // Layer l's tensors run from its first to the next layer's first (the final norm after the
  // last): layout order, model/params.h.
  auto layer_begin = [&](int l) {
    return l < L ? layout_.layer(l).attention_norm : layout_.final_norm();
  };
  auto report = [&](int64_t begin, int64_t end) {
    if (ready) ready(begin, end);
  };
  // Final norm and (untied) classifier; tied, the classifier's gradient is the embedding's,
  // which is final only after the embedding's own below.
  report(layout_.final_norm(), layout_.total());
  for (int l = L - 1; l >= 0; --l) {
    block_backward(l, p, g, write);
    // Block l + 1's attention gradients were joined inside block_backward(l).
    if (l + 1 < L) report(layer_begin(l + 1), layer_begin(l + 2));
  }
  join_all();
  report(layer_begin(0), layer_begin(1));
  // The embedding gradient is a scatter-add over the batch's tokens. Tied to the classifier,
  // its table was just written in full above; untied, it starts from zero when overwriting.
  const bool zero_first =
      write == GradWrite::kOverwrite && layout_.classifier() != layout_.tok_embeddings();
  // Reads each token's gradient, adds it to its row (read and written), and zeroes the table.
  ProfileScope scope("host embedding",
                     MemoryBytes{base_grads_ ? 12.0 * static_cast<double>(D * T) +
                                                   (zero_first ? 4.0 * dims_.V * D : 0.0)
                                             : 0.0});
  if (base_grads_) {
    if (zero_first) fill_zero(g + layout_.tok_embeddings(), dims_.V * D);
    embedding_backward(inputs, acts_.dres.data(), D, T, g + layout_.tok_embeddings());
  }
  report(0, layer_begin(0));
  return loss_sum;
}

void Transformer::block_forward_backward(const float* p, const float* x, const float* dy, float* g,
                                         GradWrite write, GradNorm* norm) {
  ANETRAIN_CHECK(for_training_, "block_forward_backward on an inference-only Transformer");
  NormWhileRunning norm_while_running(norm_, norm);
  Bf16ReadOnlyRegion weights(p, layout_.total());
  const int64_t n = dims_.D * dims_.T();
  std::copy(x, x + n, resid(0));
  block_forward(0, p);
  std::copy(dy, dy + n, acts_.dres.data());
  block_backward(0, p, g, write);
  join_all();
}

float* Transformer::probs_or_null(FloatBuffer& v) { return v.empty() ? nullptr : v.data(); }

void Transformer::run_host(std::future<void>& slot, std::function<void()> work) {
  join(slot);
  if (backend_.overlaps_host_work())
    slot = std::async(std::launch::async, std::move(work));
  else
    work();
}

void Transformer::then_host(std::future<void>& slot, std::function<void()> work) {
  if (!backend_.overlaps_host_work()) return work();
  slot = std::async(std::launch::async,
                    [previous = std::move(slot), work = std::move(work)]() mutable {
                      join(previous);
                      work();
                    });
}

void Transformer::join(std::future<void>& slot) {
  if (slot.valid()) slot.get();  // rethrows anything the work threw
}

void Transformer::join_all() {
  join(ffn_grads_);
  join(attention_grads_);
}

// On entry acts_.dres holds d loss / d resid(l + 1); on exit, d loss / d resid(l).
void Transformer::block_backward(int l, const float* p, float* g, GradWrite write) {
  const LayerParams& lp = layout_.layer(l);
  const int64_t T = dims_.T(), D = dims_.D, F = dims_.F, QD = dims_.QD(), KD = dims_.KD();
  AttentionTaps& at = attention_taps(l);
  FfnTaps& ft = ffn_taps(l);
  if (recompute_) {
    // Rebuild this block's taps from its saved input; resid(l + 1) is rewritten with the
    // identical values it had, since the forward pass is deterministic. The shared taps are
    // still read by the previous block's gradient work, so that finishes first.
    join_all();
    block_forward(l, p);
  }
  float* dres = acts_.dres.data();
  float* dmid = acts_.dmid.data();

  // FFN: dres is the gradient of the FFN's output (the residual passes it through unchanged).
  const double Td = T, Dd = D, Fd = F, QDd = QD, KDd = KD;
  backend_.run(dims_, FfnBackwardArgs{.dy = dres,
                                      .w1 = p + lp.w1,
                                      .w3 = p + lp.w3,
                                      .w2 = p + lp.w2,
                                      .h1 = ft.h1.data(),
                                      .h3 = ft.h3.data(),
                                      .dxnorm = acts_.dxnorm.data(),
                                      .dh1 = acts_.dh1.data(),
                                      .dh3 = acts_.dh3.data(),
                                      .lora_2 = adapter(l, LoraTarget::w2)});
  // Weight gradients may overlap the kernels below; what they read (dres, dh1, dh3, taps) is
  // not written until the joins that precede those writes.
  if (base_grads_)
    run_host(ffn_grads_, [=, this, &ft] {
      {
        ProfileScope scope("host weight gradients", 2 * Td * Dd * Fd * 3);
        weight_grad(dres, ft.gate.data(), D, F, T, g + lp.w2, write);
        weight_grad(acts_.dh1.data(), ft.xnorm.data(), F, D, T, g + lp.w1, write);
        weight_grad(acts_.dh3.data(), ft.xnorm.data(), F, D, T, g + lp.w3, write);
      }
      gradient_final(lp.w1, lp.w3 + F * D - lp.w1);  // W1, W2, W3: back to back
    });
  if (lora_) {
    // W1's and W3's adapter shares of dxnorm feed the rmsnorm_backward below: now. The
    // adapters' gradients read only what the weight-gradient work reads: they follow it.
    adapter_input_grad(l, LoraTarget::w1, acts_.dh1.data(), acts_.dxnorm.data());
    adapter_input_grad(l, LoraTarget::w3, acts_.dh3.data(), acts_.dxnorm.data());
    then_host(ffn_grads_, [=, this, &ft] {
      adapter_backward(l, LoraTarget::w2, dres, ft.gate.data(), write);
      adapter_backward(l, LoraTarget::w1, acts_.dh1.data(), ft.xnorm.data(), write);
      adapter_backward(l, LoraTarget::w3, acts_.dh3.data(), ft.xnorm.data(), write);
    });
  }
  join(attention_grads_);  // the previous block's reads dmid, which the next line writes
  {
    ProfileScope scope("host rmsnorm_backward", rmsnorm_backward_bytes(D, T, true));
    cpu::rmsnorm_backward(acts_.dxnorm.data(), mid(l), p + lp.ffn_norm, ft.rms_inv.data(), dres, D,
                          T, dmid, base_grad(g, lp.ffn_norm), write);
  }

  // Attention. Without materialized P and dP (empty buffers), part 2 rebuilds them (kernels.h).
  backend_.run(dims_, SdpaBackward1Args{.dy = dmid,
                                        .wo = p + lp.wo,
                                        .q = at.qkv.q(),
                                        .k = at.qkv.k(),
                                        .v = at.qkv.v(),
                                        .lse = at.lse.data(),
                                        .dattn = acts_.dattn.data(),
                                        .dv = acts_.dqkv.v(),
                                        .probs = probs_or_null(acts_.probs),
                                        .dprobs = probs_or_null(acts_.dprobs),
                                        .lora_o = adapter(l, LoraTarget::wo)});
  backend_.run(dims_, SdpaBackward2Args{.q = at.qkv.q(),
                                        .k = at.qkv.k(),
                                        .probs = probs_or_null(acts_.probs),
                                        .dprobs = probs_or_null(acts_.dprobs),
                                        .dq = acts_.dqkv.q(),
                                        .dk = acts_.dqkv.k(),
                                        .v = at.qkv.v(),
                                        .dattn = acts_.dattn.data(),
                                        .lse = at.lse.data(),
                                        .dv = acts_.dqkv.v()});
  backend_.run(dims_, QkvBackwardArgs{.dq = acts_.dqkv.q(),
                                      .dk = acts_.dqkv.k(),
                                      .dv = acts_.dqkv.v(),
                                      .wq = p + lp.wq,
                                      .wk = p + lp.wk,
                                      .wv = p + lp.wv,
                                      .dxnorm = acts_.dxnorm.data()});
  if (base_grads_)
    run_host(attention_grads_, [=, this, &at] {
      {
        ProfileScope scope("host weight gradients",
                           2 * Td * Dd * (QDd + 2 * KDd) + 2 * Td * QDd * Dd);
        weight_grad(dmid, at.attn.data(), D, QD, T, g + lp.wo, write);
        // dq, dk, dv and the Wq, Wk, Wv gradients are each contiguous: one GEMM for all three.
        weight_grad(acts_.dqkv.q(), at.xnorm.data(), QD + 2 * KD, D, T, g + lp.wq, write);
      }
      gradient_final(lp.wq, lp.wo + D * QD - lp.wq);  // Wq, Wk, Wv, Wo: back to back
    });
  if (lora_) {
    adapter_input_grad(l, LoraTarget::wq, acts_.dqkv.q(), acts_.dxnorm.data());
    adapter_input_grad(l, LoraTarget::wk, acts_.dqkv.k(), acts_.dxnorm.data());
    adapter_input_grad(l, LoraTarget::wv, acts_.dqkv.v(), acts_.dxnorm.data());
    then_host(attention_grads_, [=, this, &at] {
      adapter_backward(l, LoraTarget::wo, dmid, at.attn.data(), write);
      adapter_backward(l, LoraTarget::wq, acts_.dqkv.q(), at.xnorm.data(), write);
      adapter_backward(l, LoraTarget::wk, acts_.dqkv.k(), at.xnorm.data(), write);
      adapter_backward(l, LoraTarget::wv, acts_.dqkv.v(), at.xnorm.data(), write);
    });
  }
  join(ffn_grads_);  // it reads dres, which the next line writes
  ProfileScope scope("host rmsnorm_backward", rmsnorm_backward_bytes(D, T, true));
  cpu::rmsnorm_backward(acts_.dxnorm.data(), resid(l), p + lp.attention_norm, at.rms_inv.data(),
                        dmid, D, T, dres, base_grad(g, lp.attention_norm), write);
}

void Transformer::use_adapters(const LoraLayout& lora, const float* adapters, float* adapter_grads,
                               bool base_gradients) {
  lora_ = &lora;
  adapters_ = adapters;
  adapter_grads_ = adapter_grads;
  base_grads_ = base_gradients;
  const int64_t n = lora.config().rank * dims_.T();
  lora_ax_.assign(lora.adapters().size(), FloatBuffer(n));
  lora_scratch_.assign(lora.adapters().size(), FloatBuffer(n));
  adapter_index_.assign(static_cast<size_t>(config_.n_layers) * kLoraTargetCount, -1);
  lora_drop_.assign(kLoraTargetCount, FloatBuffer());
  // Host work running beside the kernels (then_host) regenerates its masks into buffers of
  // its own; inline, one set serves both.
  lora_host_drop_.assign(backend_.overlaps_host_work() ? kLoraTargetCount : 0, FloatBuffer());
  if (lora.config().dropout > 0) {
    for (const LoraLayout::Adapter& a : lora.adapters()) {
      lora_drop_[static_cast<int>(a.kind)].resize(a.in * dims_.T());
      if (!lora_host_drop_.empty())
        lora_host_drop_[static_cast<int>(a.kind)].resize(a.in * dims_.T());
    }
  }
  for (size_t i = 0; i < lora.adapters().size(); ++i) {
    const LoraLayout::Adapter& a = lora.adapters()[i];
    adapter_index_[a.layer * kLoraTargetCount + static_cast<int>(a.kind)] = static_cast<int>(i);
  }
}

int64_t Transformer::adapter_buffer_bytes() const {
  int64_t floats = 0;
  for (const auto* buffers : {&lora_ax_, &lora_scratch_, &lora_drop_, &lora_host_drop_})
    for (const FloatBuffer& b : *buffers) floats += static_cast<int64_t>(b.size());
  return floats * static_cast<int64_t>(sizeof(float));
}

int Transformer::adapter_index(int l, LoraTarget target) const {
  return lora_ ? adapter_index_[l * kLoraTargetCount + static_cast<int>(target)] : -1;
}

LoraAdapter Transformer::adapter(int l, LoraTarget target, bool on_host_thread) {
  const int i = adapter_index(l, target);
  if (i < 0) return {};
  const LoraLayout::Adapter& a = lora_->adapters()[i];
  float* drop = nullptr;
  if (dropping_) {
    std::vector<FloatBuffer>& masks =
        on_host_thread && !lora_host_drop_.empty() ? lora_host_drop_ : lora_drop_;
    FloatBuffer& mask = masks[static_cast<int>(target)];
    lora_dropout_mask(dropout_seed_, l, target, lora_->config().dropout,
                      static_cast<int64_t>(mask.size()), mask.data());
    drop = mask.data();
  }
  return {.a = adapters_ + a.a,
          .b = adapters_ + a.b,
          .ax = lora_ax_[i].data(),
          .scratch = lora_scratch_[i].data(),
          .drop = drop,
          .r = lora_->config().rank,
          .scale = lora_->config().scale()};
}

void Transformer::adapter_input_grad(int l, LoraTarget target, const float* dy, float* dx) {
  const int i = adapter_index(l, target);
  if (i < 0) return;
  const LoraLayout::Adapter& a = lora_->adapters()[i];
  lora_input_grad(adapter(l, target), a.in, a.out, dy, dims_.T(), dx);
}

void Transformer::adapter_backward(int l, LoraTarget target, const float* dy, const float* x,
                                   GradWrite write) {
  const int i = adapter_index(l, target);
  if (i < 0) return;
  const LoraLayout::Adapter& a = lora_->adapters()[i];
  const LoraAdapter ad = adapter(l, target, /*on_host_thread=*/true);
  lora_backward({ad.a, ad.b, ad.r, a.in, a.out, ad.scale}, dy, x, ad.ax, dims_.T(), ad.scratch,
                adapter_grads_ + a.a, adapter_grads_ + a.b, nullptr, write, ad.drop);
}

}  // namespace anetrain
