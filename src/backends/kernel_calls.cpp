#include "backends/kernel_calls.h"

#include <type_traits>

#include "backends/cpu/cpu_backend.h"

namespace anetrain {
namespace {

// Hands out the named tensors of one call while its arguments are built.
class CallTensors {
 public:
  CallTensors(const KernelDims& d, const ParamLayout& layout, const float* params, KernelCall& call,
              bool materialized)
      : d(d),
        p(params),
        block(layout.layer(0)),
        layout(layout),
        materialized(materialized),
        call_(call) {}

  const float* in(const std::string& name) const { return call_.inputs.at(name).data(); }
  // A kernel that may overwrite its input gets a copy.
  float* scratch(const std::string& name) {
    scratch_ = call_.inputs.at(name);
    return scratch_.data();
  }
  float* out(const std::string& name, int64_t size) {
    std::vector<float>& v = call_.outputs[name];
    v.assign(size, 0.0f);
    return v.data();
  }
  // An output [channels, T].
  float* act(const std::string& name, int64_t channels) { return out(name, channels * d.T()); }
  const float* w(int64_t offset) const { return p + offset; }
  const int32_t* targets() const { return call_.targets.data(); }
  double* loss_sum() { return &loss_sum_; }
  void finish() {
    if (call_.kernel == Kernel::kClassifierLoss)
      call_.outputs["loss_sum"] = {static_cast<float>(loss_sum_)};
  }

  const KernelDims& d;
  const float* p;
  const LayerParams& block;
  const ParamLayout& layout;
  const bool materialized;

 private:
  KernelCall& call_;
  std::vector<float> scratch_;
  double loss_sum_ = 0;
};

// Each kernel's arguments from the call's tensors, grouped by role: inputs, weights, outputs.
// The call below needs one overload per row of kernels/kernel_table.h, so a kernel cannot be
// left out.
template <class Args>
using As = std::type_identity<Args>;

AttentionForwardArgs args(CallTensors& t, As<AttentionForwardArgs>) {
  const KernelDims& d = t.d;
  const LayerParams& b = t.block;
  return {.x = t.in("x"),
          .norm_w = t.w(b.attention_norm),
          .wq = t.w(b.wq),
          .wk = t.w(b.wk),
          .wv = t.w(b.wv),
          .wo = t.w(b.wo),
          .y = t.act("y", d.D),
          .xnorm = t.act("xnorm", d.D),
          .rms_inv = t.act("rms_inv", 1),
          .q = t.act("q", d.QD()),
          .k = t.act("k", d.KD()),
          .v = t.act("v", d.KD()),
          .attn = t.act("attn", d.QD()),
          .lse = t.act("lse", d.H)};
}

FfnForwardArgs args(CallTensors& t, As<FfnForwardArgs>) {
  const KernelDims& d = t.d;
  const LayerParams& b = t.block;
  return {.x = t.in("x"),
          .norm_w = t.w(b.ffn_norm),
          .w1 = t.w(b.w1),
          .w3 = t.w(b.w3),
          .w2 = t.w(b.w2),
          .y = t.act("y", d.D),
          .xnorm = t.act("xnorm", d.D),
          .rms_inv = t.act("rms_inv", 1),
          .h1 = t.act("h1", d.F),
          .h3 = t.act("h3", d.F),
          .gate = t.act("gate", d.F)};
}

FfnBackwardArgs args(CallTensors& t, As<FfnBackwardArgs>) {
  const KernelDims& d = t.d;
  const LayerParams& b = t.block;
  return {.dy = t.in("dy"),
          .w1 = t.w(b.w1),
          .w3 = t.w(b.w3),
          .w2 = t.w(b.w2),
          .h1 = t.in("h1"),
          .h3 = t.in("h3"),
          .dxnorm = t.act("dxnorm", d.D),
          .dh1 = t.act("dh1", d.F),
          .dh3 = t.act("dh3", d.F)};
}

SdpaBackward1Args args(CallTensors& t, As<SdpaBackward1Args>) {
  const KernelDims& d = t.d;
  const int64_t rows = d.H * d.B * d.S * d.S;  // P and dP
  const bool m = t.materialized;
  return {.dy = t.in("dy"),
          .wo = t.w(t.block.wo),
          .q = t.in("q"),
          .k = t.in("k"),
          .v = t.in("v"),
          .lse = t.in("lse"),
          .dattn = t.act("dattn", d.QD()),
          .dv = m ? t.act("dv", d.KD()) : nullptr,
          .probs = m ? t.out("probs", rows) : nullptr,
          .dprobs = m ? t.out("dprobs", rows) : nullptr};
}

SdpaBackward2Args args(CallTensors& t, As<SdpaBackward2Args>) {
  const KernelDims& d = t.d;
  const bool m = t.materialized;
  return {.q = t.in("q"),
          .k = t.in("k"),
          .probs = m ? t.in("probs") : nullptr,
          .dprobs = m ? t.scratch("dprobs") : nullptr,
          .dq = t.act("dq", d.QD()),
          .dk = t.act("dk", d.KD()),
          .v = m ? nullptr : t.in("v"),
          .dattn = m ? nullptr : t.in("dattn"),
          .lse = m ? nullptr : t.in("lse"),
          .dv = m ? nullptr : t.act("dv", d.KD())};
}

QkvBackwardArgs args(CallTensors& t, As<QkvBackwardArgs>) {
  const LayerParams& b = t.block;
  return {.dq = t.in("dq"),
          .dk = t.in("dk"),
          .dv = t.in("dv"),
          .wq = t.w(b.wq),
          .wk = t.w(b.wk),
          .wv = t.w(b.wv),
          .dxnorm = t.act("dxnorm", t.d.D)};
}

ClassifierLossArgs args(CallTensors& t, As<ClassifierLossArgs>) {
  const KernelDims& d = t.d;
  return {.x = t.in("x"),
          .norm_w = t.w(t.layout.final_norm()),
          .wcls = t.w(t.layout.classifier()),
          .targets = t.targets(),
          .grad_scale = 1.0f / static_cast<float>(d.T()),
          .logits = t.out("logits", d.T() * d.V),
          .xnorm = t.act("xnorm", d.D),
          .rms_inv = t.act("rms_inv", 1),
          .dxnorm = t.act("dxnorm", d.D),
          .loss_sum = t.loss_sum()};
}

std::vector<float> normal(Rng& rng, int64_t n, double scale) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal() * scale);
  return v;
}

}  // namespace

void run_kernel_call(Backend& backend, const KernelDims& d, const ParamLayout& layout,
                     const float* params, KernelCall& call, bool materialized) {
  call.outputs.clear();
  CallTensors t(d, layout, params, call, materialized);
  switch (call.kernel) {
#define ANETRAIN_KERNEL_CALL_CASE(Id, name)   \
  case Kernel::k##Id:                         \
    backend.name(d, args(t, As<Id##Args>{})); \
    break;
    ANETRAIN_KERNELS(ANETRAIN_KERNEL_CALL_CASE)
#undef ANETRAIN_KERNEL_CALL_CASE
  }
  t.finish();
}

std::vector<float> check_params(const ModelConfig& one_block, const ParamLayout& layout,
                                uint64_t seed, Rng& rng) {
  std::vector<float> params(layout.total());
  init_params(one_block, layout, 0.02f, seed, params.data());
  for (int64_t off : {layout.layer(0).attention_norm, layout.layer(0).ffn_norm})
    for (int64_t i = 0; i < one_block.dim; ++i)
      params[off + i] = 1.0f + 0.1f * static_cast<float>(rng.normal());
  return params;
}

std::vector<KernelCall> reference_calls(const KernelDims& d, const ParamLayout& layout,
                                        const float* params, Rng& rng) {
  cpu::CpuBackend cpu;
  std::vector<KernelCall> calls(kKernelCount);
  for (size_t i = 0; i < kKernelCount; ++i) calls[i].kernel = kAllKernels[i];
  auto call = [&](Kernel k) -> KernelCall& { return calls[static_cast<size_t>(k)]; };
  auto run = [&](Kernel k) { run_kernel_call(cpu, d, layout, params, call(k), true); };
  const int64_t DT = d.D * d.T();
  const KernelCall& attention = call(Kernel::kAttentionForward);
  const KernelCall& ffn = call(Kernel::kFfnForward);
  const KernelCall& sdpa1 = call(Kernel::kSdpaBackward1);
  const KernelCall& sdpa2 = call(Kernel::kSdpaBackward2);

  call(Kernel::kAttentionForward).inputs["x"] = normal(rng, DT, 1.0);
  run(Kernel::kAttentionForward);
  call(Kernel::kFfnForward).inputs["x"] = normal(rng, DT, 1.0);
  run(Kernel::kFfnForward);

  call(Kernel::kFfnBackward).inputs = {
      {"dy", normal(rng, DT, 1e-2)}, {"h1", ffn.outputs.at("h1")}, {"h3", ffn.outputs.at("h3")}};
  run(Kernel::kFfnBackward);

  call(Kernel::kSdpaBackward1).inputs = {{"dy", normal(rng, DT, 1e-2)},
                                         {"q", attention.outputs.at("q")},
                                         {"k", attention.outputs.at("k")},
                                         {"v", attention.outputs.at("v")},
                                         {"lse", attention.outputs.at("lse")}};
  run(Kernel::kSdpaBackward1);

  call(Kernel::kSdpaBackward2).inputs = {
      {"q", attention.outputs.at("q")},     {"k", attention.outputs.at("k")},
      {"probs", sdpa1.outputs.at("probs")}, {"dprobs", sdpa1.outputs.at("dprobs")},
      {"v", attention.outputs.at("v")},     {"dattn", sdpa1.outputs.at("dattn")},
      {"lse", attention.outputs.at("lse")}};
  run(Kernel::kSdpaBackward2);
  call(Kernel::kSdpaBackward2).outputs["dv"] = sdpa1.outputs.at("dv");

  call(Kernel::kQkvBackward).inputs = {{"dq", sdpa2.outputs.at("dq")},
                                       {"dk", sdpa2.outputs.at("dk")},
                                       {"dv", sdpa1.outputs.at("dv")}};
  run(Kernel::kQkvBackward);

  KernelCall& head = call(Kernel::kClassifierLoss);
  head.inputs["x"] = normal(rng, DT, 1.0);
  head.targets.resize(d.T());
  for (int32_t& t : head.targets) t = static_cast<int32_t>(rng.below(static_cast<uint64_t>(d.V)));
  run(Kernel::kClassifierLoss);
  return calls;
}

}  // namespace anetrain
