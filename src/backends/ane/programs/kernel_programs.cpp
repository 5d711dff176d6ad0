#include "backends/ane/programs/kernel_programs.h"

#include <algorithm>
#include <cmath>

#include "backends/ane/mil/builder.h"
#include "core/error.h"

namespace anetrain::ane {
namespace {

using mil::Builder;
using mil::Value;

uint64_t align64(uint64_t v) { return (v + 63) / 64 * 64; }

// Collects weights for weights/weight.bin, assigning MILBlob record offsets as it goes.
struct BlobCollector {
  std::vector<BlobTensor> tensors;
  uint64_t next_record = 64;
  std::pair<std::string, uint64_t> add(const std::string& name, const std::vector<float>& values) {
    const uint64_t record = next_record;
    const uint64_t data = record + 64;
    next_record = align64(data + 2 * values.size());
    tensors.push_back({name, record, values});
    return {kWeightFile, record};
  }
};

struct Dims {
  int64_t D, F, H, G, E, R, QD, KD, S;
  float eps, theta;
};

Dims dims_of(const ModelConfig& c) {
  const int64_t E = c.head_dim();
  return {c.dim, c.hidden_dim, c.n_heads, c.n_kv_heads, E, c.n_heads / c.n_kv_heads,
          c.n_heads * E, c.n_kv_heads * E, c.seq_len, c.norm_eps, c.rope_theta};
}

// W [out, in] as a 1x1 conv weight [out, in, 1, 1], or its transpose [in, out, 1, 1].
std::vector<float> conv_weight(const float* w, int64_t out, int64_t in, bool transpose) {
  std::vector<float> v(out * in);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      if (transpose) v[i * out + o] = w[o * in + i];
      else v[o * in + i] = w[o * in + i];
    }
  return v;
}

// A weight as the dynamic variant carries it in the input surface: M = A^T for the applied
// matrix A [out, in] (rows = the input channels it contracts with), or a gain vector as one
// column. The static variant bakes A itself as a [out, in, 1, 1] conv weight.
struct DeclaredWeight {
  std::string name;
  int64_t out, in;           // of the applied matrix A (in = 1 ... for gains: out = n, in = 1)
  bool gain;                 // a per-channel gain vector of length `out`
  std::vector<float> applied;  // A row-major [out, in] (or the gain)
  WeightSource source;       // where A comes from in a BlockWeights
  int64_t column = 0;        // dynamic: first column of M in the surface
  Value value;               // dynamic: the slice holding it
};

class Generator {
 public:
  Generator(const Dims& d, const BlockWeights& w, const std::string& variant, bool multi_input)
      : d_(d), dynamic_(variant == "dynamic"), multi_input_(multi_input), variant_(variant),
        weights_source_(w),
        b_([this](const std::string& n, const std::vector<float>& v) { return blobs_.add(n, v); }) {}

  Builder& b() { return b_; }

  // Declares the matrix W [out, in] (applied as is, or transposed) before inputs() is called.
  void declare(const std::string& name, WeightSource::Field field, int64_t out, int64_t in,
               bool transpose) {
    DeclaredWeight dw{name, transpose ? in : out, transpose ? out : in, false,
                      conv_weight(weights_source_.*field, out, in, transpose), {field, transpose},
                      0, {}};
    weights_.push_back(dw);
  }
  void declare_gain(const std::string& name, WeightSource::Field field, int64_t n) {
    const float* g = weights_source_.*field;
    weights_.push_back({name, n, 1, true, std::vector<float>(g, g + n), {field, false}, 0, {}});
  }

  // The function's single input surface, unpacked into its activation slots. Static:
  // [1, C, 1, S] with C the slots' channels. Dynamic: [1, max(C, rows of M), 1, S + W]: the
  // activations in columns [0, S), each declared weight's M = A^T in its own column range,
  // zero elsewhere, W padded so that each row stays 64-byte aligned.
  std::vector<Value> inputs(const std::vector<SurfaceSlot>& slots) {
    slots_ = slots;
    int64_t channels = 0;
    for (const auto& sl : slots) channels += sl.channels;
    act_channels_ = channels;
    int64_t columns = d_.S;
    if (dynamic_) {
      for (auto& w : weights_) {
        channels = std::max(channels, w.in == 1 && w.gain ? w.out : w.in);
        w.column = columns;
        columns += w.gain ? 1 : w.out;
      }
      columns = (columns + 31) / 32 * 32;
    }
    surface_channels_ = channels;
    surface_columns_ = columns;
    if (multi_input_) {
      // One function input per slot (capability flag: reportedly some ANE builds need inputs
      // bound in alphabetical order of their names and ordered by ascending size). Inputs are
      // declared smallest first, named in_<i>_<slot> so alphabetical order is that order.
      std::vector<size_t> order(slots.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return slots[a].channels < slots[b].channels; });
      std::vector<Value> by_slot(slots.size());
      for (size_t rank = 0; rank < order.size(); ++rank) {
        const SurfaceSlot& sl = slots[order[rank]];
        by_slot[order[rank]] = b_.input("in_" + std::to_string(rank) + "_" + sl.name, {1, sl.channels, 1, d_.S});
        input_names_.push_back({sl.name, by_slot[order[rank]].name});
      }
      return by_slot;
    }
    Value surface = b_.input("x", {1, channels, 1, columns});
    std::vector<Value> out;
    if (!dynamic_ && slots.size() == 1) return {surface};
    int64_t at = 0;
    for (const SurfaceSlot& sl : slots) {
      out.push_back(b_.slice_by_size(sl.name, surface, {0, at, 0, 0}, {1, sl.channels, 1, d_.S}));
      at += sl.channels;
    }
    if (dynamic_)
      for (auto& w : weights_) {
        const int64_t rows = w.gain ? w.out : w.in, cols = w.gain ? 1 : w.out;
        w.value = b_.slice_by_size(w.name + "_m", surface, {0, 0, 0, w.column}, {1, rows, 1, cols});
      }
    return out;
  }

  // y = A x for the declared weight `name`; x is [1, in, 1, S].
  Value project(const std::string& name, const Value& x, const std::string& weight) {
    const DeclaredWeight& w = find(weight);
    if (!dynamic_) {
      Value wv = b_.weight(weight + "_w", {w.out, w.in, 1, 1}, w.applied);
      return b_.conv1x1(name, x, wv);
    }
    Value m = b_.reshape(weight + "_m2", w.value, {1, 1, w.in, w.out});
    Value x2 = b_.reshape(name + "_x2", x, {1, 1, w.in, d_.S});
    Value y2 = b_.matmul(name + "_y2", m, x2, true, false);  // [1, 1, out, S]
    return b_.reshape(name, y2, {1, w.out, 1, d_.S});
  }

  Value gain(const std::string& weight) {
    const DeclaredWeight& w = find(weight);
    if (!dynamic_) return b_.weight(weight + "_w", {1, w.out, 1, 1}, w.applied);
    return w.value;  // already [1, n, 1, 1]
  }

  Value rmsnorm(const Value& x, const std::string& gain_name, const std::string& prefix) {
    // x * (mean_c x^2 + eps)^-0.5 * w, written with ops the ANE takes (no reduce_mean).
    Value sq = b_.mul(prefix + "_sq", x, x);
    Value ss = b_.reduce_sum(prefix + "_ss", sq, {1}, true);
    Value ms = b_.mul(prefix + "_ms", ss, b_.scalar(prefix + "_inv_c", 1.0f / d_.D));
    Value mse = b_.add(prefix + "_mse", ms, b_.scalar(prefix + "_eps", d_.eps));
    Value r = b_.pow(prefix + "_rrms", mse, b_.scalar(prefix + "_neg_half", -0.5f));
    Value xr = b_.mul(prefix + "_xr", x, r);
    return b_.mul(prefix + "_xn", xr, gain(gain_name));
  }

  // llama2.c RoPE on [1, heads*E, 1, S]: pairs (2i, 2i+1) of each head rotate by
  // direction * s * theta^(-2i/E). Pairs are split with reshape + slice, rotated with
  // constant cos/sin tables, and interleaved back with concat on the pair axis.
  Value rope(const Value& t, int64_t heads, float direction, const std::string& prefix) {
    const int64_t C = heads * d_.E, P = C / 2, S = d_.S;
    std::vector<float> cos_table(P * S), sin_table(P * S);
    for (int64_t p = 0; p < P; ++p) {
      const int64_t i = p % (d_.E / 2);
      const float freq = 1.0f / std::pow(d_.theta, static_cast<float>(2 * i) / static_cast<float>(d_.E));
      for (int64_t s = 0; s < S; ++s) {
        const float angle = static_cast<float>(s) * freq;
        cos_table[p * S + s] = std::cos(angle);
        sin_table[p * S + s] = direction * std::sin(angle);
      }
    }
    Value cs = b_.weight(prefix + "_cos", {1, P, 1, S}, cos_table);
    Value sn = b_.weight(prefix + "_sin", {1, P, 1, S}, sin_table);
    Value pairs = b_.reshape(prefix + "_pairs", t, {1, P, 2, S});
    Value even = b_.slice_by_size(prefix + "_even", pairs, {0, 0, 0, 0}, {1, P, 1, S});
    Value odd = b_.slice_by_size(prefix + "_odd", pairs, {0, 0, 1, 0}, {1, P, 1, S});
    Value re = b_.sub(prefix + "_re", b_.mul(prefix + "_ec", even, cs), b_.mul(prefix + "_os", odd, sn));
    Value ro = b_.add(prefix + "_ro", b_.mul(prefix + "_es", even, sn), b_.mul(prefix + "_oc", odd, cs));
    Value joined = b_.concat(prefix + "_joined", {re, ro}, 2);
    return b_.reshape(prefix + "_out", joined, {1, C, 1, S});
  }

  // softmax(q k^T / sqrt(E) + mask) per query head, heads grouped [G, R, ...] so that query
  // head h = g*R + j shares kv head g by broadcasting.
  Value probabilities(const Value& q, const Value& k, const std::string& prefix) {
    const int64_t S = d_.S;
    Value q4 = b_.reshape(prefix + "_q4", q, {d_.G, d_.R, d_.E, S});
    Value k4 = b_.reshape(prefix + "_k4", k, {d_.G, 1, d_.E, S});
    Value qs = b_.mul(prefix + "_qs", q4, b_.scalar(prefix + "_scale", 1.0f / std::sqrt(static_cast<float>(d_.E))));
    Value scores = b_.matmul(prefix + "_scores", qs, k4, true, false);  // [G, R, S, S]
    std::vector<float> mask(S * S);
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S; ++j) mask[i * S + j] = j > i ? -65504.0f : 0.0f;
    Value m = b_.weight(prefix + "_mask", {1, 1, S, S}, mask);
    return b_.softmax(prefix + "_p", b_.add(prefix + "_masked", scores, m), -1);
  }

  KernelProgram finish(const std::string& kernel, std::vector<SurfaceSlot> out) {
    KernelProgram k;
    k.kernel = kernel;
    k.variant = variant_;
    k.seq = d_.S;
    k.program = b_.finish();
    k.inputs = slots_;
    k.outputs = std::move(out);
    k.weights = std::move(blobs_.tensors);
    k.multi_input = multi_input_;
    k.input_names = input_names_;
    k.surface_channels = surface_channels_;
    k.surface_columns = surface_columns_;
    if (dynamic_) {
      for (const auto& w : weights_)
        k.surface_weights.push_back(
            {w.name, w.gain ? w.out : w.in, w.gain ? 1 : w.out, w.column, w.source, {}});
      refresh_surface_weights(k, weights_source_);
    }
    return k;
  }

 private:
  const DeclaredWeight& find(const std::string& name) const {
    for (const auto& w : weights_)
      if (w.name == name) return w;
    ANETRAIN_CHECK(false, "undeclared weight " + name);
    return weights_.front();
  }

  Dims d_;
  bool dynamic_, multi_input_;
  std::string variant_;
  BlockWeights weights_source_;
  std::vector<std::pair<std::string, std::string>> input_names_;
  BlobCollector blobs_;
  Builder b_;
  std::vector<DeclaredWeight> weights_;
  std::vector<SurfaceSlot> slots_;
  int64_t act_channels_ = 0, surface_channels_ = 0, surface_columns_ = 0;
};

int64_t total(const std::vector<SurfaceSlot>& slots) {
  int64_t c = 0;
  for (const auto& s : slots) c += s.channels;
  return c;
}

KernelProgram attention_forward(const Dims& d, const BlockWeights& w, const std::string& variant, bool multi) {
  Generator g(d, w, variant, multi);
  Builder& b = g.b();
  g.declare_gain("norm", &BlockWeights::attention_norm, d.D);
  g.declare("wq", &BlockWeights::wq, d.QD, d.D, false);
  g.declare("wk", &BlockWeights::wk, d.KD, d.D, false);
  g.declare("wv", &BlockWeights::wv, d.KD, d.D, false);
  g.declare("wo", &BlockWeights::wo, d.D, d.QD, false);
  Value x = g.inputs({{"x", d.D}})[0];
  Value xn = g.rmsnorm(x, "norm", "norm");
  Value q = g.rope(g.project("q", xn, "wq"), d.H, 1.0f, "rope_q");
  Value k = g.rope(g.project("k", xn, "wk"), d.G, 1.0f, "rope_k");
  Value v = g.project("v", xn, "wv");
  Value p = g.probabilities(q, k, "attn");
  Value v4 = b.reshape("v4", v, {d.G, 1, d.E, d.S});
  Value a4 = b.matmul("attn4", v4, p, false, true);  // [G, R, E, S]
  Value attn = b.reshape("attn", a4, {1, d.QD, 1, d.S});
  Value y = g.project("y", attn, "wo");
  b.output(b.concat("out", {y, q, k, v, attn, xn}, 1));
  return g.finish("attention_forward",
                  {{"y", d.D}, {"q", d.QD}, {"k", d.KD}, {"v", d.KD}, {"attn", d.QD}, {"xnorm", d.D}});
}

KernelProgram ffn_forward(const Dims& d, const BlockWeights& w, const std::string& variant, bool multi) {
  Generator g(d, w, variant, multi);
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
  b.output(b.concat("out", {y, h1, h3, gate, xn}, 1));
  return g.finish("ffn_forward", {{"y", d.D}, {"h1", d.F}, {"h3", d.F}, {"gate", d.F}, {"xnorm", d.D}});
}

KernelProgram ffn_backward(const Dims& d, const BlockWeights& w, const std::string& variant, bool multi) {
  Generator g(d, w, variant, multi);
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
  Value dsilu = b.mul("dsilu", sig, b.add("dsilu_1", one, b.mul("x_1msig", v[1], b.sub("one_msig", one, sig))));
  Value dh1 = b.mul("dh1", b.mul("dgate_h3", dgate, v[2]), dsilu);
  Value dx = b.add("dxnorm", g.project("dx1", dh1, "w1t"), g.project("dx3", dh3, "w3t"));
  b.output(b.concat("out", {dx, dh1, dh3}, 1));
  return g.finish("ffn_backward", {{"dxnorm", d.D}, {"dh1", d.F}, {"dh3", d.F}});
}

KernelProgram sdpa_backward1(const Dims& d, const BlockWeights& w, const std::string& variant, bool multi) {
  Generator g(d, w, variant, multi);
  Builder& b = g.b();
  g.declare("wot", &BlockWeights::wo, d.D, d.QD, true);
  std::vector<Value> v = g.inputs({{"dy", d.D}, {"q", d.QD}, {"k", d.KD}, {"v", d.KD}});
  Value da = g.project("dattn", v[0], "wot");  // Wo^T dy
  Value p = g.probabilities(v[1], v[2], "recompute");
  Value da4 = b.reshape("dattn4", da, {d.G, d.R, d.E, d.S});
  Value v4 = b.reshape("v4", v[3], {d.G, 1, d.E, d.S});
  Value dp = b.matmul("dp", da4, v4, true, false);          // [G, R, S, S]
  Value dv_heads = b.matmul("dv_heads", da4, p, false, false);  // [G, R, E, S]
  Value dv4 = b.reduce_sum("dv4", dv_heads, {1}, true);      // the group's heads summed
  Value dv = b.reshape("dv", dv4, {1, d.KD, 1, d.S});
  Value p_out = b.reshape("probs", p, {1, d.H * d.S, 1, d.S});
  Value dp_out = b.reshape("dprobs", dp, {1, d.H * d.S, 1, d.S});
  b.output(b.concat("out", {dv, p_out, dp_out}, 1));
  return g.finish("sdpa_backward1", {{"dv", d.KD}, {"probs", d.H * d.S}, {"dprobs", d.H * d.S}});
}

KernelProgram sdpa_backward2(const Dims& d, const BlockWeights& w, const std::string& variant, bool multi) {
  Generator g(d, w, variant, multi);
  Builder& b = g.b();
  std::vector<Value> v = g.inputs({{"probs", d.H * d.S}, {"dprobs", d.H * d.S}, {"q", d.QD}, {"k", d.KD}});
  Value p4 = b.reshape("p4", v[0], {d.G, d.R, d.S, d.S});
  Value dp4 = b.reshape("dp4", v[1], {d.G, d.R, d.S, d.S});
  Value rowsum = b.reduce_sum("rowsum", b.mul("p_dp", p4, dp4), {-1}, true);
  Value ds = b.mul("ds", b.mul("ds_unscaled", p4, b.sub("dp_centered", dp4, rowsum)),
                   b.scalar("scale", 1.0f / std::sqrt(static_cast<float>(d.E))));
  Value q4 = b.reshape("q4", v[2], {d.G, d.R, d.E, d.S});
  Value k4 = b.reshape("k4", v[3], {d.G, 1, d.E, d.S});
  Value dq4 = b.matmul("dq4", k4, ds, false, true);       // [G, R, E, S]
  Value dk_heads = b.matmul("dk_heads", q4, ds, false, false);
  Value dk4 = b.reduce_sum("dk4", dk_heads, {1}, true);
  Value dq = g.rope(b.reshape("dq_rot", dq4, {1, d.QD, 1, d.S}), d.H, -1.0f, "unrope_q");
  Value dk = g.rope(b.reshape("dk_rot", dk4, {1, d.KD, 1, d.S}), d.G, -1.0f, "unrope_k");
  b.output(b.concat("out", {dq, dk}, 1));
  return g.finish("sdpa_backward2", {{"dq", d.QD}, {"dk", d.KD}});
}

KernelProgram qkv_backward(const Dims& d, const BlockWeights& w, const std::string& variant, bool multi) {
  Generator g(d, w, variant, multi);
  Builder& b = g.b();
  g.declare("wqt", &BlockWeights::wq, d.QD, d.D, true);
  g.declare("wkt", &BlockWeights::wk, d.KD, d.D, true);
  g.declare("wvt", &BlockWeights::wv, d.KD, d.D, true);
  std::vector<Value> v = g.inputs({{"dq", d.QD}, {"dk", d.KD}, {"dv", d.KD}});
  Value dx = b.add("dx_qk", g.project("dx_q", v[0], "wqt"), g.project("dx_k", v[1], "wkt"));
  b.output(b.add("dxnorm", dx, g.project("dx_v", v[2], "wvt")));
  return g.finish("qkv_backward", {{"dxnorm", d.D}});
}

}  // namespace

BlockWeights block_weights(const ParamLayout& layout, const float* p, int layer) {
  const LayerParams& lp = layout.layer(layer);
  return {p + lp.attention_norm, p + lp.wq, p + lp.wk, p + lp.wv, p + lp.wo,
          p + lp.ffn_norm,       p + lp.w1, p + lp.w2, p + lp.w3};
}

int64_t KernelProgram::input_channels() const { return total(inputs); }
int64_t KernelProgram::output_channels() const { return total(outputs); }

std::vector<KernelProgram> build_kernel_programs(const ModelConfig& config, const BlockWeights& w,
                                                 const std::string& variant, bool multi_input) {
  config.validate();
  if (variant != "static" && variant != "dynamic")
    throw UserError("ANE program variant '" + variant + "' is unknown: use static or dynamic");
  if (multi_input && variant == "dynamic")
    throw UserError("multi-input programs exist for the static variant only (the dynamic one "
                    "packs weights next to the activations in one surface)");
  const Dims d = dims_of(config);
  const bool m = multi_input;
  return {attention_forward(d, w, variant, m), ffn_forward(d, w, variant, m),
          ffn_backward(d, w, variant, m),      sdpa_backward1(d, w, variant, m),
          sdpa_backward2(d, w, variant, m),    qkv_backward(d, w, variant, m)};
}

void refresh_surface_weights(KernelProgram& program, const BlockWeights& w) {
  for (SurfaceWeight& sw : program.surface_weights) {
    const float* src = w.*sw.source.field;
    ANETRAIN_CHECK(src != nullptr, "no weight for surface slot " + sw.name);
    sw.values.resize(sw.rows * sw.cols);
    // M = A^T: the stored W [out, in] itself when A = W^T, else W transposed (gains: a column).
    if (sw.cols == 1 || sw.source.transposed) {
      std::copy(src, src + sw.rows * sw.cols, sw.values.begin());
      continue;
    }
    for (int64_t r = 0; r < sw.rows; ++r)
      for (int64_t c = 0; c < sw.cols; ++c) sw.values[r * sw.cols + c] = src[c * sw.rows + r];
  }
}

KernelProgram build_kernel_program(const ModelConfig& config, const std::string& kernel,
                                   const BlockWeights& w, const std::string& variant,
                                   bool multi_input) {
  config.validate();
  if (variant != "static" && variant != "dynamic")
    throw UserError("ANE program variant '" + variant + "' is unknown: use static or dynamic");
  const Dims d = dims_of(config);
  if (kernel == "attention_forward") return attention_forward(d, w, variant, multi_input);
  if (kernel == "ffn_forward") return ffn_forward(d, w, variant, multi_input);
  if (kernel == "ffn_backward") return ffn_backward(d, w, variant, multi_input);
  if (kernel == "sdpa_backward1") return sdpa_backward1(d, w, variant, multi_input);
  if (kernel == "sdpa_backward2") return sdpa_backward2(d, w, variant, multi_input);
  if (kernel == "qkv_backward") return qkv_backward(d, w, variant, multi_input);
  throw UserError("no ANE program for kernel '" + kernel + "'");
}

std::vector<uint64_t> milblob_record_offsets(const std::vector<int64_t>& counts) {
  std::vector<uint64_t> offsets;
  uint64_t record = 64;
  for (int64_t n : counts) {
    offsets.push_back(record);
    record = align64(record + 64 + 2 * static_cast<uint64_t>(n));
  }
  return offsets;
}

}  // namespace anetrain::ane
