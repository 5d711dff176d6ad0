#include "backends/kernel_calls.h"

#include <cmath>
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
  // Adapter t beside a weight [out, in], when the call has one; its tap an output when it sits
  // beside a forward projection.
  LoraAdapter adapter(const std::string& t, bool forward) {
    const CallAdapters& ca = call_.adapters;
    if (!ca.a.count(t)) return {};
    std::vector<float>& scratch = adapter_scratch_[t];
    scratch.assign(ca.rank * d.T(), 0.0f);
    const auto drop = call_.inputs.find("drop_" + t);
    return {.a = ca.a.at(t).data(),
            .b = ca.b.at(t).data(),
            .ax = forward ? act("ax_" + t, ca.rank) : nullptr,
            .scratch = scratch.data(),
            .drop = drop == call_.inputs.end() ? nullptr : drop->second.data(),
            .r = ca.rank,
            .scale = ca.scale};
  }
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
  std::map<std::string, std::vector<float>> adapter_scratch_;
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
          .lse = t.act("lse", d.H),
          .lora_q = t.adapter("q", true),
          .lora_k = t.adapter("k", true),
          .lora_v = t.adapter("v", true)};
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
          .gate = t.act("gate", d.F),
          .lora_1 = t.adapter("1", true),
          .lora_3 = t.adapter("3", true)};
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
          .dh3 = t.act("dh3", d.F),
          .lora_2 = t.adapter("2", false)};
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
          .dprobs = m ? t.out("dprobs", rows) : nullptr,
          .lora_o = t.adapter("o", false)};
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

// Adapter t of `call` beside a weight [out, in]: A ~ N(0, 1/in), so that ax is about as large as
// the input, and B such that scale B ax is about as large as the 0.02-std projection; a mask
// of 0 and 1/(1 - dropout) with dropout.
void give_adapter(KernelCall& call, const std::string& t, int64_t out, int64_t in,
                  const KernelDims& d, const CallLora& lora, Rng& rng) {
  CallAdapters& ca = call.adapters;
  ca.rank = lora.rank;
  ca.scale = lora.scale;
  ca.a[t] = normal(rng, lora.rank * in, 1.0 / std::sqrt(static_cast<double>(in)));
  ca.b[t] = normal(rng, out * lora.rank,
                   0.02 * std::sqrt(static_cast<double>(in) / lora.rank) / lora.scale);
  if (lora.dropout <= 0) return;
  std::vector<float>& mask = call.inputs["drop_" + t];
  mask.resize(in * d.T());
  for (float& m : mask) m = rng.uniform() < lora.dropout ? 0.0f : 1.0f / (1.0f - lora.dropout);
}

// The adapters a kernel takes (kernels.h): q, k, v in attention_forward, 1 and 3 in
// ffn_forward, the input-gradient shares of 2 in ffn_backward and o in sdpa_backward1.
void give_adapters(KernelCall& call, const KernelDims& d, const CallLora& lora, Rng& rng) {
  switch (call.kernel) {
    case Kernel::kAttentionForward:
      give_adapter(call, "q", d.QD(), d.D, d, lora, rng);
      give_adapter(call, "k", d.KD(), d.D, d, lora, rng);
      give_adapter(call, "v", d.KD(), d.D, d, lora, rng);
      break;
    case Kernel::kFfnForward:
      give_adapter(call, "1", d.F, d.D, d, lora, rng);
      give_adapter(call, "3", d.F, d.D, d, lora, rng);
      break;
    case Kernel::kFfnBackward:
      give_adapter(call, "2", d.D, d.F, d, lora, rng);
      break;
    case Kernel::kSdpaBackward1:
      give_adapter(call, "o", d.D, d.QD(), d, lora, rng);
      break;
    default:
      break;
  }
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
                                        const float* params, Rng& rng, const CallLora& lora) {
  cpu::CpuBackend cpu;
  std::vector<KernelCall> calls(kKernelCount);
  for (size_t i = 0; i < kKernelCount; ++i) calls[i].kernel = kAllKernels[i];
  auto call = [&](Kernel k) -> KernelCall& { return calls[static_cast<size_t>(k)]; };
  auto run = [&](Kernel k) {
    if (lora.rank > 0) give_adapters(call(k), d, lora, rng);
    run_kernel_call(cpu, d, layout, params, call(k), true);
  };
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
