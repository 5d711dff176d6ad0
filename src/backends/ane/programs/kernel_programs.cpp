#include "backends/ane/programs/kernel_programs.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "backends/ane/programs/generator.h"
#include "core/error.h"

namespace anetrain::ane {
namespace {

using mil::Builder;
using mil::Value;

// silu'(h1) applied: dh1 = dgate * h3 * silu'(h1), dh3 = dgate * silu(h1), with
// silu'(x) = sig * (1 + x * (1 - sig)).
std::pair<Value, Value> silu_backward(Builder& b, const Value& dgate, const Value& h1,
                                      const Value& h3) {
  Value sig = b.sigmoid("sig", h1);
  Value silu = b.mul("silu", h1, sig);
  Value dh3 = b.mul("dh3", dgate, silu);
  Value one = b.scalar("one", 1.0f);
  Value dsilu =
      b.mul("dsilu", sig, b.add("dsilu_1", one, b.mul("x_1msig", h1, b.sub("one_msig", one, sig))));
  Value dh1 = b.mul("dh1", b.mul("dgate_h3", dgate, h3), dsilu);
  return {dh1, dh3};
}

// The kernel's own output slots, then the forward adapters' taps (Generator::adapter_taps).
std::vector<Generator::Output> with_taps(Generator& g, std::vector<Generator::Output> slots) {
  for (Generator::Output& tap : g.adapter_taps()) slots.push_back(std::move(tap));
  return slots;
}

// ---- Fused form: one program per kernel. Each declares its weights and input slots,
// computes, and declares its output slots once (Generator::outputs).

void attention_forward(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  g.declare_gain("norm", &BlockWeights::attention_norm, d.D);
  g.declare("wq", &BlockWeights::wq, d.QD(), d.D, false);
  g.declare("wk", &BlockWeights::wk, d.KD(), d.D, false);
  g.declare("wv", &BlockWeights::wv, d.KD(), d.D, false);
  g.declare("wo", &BlockWeights::wo, d.D, d.QD(), false);
  g.declare_adapter(block_adapter("q"), d.QD(), d.D);
  g.declare_adapter(block_adapter("k"), d.KD(), d.D);
  g.declare_adapter(block_adapter("v"), d.KD(), d.D);
  Value x = g.inputs({{"x", d.D}})[0];
  Value xn = g.rmsnorm(x, "norm", "norm");
  Value q = g.rope(g.project("q", xn, "wq", "q"), d.H, 1.0f, "rope_q");
  Value k = g.rope(g.project("k", xn, "wk", "k"), d.G, 1.0f, "rope_k");
  Value v = g.project("v", xn, "wv", "v");
  Value p = g.probabilities(q, k, "attn");
  Value v4 = b.reshape("v4", v, {d.G, 1, d.E, d.S});
  Value a4 = b.matmul("attn4", v4, p, false, true);  // [G, R, E, S]
  Value attn = b.reshape("attn", a4, {1, d.QD(), 1, d.S});
  Value y = g.project("y", attn, "wo");
  g.outputs(with_taps(g, {{"y", y}, {"q", q}, {"k", k}, {"v", v}, {"attn", attn}, {"xnorm", xn}}));
}

void ffn_forward(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  g.declare_gain("norm", &BlockWeights::ffn_norm, d.D);
  g.declare("w1", &BlockWeights::w1, d.F, d.D, false);
  g.declare("w3", &BlockWeights::w3, d.F, d.D, false);
  g.declare("w2", &BlockWeights::w2, d.D, d.F, false);
  g.declare_adapter(block_adapter("1"), d.F, d.D);
  g.declare_adapter(block_adapter("3"), d.F, d.D);
  Value x = g.inputs({{"x", d.D}})[0];
  Value xn = g.rmsnorm(x, "norm", "norm");
  Value h1 = g.project("h1", xn, "w1", "1");
  Value h3 = g.project("h3", xn, "w3", "3");
  Value silu = b.mul("silu", h1, b.sigmoid("sig", h1));
  Value gate = b.mul("gate", silu, h3);
  Value y = g.project("y", gate, "w2");
  g.outputs(with_taps(g, {{"y", y}, {"h1", h1}, {"h3", h3}, {"gate", gate}, {"xnorm", xn}}));
}

void ffn_backward(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  g.declare("w2t", &BlockWeights::w2, d.D, d.F, true);
  g.declare("w1t", &BlockWeights::w1, d.F, d.D, true);
  g.declare("w3t", &BlockWeights::w3, d.F, d.D, true);
  g.declare_adapter(block_adapter("2"), d.D, d.F);
  std::vector<Value> v = g.inputs({{"dy", d.D}, {"h1", d.F}, {"h3", d.F}});
  Value dgate = g.project("dgate", v[0], "w2t", "2");
  const auto [dh1, dh3] = silu_backward(b, dgate, v[1], v[2]);
  Value dx = b.add("dxnorm", g.project("dx1", dh1, "w1t"), g.project("dx3", dh3, "w3t"));
  g.outputs({{"dxnorm", dx}, {"dh1", dh1}, {"dh3", dh3}});
}

void sdpa_backward1(Generator& g, const KernelDims& d) {
  Builder& b = g.b();
  g.declare("wot", &BlockWeights::wo, d.D, d.QD(), true);
  g.declare_adapter(block_adapter("o"), d.D, d.QD());
  std::vector<Value> v = g.inputs({{"dy", d.D}, {"q", d.QD()}, {"k", d.KD()}, {"v", d.KD()}});
  Value da = g.project("dattn", v[0], "wot", "o");  // Wo^T dy (+ its adapter's share)
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

// ---- Proven form: each kernel a plan of parts, as the seed's dynamic pipeline splits it.

// Query heads [h0, h0 + n) and their kv heads [kv0, kv0 + kv).
struct HeadGroup {
  int64_t h0, n, kv0, kv;
  std::string suffix;  // "" for all heads in one group, else ".h<first>-<last>"
};

std::vector<HeadGroup> head_groups(const KernelDims& d, int64_t group_heads) {
  std::vector<HeadGroup> groups;
  for (int64_t h0 = 0; h0 < d.H; h0 += group_heads) {
    const std::string suffix = group_heads == d.H ? ""
                                                  : ".h" + std::to_string(h0) + "-" +
                                                        std::to_string(h0 + group_heads - 1);
    groups.push_back({h0, group_heads, h0 / d.R(), group_heads / d.R(), suffix});
  }
  return groups;
}

void attention_forward_plan(PlanWriter& p, const KernelDims& d, int64_t group_heads) {
  p.host_norm(&BlockWeights::attention_norm);
  const int64_t E = d.E;
  for (const HeadGroup& hg : head_groups(d, group_heads))
    p.part("qkv_attention" + hg.suffix, [&](Generator& g) {
      Builder& b = g.b();
      g.declare("wq", &BlockWeights::wq, hg.n * E, d.D, false, hg.h0 * E);
      g.declare("wk", &BlockWeights::wk, hg.kv * E, d.D, false, hg.kv0 * E);
      g.declare("wv", &BlockWeights::wv, hg.kv * E, d.D, false, hg.kv0 * E);
      // Each group adds its rows of the adapters' paths; ax is the same in every group.
      g.declare_adapter(block_adapter("q"), hg.n * E, d.D, hg.h0 * E);
      g.declare_adapter(block_adapter("k"), hg.kv * E, d.D, hg.kv0 * E);
      g.declare_adapter(block_adapter("v"), hg.kv * E, d.D, hg.kv0 * E);
      Value xn = g.inputs({{"xnorm", d.D}})[0];
      Value q =
          g.rope_heads(g.to_heads("qh", g.project("q_proj", xn, "wq", "q"), hg.n), 1.0f, "rope_q");
      Value k =
          g.rope_heads(g.to_heads("kh", g.project("k_proj", xn, "wk", "k"), hg.kv), 1.0f, "rope_k");
      Value v = g.project("v", xn, "wv", "v");
      Value p_heads = g.head_probabilities(q, k, "attn");
      Value a = b.matmul("a_g", g.by_kv_head("p_g", p_heads), g.to_heads("vh", v, hg.kv), false,
                         false);  // [1, kv, R*S, E]
      std::vector<Generator::Output> out = {
          {.name = "attn",
           .value = g.from_heads("attn", g.by_query_head("a_h", a)),
           .offset = hg.h0 * E},
          {.name = "q", .value = g.from_heads("q", q), .offset = hg.h0 * E},
          {.name = "k", .value = g.from_heads("k", k), .offset = hg.kv0 * E},
          {.name = "v", .value = v, .offset = hg.kv0 * E}};
      g.outputs(hg.h0 == 0 ? with_taps(g, std::move(out)) : out);  // the taps once
    });
  p.part("wo", [&](Generator& g) {
    g.declare("wo", &BlockWeights::wo, d.D, d.QD(), false);
    Value attn = g.inputs({{"attn", d.QD()}})[0];
    g.outputs({{"y", g.project("y", attn, "wo")}});
  });
}

void ffn_forward_plan(PlanWriter& p, const KernelDims& d, int64_t) {
  p.host_norm(&BlockWeights::ffn_norm);
  p.part("ffn", [&](Generator& g) {
    Builder& b = g.b();
    g.declare("w1", &BlockWeights::w1, d.F, d.D, false);
    g.declare("w3", &BlockWeights::w3, d.F, d.D, false);
    g.declare("w2", &BlockWeights::w2, d.D, d.F, false);
    g.declare_adapter(block_adapter("1"), d.F, d.D);
    g.declare_adapter(block_adapter("3"), d.F, d.D);
    Value xn = g.inputs({{"xnorm", d.D}})[0];
    Value h1 = g.project("h1", xn, "w1", "1");
    Value h3 = g.project("h3", xn, "w3", "3");
    Value gate = b.mul("gate", b.mul("silu", h1, b.sigmoid("sig", h1)), h3);
    g.outputs(
        with_taps(g, {{"y", g.project("y", gate, "w2")}, {"h1", h1}, {"h3", h3}, {"gate", gate}}));
  });
}

void ffn_backward_plan(PlanWriter& p, const KernelDims& d, int64_t) {
  p.part("w2t", [&](Generator& g) {
    g.declare("w2t", &BlockWeights::w2, d.D, d.F, true);
    g.declare_adapter(block_adapter("2"), d.D, d.F);
    Value dy = g.inputs({{"dy", d.D}})[0];
    g.outputs({{"dgate", g.project("dgate", dy, "w2t", "2")}});
  });
  p.intermediate("dgate");
  p.part("silu", [&](Generator& g) {
    std::vector<Value> v = g.inputs({{"dgate", d.F}, {"h1", d.F}, {"h3", d.F}});
    const auto [dh1, dh3] = silu_backward(g.b(), v[0], v[1], v[2]);
    g.outputs({{"dh1", dh1}, {"dh3", dh3}});
  });
  p.part("w13t", [&](Generator& g) {
    g.declare("w1t", &BlockWeights::w1, d.F, d.D, true);
    g.declare("w3t", &BlockWeights::w3, d.F, d.D, true);
    std::vector<Value> v = g.inputs({{"dh1", d.F}, {"dh3", d.F}});
    Value dx = g.b().add("dxnorm", g.project("dx1", v[0], "w1t"), g.project("dx3", v[1], "w3t"));
    g.outputs({{"dxnorm", dx}});
  });
}

void sdpa_backward1_plan(PlanWriter& p, const KernelDims& d, int64_t group_heads) {
  p.part("wot", [&](Generator& g) {
    g.declare("wot", &BlockWeights::wo, d.D, d.QD(), true);
    g.declare_adapter(block_adapter("o"), d.D, d.QD());
    Value dy = g.inputs({{"dy", d.D}})[0];
    g.outputs({{"dattn", g.project("dattn", dy, "wot", "o")}});
  });
  const int64_t E = d.E, S = d.S;
  for (const HeadGroup& hg : head_groups(d, group_heads))
    p.part("attention" + hg.suffix, [&](Generator& g) {
      Builder& b = g.b();
      std::vector<Value> v = g.inputs({{.name = "dattn", .channels = hg.n * E, .offset = hg.h0 * E},
                                       {.name = "q", .channels = hg.n * E, .offset = hg.h0 * E},
                                       {.name = "k", .channels = hg.kv * E, .offset = hg.kv0 * E},
                                       {.name = "v", .channels = hg.kv * E, .offset = hg.kv0 * E}});
      Value da = g.by_kv_head("da_g", g.to_heads("dah", v[0], hg.n));  // [1, kv, R*S, E]
      Value p_heads = g.head_probabilities(g.to_heads("qh", v[1], hg.n),
                                           g.to_heads("kh", v[2], hg.kv), "recompute");
      Value dp = b.matmul("dp_g", da, g.to_heads("vh", v[3], hg.kv), false, true);
      Value dv = b.matmul("dv_h", g.by_kv_head("p_g", p_heads), da, true, false);  // [1,kv,S,E]
      const SlotLayout rows = SlotLayout::kAttentionRows;
      g.outputs({{.name = "dv", .value = g.from_heads("dv", dv), .offset = hg.kv0 * E},
                 {.name = "probs",
                  .value = b.reshape("probs", p_heads, {1, hg.n * S, 1, S}),
                  .layout = rows,
                  .offset = hg.h0 * S},
                 {.name = "dprobs",
                  .value = b.reshape("dprobs", g.by_query_head("dp_h", dp), {1, hg.n * S, 1, S}),
                  .layout = rows,
                  .offset = hg.h0 * S}});
    });
}

void sdpa_backward2_plan(PlanWriter& p, const KernelDims& d, int64_t group_heads) {
  const int64_t E = d.E, S = d.S;
  const SlotLayout rows = SlotLayout::kAttentionRows;
  for (const HeadGroup& hg : head_groups(d, group_heads))
    p.part("attention" + hg.suffix, [&](Generator& g) {
      Builder& b = g.b();
      std::vector<Value> v = g.inputs(
          {{.name = "probs", .channels = hg.n * S, .layout = rows, .offset = hg.h0 * S},
           {.name = "dprobs", .channels = hg.n * S, .layout = rows, .offset = hg.h0 * S},
           {.name = "q", .channels = hg.n * E, .offset = hg.h0 * E},
           {.name = "k", .channels = hg.kv * E, .offset = hg.kv0 * E}});
      Value p4 = b.reshape("p4", v[0], {1, hg.n, S, S});
      Value dp4 = b.reshape("dp4", v[1], {1, hg.n, S, S});
      Value rowsum = b.reduce_sum("rowsum", b.mul("p_dp", p4, dp4), {3}, true);
      Value ds = b.mul("ds", b.mul("ds_unscaled", p4, b.sub("dp_centered", dp4, rowsum)),
                       b.scalar("scale", 1.0f / std::sqrt(static_cast<float>(E))));
      Value ds_g = g.by_kv_head("ds_g", ds);  // [1, kv, R*S, S]
      Value dq_g = b.matmul("dq_g", ds_g, g.to_heads("kh", v[3], hg.kv), false, false);
      Value dk = b.matmul("dk_h", ds_g, g.by_kv_head("q_g", g.to_heads("qh", v[2], hg.n)), true,
                          false);  // [1, kv, S, E]
      Value dq = g.rope_heads(g.by_query_head("dq_h", dq_g), -1.0f, "unrope_q");
      g.outputs({{.name = "dq", .value = g.from_heads("dq", dq), .offset = hg.h0 * E},
                 {.name = "dk",
                  .value = g.from_heads("dk", g.rope_heads(dk, -1.0f, "unrope_k")),
                  .offset = hg.kv0 * E}});
    });
}

void qkv_backward_plan(PlanWriter& p, const KernelDims& d, int64_t) {
  p.part("qkv", [&](Generator& g) { qkv_backward(g, d); });
}

// fp16 carries 11 significant bits (relative step 4.9e-4); the tolerances allow for the
// rounding of every intermediate (our interpreter's model: one rounding per op, fp32
// accumulation) through chains of 10-30 ops. Backward kernels multiply differences of nearly
// equal fp16 numbers (softmax backward) and get more room.
constexpr double kForward = 1e-2, kBackward = 2e-2;

constexpr AneKernel kAneKernels[] = {
    {.kernel = Kernel::kAttentionForward,
     .write = attention_forward,
     .plan = attention_forward_plan,
     .tolerance = kForward},
    {.kernel = Kernel::kFfnForward,
     .write = ffn_forward,
     .plan = ffn_forward_plan,
     .tolerance = kForward},
    {.kernel = Kernel::kFfnBackward,
     .write = ffn_backward,
     .plan = ffn_backward_plan,
     .tolerance = kBackward},
    {.kernel = Kernel::kSdpaBackward1,
     .write = sdpa_backward1,
     .plan = sdpa_backward1_plan,
     .tolerance = kBackward},
    {.kernel = Kernel::kSdpaBackward2,
     .write = sdpa_backward2,
     .plan = sdpa_backward2_plan,
     .tolerance = kBackward},
    {.kernel = Kernel::kQkvBackward,
     .write = qkv_backward,
     .plan = qkv_backward_plan,
     .tolerance = kBackward},
    // The classifier and its loss are host work in the seed too (ane_backend.h).
    {.kernel = Kernel::kClassifierLoss, .write = nullptr, .plan = nullptr, .tolerance = 0},
};

constexpr bool rows_follow_the_kernel_table() {
  for (size_t i = 0; i < kKernelCount; ++i)
    if (kAneKernels[i].kernel != kAllKernels[i]) return false;
  return true;
}
static_assert(std::size(kAneKernels) == kKernelCount && rows_follow_the_kernel_table(),
              "one ANE row per kernel of kernels/kernel_table.h, in its order");

void check_options(const ProgramOptions& o) {
  if (o.variant != "static" && o.variant != "dynamic")
    throw UserError("ANE program variant '" + o.variant + "' is unknown: use static or dynamic");
  if (o.form != "proven" && o.form != "fused")
    throw UserError("ANE program form '" + o.form + "' is unknown: use proven or fused");
  if (o.multi_input && o.variant == "dynamic")
    throw UserError(
        "multi-input programs exist for the static variant only (the dynamic one "
        "packs weights next to the activations in one surface)");
  if (o.surface_budget_bytes <= 0)
    throw UserError("the ANE surface budget must be positive (ane_surface_budget_mb)");
}

double megabytes(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// The part of `plan` with the largest surface, and that size in bytes.
std::pair<const KernelProgram*, int64_t> largest_surface(const KernelPlan& plan) {
  const KernelProgram* worst = nullptr;
  int64_t bytes = 0;
  for (const KernelProgram& part : plan.parts)
    for (int64_t b : {part.input_bytes(), part.output_bytes()})
      if (b > bytes) worst = &part, bytes = b;
  return {worst, bytes};
}

// Head-group sizes to try, largest first: divisors of H made of whole kv groups, with the
// RoPE view [1, n*S, E/2, 2] within the smallest per-axis limit (16384).
std::vector<int64_t> group_sizes(const KernelDims& d) {
  std::vector<int64_t> sizes;
  for (int64_t n = d.H; n >= d.R(); --n)
    if (d.H % n == 0 && n % d.R() == 0 && n * d.S <= 16384) sizes.push_back(n);
  return sizes;
}

bool plan_uses_head_groups(Kernel k) {
  return k == Kernel::kAttentionForward || k == Kernel::kSdpaBackward1 ||
         k == Kernel::kSdpaBackward2;
}

}  // namespace

std::vector<SurfaceSlot> KernelPlan::inputs() const {
  // Read by a part and written by no earlier part, merged over head groups; x replaces the
  // host-normed xnorm.
  std::map<std::string, SurfaceSlot> read;
  std::set<std::string> written;
  if (host_norm) written.insert("xnorm");
  for (const KernelProgram& part : parts) {
    for (const SurfaceSlot& s : part.inputs)
      if (!written.count(s.name)) {
        SurfaceSlot& merged = read.try_emplace(s.name, SurfaceSlot{s.name, 0, s.layout}).first->second;
        merged.channels = std::max(merged.channels, s.offset + s.channels);
      }
    for (const SurfaceSlot& s : part.outputs) written.insert(s.name);
  }
  std::vector<SurfaceSlot> out;
  if (host_norm) out.push_back({"x", parts.front().inputs.front().channels});
  for (auto& [name, slot] : read) out.push_back(slot);
  return out;
}

std::vector<SurfaceSlot> KernelPlan::outputs() const {
  std::map<std::string, SurfaceSlot> written;
  for (const KernelProgram& part : parts)
    for (const SurfaceSlot& s : part.outputs) {
      if (std::count(intermediates.begin(), intermediates.end(), s.name)) continue;
      SurfaceSlot& merged =
          written.try_emplace(s.name, SurfaceSlot{s.name, 0, s.layout}).first->second;
      merged.channels = std::max(merged.channels, s.offset + s.channels);
    }
  std::vector<SurfaceSlot> out;
  if (host_norm) out.push_back({"xnorm", parts.front().inputs.front().channels});
  for (auto& [name, slot] : written) out.push_back(slot);
  return out;
}

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

KernelPlan build_kernel_plan(const KernelDims& d, Kernel k, const BlockWeights& w,
                             const ProgramOptions& options, int64_t group_heads) {
  check_options(options);
  if (options.multi_input && lora_shape(w).any())
    throw UserError(
        "LoRA adapters travel in the packed input surface: multi-input programs cannot carry "
        "them (drop --multi-input)");
  const AneKernel& row = ane_kernel(k);
  if (!row.write)
    throw UserError(std::string("no ANE program for kernel '") + kernel_name(k) +
                    "': it runs on the host");
  if (options.form == "fused") {
    Generator g(d, w, options);
    row.write(g, d);
    KernelPlan plan{.op = k, .options = options, .group_heads = d.H};
    plan.parts.push_back(g.finish(k));
    return plan;
  }
  std::vector<int64_t> sizes = group_heads > 0 ? std::vector<int64_t>{group_heads} : group_sizes(d);
  if (!plan_uses_head_groups(k) || sizes.empty()) sizes = {d.H};
  std::string over;
  for (int64_t n : sizes) {
    PlanWriter writer(d, w, options, k);
    row.plan(writer, d, n);
    KernelPlan plan = writer.finish(n);
    const auto [part, bytes] = largest_surface(plan);
    if (bytes <= options.surface_budget_bytes || group_heads > 0) return plan;
    char size[160];
    std::snprintf(size, sizeof size, "%.1f MB, above the budget of %.1f MB", megabytes(bytes),
                  megabytes(options.surface_budget_bytes));
    over = part->name() + "'s surface is " + size;
  }
  const LoraShape lora = lora_shape(w);
  const bool masks = std::count(lora.masked.begin(), lora.masked.end(), true) > 0;
  throw UserError("ANE " + over +
                  (plan_uses_head_groups(k) ? " even with the smallest head group" : "") +
                  ": raise ane_surface_budget_mb, shorten seq_len, " +
                  (masks ? "train the LoRA adapters without dropout (its masks travel in the "
                           "surface), "
                         : "") +
                  "or use ane_program_form=fused");
}

std::vector<KernelProgram> build_kernel_programs(const KernelDims& d, const BlockWeights& w,
                                                 const ProgramOptions& options) {
  std::vector<KernelProgram> programs;
  for (Kernel k : ane_program_kernels())
    for (KernelProgram& part : build_kernel_plan(d, k, w, options).parts)
      programs.push_back(std::move(part));
  return programs;
}

std::vector<KernelProgram> build_kernel_programs(const ModelConfig& config, const BlockWeights& w,
                                                 const ProgramOptions& options) {
  config.validate();
  return build_kernel_programs(KernelDims::from(config, 1, config.seq_len), w, options);
}

}  // namespace anetrain::ane
