#include "backends/ane/programs/kernel_programs.h"

#include <cmath>

#include "backends/ane/programs/generator.h"
#include "core/error.h"

namespace anetrain::ane {
namespace {

using mil::Builder;
using mil::Value;

// The six programs. Each declares its weights and input slots, computes, and declares its
// output slots once (Generator::outputs).

void attention_forward(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  g.declare_gain("norm", &BlockWeights::attention_norm, d.D);
  g.declare("wq", &BlockWeights::wq, d.QD(), d.D, false);
  g.declare("wk", &BlockWeights::wk, d.KD(), d.D, false);
  g.declare("wv", &BlockWeights::wv, d.KD(), d.D, false);
  g.declare("wo", &BlockWeights::wo, d.D, d.QD(), false);
  Value x = g.inputs({{"x", d.D}})[0];
  Value xn = g.rmsnorm(x, "norm", "norm");
  Value q = g.rope(g.project("q", xn, "wq"), d.H, 1.0f, "rope_q");
  Value k = g.rope(g.project("k", xn, "wk"), d.G, 1.0f, "rope_k");
  Value v = g.project("v", xn, "wv");
  Value p = g.probabilities(q, k, "attn");
  Value v4 = b.reshape("v4", v, {d.G, 1, d.E, d.S});
  Value a4 = b.matmul("attn4", v4, p, false, true);  // [G, R, E, S]
  Value attn = b.reshape("attn", a4, {1, d.QD(), 1, d.S});
  Value y = g.project("y", attn, "wo");
  g.outputs({{"y", y}, {"q", q}, {"k", k}, {"v", v}, {"attn", attn}, {"xnorm", xn}});
}

void ffn_forward(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  g.declare_gain("norm", &BlockWeights::ffn_norm, d.D);
  g.declare("w1", &BlockWeights::w1, d.F, d.D, false);
  g.declare("w3", &BlockWeights::w3, d.F, d.D, false);
  g.declare("w2", &BlockWeights::w2, d.D, d.F, false);
  Value x = g.inputs({{"x", d.D}})[0];
  Value xn = g.rmsnorm(x, "norm", "norm");
  Value h1 = g.project("h1", xn, "w1");
  Value h3 = g.project("h3", xn, "w3");
  Value silu = b.mul("silu", h1, b.sigmoid("sig", h1));
  Value gate = b.mul("gate", silu, h3);
  Value y = g.project("y", gate, "w2");
  g.outputs({{"y", y}, {"h1", h1}, {"h3", h3}, {"gate", gate}, {"xnorm", xn}});
}

void ffn_backward(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  g.declare("w2t", &BlockWeights::w2, d.D, d.F, true);
  g.declare("w1t", &BlockWeights::w1, d.F, d.D, true);
  g.declare("w3t", &BlockWeights::w3, d.F, d.D, true);
  std::vector<Value> v = g.inputs({{"dy", d.D}, {"h1", d.F}, {"h3", d.F}});
  Value dgate = g.project("dgate", v[0], "w2t");
  Value sig = b.sigmoid("sig", v[1]);
  Value silu = b.mul("silu", v[1], sig);
  Value dh3 = b.mul("dh3", dgate, silu);
  // silu'(x) = sig * (1 + x * (1 - sig))
  Value one = b.scalar("one", 1.0f);
  Value dsilu = b.mul("dsilu", sig,
                      b.add("dsilu_1", one, b.mul("x_1msig", v[1], b.sub("one_msig", one, sig))));
  Value dh1 = b.mul("dh1", b.mul("dgate_h3", dgate, v[2]), dsilu);
  Value dx = b.add("dxnorm", g.project("dx1", dh1, "w1t"), g.project("dx3", dh3, "w3t"));
  g.outputs({{"dxnorm", dx}, {"dh1", dh1}, {"dh3", dh3}});
}

void sdpa_backward1(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  g.declare("wot", &BlockWeights::wo, d.D, d.QD(), true);
  std::vector<Value> v = g.inputs({{"dy", d.D}, {"q", d.QD()}, {"k", d.KD()}, {"v", d.KD()}});
  Value da = g.project("dattn", v[0], "wot");  // Wo^T dy
  Value p = g.probabilities(v[1], v[2], "recompute");
  Value da4 = b.reshape("dattn4", da, {d.G, d.R(), d.E, d.S});
  Value v4 = b.reshape("v4", v[3], {d.G, 1, d.E, d.S});
  Value dp = b.matmul("dp", da4, v4, true, false);              // [G, R, S, S]
  Value dv_heads = b.matmul("dv_heads", da4, p, false, false);  // [G, R, E, S]
  Value dv4 = b.reduce_sum("dv4", dv_heads, {1}, true);         // the group's heads summed
  Value dv = b.reshape("dv", dv4, {1, d.KD(), 1, d.S});
  Value p_out = b.reshape("probs", p, {1, d.H * d.S, 1, d.S});
  Value dp_out = b.reshape("dprobs", dp, {1, d.H * d.S, 1, d.S});
  g.outputs({{"dv", dv},
             {"probs", p_out, SlotLayout::kAttentionRows},
             {"dprobs", dp_out, SlotLayout::kAttentionRows}});
}

void sdpa_backward2(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  std::vector<Value> v = g.inputs({{"probs", d.H * d.S, SlotLayout::kAttentionRows},
                                   {"dprobs", d.H * d.S, SlotLayout::kAttentionRows},
                                   {"q", d.QD()},
                                   {"k", d.KD()}});
  Value p4 = b.reshape("p4", v[0], {d.G, d.R(), d.S, d.S});
  Value dp4 = b.reshape("dp4", v[1], {d.G, d.R(), d.S, d.S});
  Value rowsum = b.reduce_sum("rowsum", b.mul("p_dp", p4, dp4), {-1}, true);
  Value ds = b.mul("ds", b.mul("ds_unscaled", p4, b.sub("dp_centered", dp4, rowsum)),
                   b.scalar("scale", 1.0f / std::sqrt(static_cast<float>(d.E))));
  Value q4 = b.reshape("q4", v[2], {d.G, d.R(), d.E, d.S});
  Value k4 = b.reshape("k4", v[3], {d.G, 1, d.E, d.S});
  Value dq4 = b.matmul("dq4", k4, ds, false, true);  // [G, R, E, S]
  Value dk_heads = b.matmul("dk_heads", q4, ds, false, false);
  Value dk4 = b.reduce_sum("dk4", dk_heads, {1}, true);
  Value dq = g.rope(b.reshape("dq_rot", dq4, {1, d.QD(), 1, d.S}), d.H, -1.0f, "unrope_q");
  Value dk = g.rope(b.reshape("dk_rot", dk4, {1, d.KD(), 1, d.S}), d.G, -1.0f, "unrope_k");
  g.outputs({{"dq", dq}, {"dk", dk}});
}

void qkv_backward(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  g.declare("wqt", &BlockWeights::wq, d.QD(), d.D, true);
  g.declare("wkt", &BlockWeights::wk, d.KD(), d.D, true);
  g.declare("wvt", &BlockWeights::wv, d.KD(), d.D, true);
  std::vector<Value> v = g.inputs({{"dq", d.QD()}, {"dk", d.KD()}, {"dv", d.KD()}});
  Value dx = b.add("dx_qk", g.project("dx_q", v[0], "wqt"), g.project("dx_k", v[1], "wkt"));
  g.outputs({{"dxnorm", b.add("dxnorm", dx, g.project("dx_v", v[2], "wvt"))}});
}

// fp16 carries 11 significant bits (relative step 4.9e-4); the tolerances allow for the
// rounding of every intermediate (our interpreter's model: one rounding per op, fp32
// accumulation) through chains of 10-30 ops. Backward kernels multiply differences of nearly
// equal fp16 numbers (softmax backward) and get more room.
constexpr double kForward = 1e-2, kBackward = 2e-2;

constexpr AneKernel kAneKernels[] = {
    {.kernel = Kernel::kAttentionForward, .write = attention_forward, .tolerance = kForward},
    {.kernel = Kernel::kFfnForward, .write = ffn_forward, .tolerance = kForward},
    {.kernel = Kernel::kFfnBackward, .write = ffn_backward, .tolerance = kBackward},
    {.kernel = Kernel::kSdpaBackward1, .write = sdpa_backward1, .tolerance = kBackward},
    {.kernel = Kernel::kSdpaBackward2, .write = sdpa_backward2, .tolerance = kBackward},
    {.kernel = Kernel::kQkvBackward, .write = qkv_backward, .tolerance = kBackward},
    // The classifier and its loss are host work in the seed too (ane_backend.h).
    {.kernel = Kernel::kClassifierLoss, .write = nullptr, .tolerance = 0},
};

constexpr bool rows_follow_the_kernel_table() {
  for (size_t i = 0; i < kKernelCount; ++i)
    if (kAneKernels[i].kernel != kAllKernels[i]) return false;
  return true;
}
static_assert(std::size(kAneKernels) == kKernelCount && rows_follow_the_kernel_table(),
              "one ANE row per kernel of kernels/kernel_table.h, in its order");

void check_variant(const std::string& variant, bool multi_input) {
  if (variant != "static" && variant != "dynamic")
    throw UserError("ANE program variant '" + variant + "' is unknown: use static or dynamic");
  if (multi_input && variant == "dynamic")
    throw UserError(
        "multi-input programs exist for the static variant only (the dynamic one "
        "packs weights next to the activations in one surface)");
}

}  // namespace

const AneKernel& ane_kernel(Kernel k) { return kAneKernels[static_cast<size_t>(k)]; }

const std::vector<Kernel>& ane_program_kernels() {
  static const std::vector<Kernel> kernels = [] {
    std::vector<Kernel> out;
    for (const AneKernel& row : kAneKernels)
      if (row.write) out.push_back(row.kernel);
    return out;
  }();
  return kernels;
}

BlockWeights block_weights(const ParamLayout& layout, const float* p, int layer) {
  const LayerParams& lp = layout.layer(layer);
  return {.attention_norm = p + lp.attention_norm,
          .wq = p + lp.wq,
          .wk = p + lp.wk,
          .wv = p + lp.wv,
          .wo = p + lp.wo,
          .ffn_norm = p + lp.ffn_norm,
          .w1 = p + lp.w1,
          .w2 = p + lp.w2,
          .w3 = p + lp.w3};
}

KernelProgram build_kernel_program(const KernelDims& d, Kernel k, const BlockWeights& w,
                                   const std::string& variant, bool multi_input) {
  check_variant(variant, multi_input);
  const AneKernel& row = ane_kernel(k);
  if (!row.write)
    throw UserError(std::string("no ANE program for kernel '") + kernel_name(k) +
                    "': it runs on the host");
  Generator g(d, w, variant, multi_input);
  row.write(g, d);
  return g.finish(k);
}

std::vector<KernelProgram> build_kernel_programs(const KernelDims& d, const BlockWeights& w,
                                                 const std::string& variant, bool multi_input) {
  check_variant(variant, multi_input);
  std::vector<KernelProgram> programs;
  for (Kernel k : ane_program_kernels())
    programs.push_back(build_kernel_program(d, k, w, variant, multi_input));
  return programs;
}

std::vector<KernelProgram> build_kernel_programs(const ModelConfig& config, const BlockWeights& w,
                                                 const std::string& variant, bool multi_input) {
  config.validate();
  return build_kernel_programs(KernelDims::from(config, 1, config.seq_len), w, variant,
                               multi_input);
}

}  // namespace anetrain::ane
