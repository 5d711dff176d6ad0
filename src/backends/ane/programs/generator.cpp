#include "backends/ane/programs/generator.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace anetrain::ane {

using mil::Value;

namespace {

uint64_t align64(uint64_t v) { return (v + 63) / 64 * 64; }
// Surface columns: 32 fp16 values keep every row and every block 64-byte aligned.
int64_t align32(int64_t v) { return (v + 31) / 32 * 32; }

// W [out, in] as a 1x1 conv weight [out, in, 1, 1], or its transpose [in, out, 1, 1].
std::vector<float> conv_weight(const float* w, int64_t out, int64_t in, bool transpose) {
  std::vector<float> v(out * in);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      if (transpose)
        v[i * out + o] = w[o * in + i];
      else
        v[o * in + i] = w[o * in + i];
    }
  return v;
}

int64_t total(const std::vector<SurfaceSlot>& slots) {
  int64_t c = 0;
  for (const auto& s : slots) c += s.channels;
  return c;
}

}  // namespace

std::pair<std::string, uint64_t> Generator::BlobCollector::add(const std::string& name,
                                                               const std::vector<float>& values) {
  const uint64_t record = next_record;
  const uint64_t data = record + 64;
  next_record = align64(data + 2 * values.size());
  tensors.push_back({name, record, values});
  return {kWeightFile, record};
}

Generator::Generator(const KernelDims& d, const BlockWeights& w, const ProgramOptions& options)
    : d_(d),
      dynamic_(options.variant == "dynamic"),
      multi_input_(options.multi_input),
      proven_(options.form == "proven"),
      variant_(options.variant),
      weights_source_(w),
      b_([this](const std::string& n, const std::vector<float>& v) { return blobs_.add(n, v); }) {
  ANETRAIN_CHECK(d.H % d.G == 0 && d.E % 2 == 0,
                 "ANE programs need H divisible by G and an even E");
}

void Generator::declare(const std::string& name, WeightSource::Field field, int64_t out, int64_t in,
                        bool transpose, int64_t first_row) {
  ANETRAIN_CHECK(!transpose || first_row == 0, "row ranges of transposed weights");
  weights_.push_back(
      {.name = name,
       .out = transpose ? in : out,
       .in = transpose ? out : in,
       .gain = false,
       .applied = conv_weight(weights_source_.*field + first_row * in, out, in, transpose),
       .source = {field, transpose, first_row},
       .in_surface = dynamic_});
}

void Generator::declare_adapter(const BlockAdapter& spec, int64_t out, int64_t in,
                                int64_t first_row) {
  const LoraAdapter& lora = weights_source_.*spec.field;
  if (!lora.active()) return;
  ANETRAIN_CHECK(lora.r > 0 && lora.b,
                 std::string("LoRA adapter ") + spec.t + " without rank or B");
  const std::string name = std::string("lora_") + spec.t;
  const int64_t rank = align32(lora.r);
  auto surface_weight = [&](const std::string& n, int64_t o, int64_t i, bool b, bool transposed,
                            int64_t row) {
    weights_.push_back({.name = n,
                        .out = o,
                        .in = i,
                        .gain = false,
                        .source = {.transposed = transposed,
                                   .first_row = row,
                                   .adapter = spec.field,
                                   .adapter_b = b},
                        .in_surface = true});
  };
  if (spec.forward) {
    // ax = A x [rank, S], then scale B ax over the rows of W this program computes.
    surface_weight(name + "_a", rank, in, false, false, 0);
    surface_weight(name + "_b", out, rank, true, false, first_row);
  } else {
    // The input gradient through W^T: g = (scale B)^T dy [rank, S], then A^T g [in, S].
    ANETRAIN_CHECK(first_row == 0, "row ranges of backward adapters");
    surface_weight(name + "_b", rank, out, true, true, 0);
    surface_weight(name + "_a", in, rank, false, true, 0);
  }
  adapters_.push_back({.spec = spec,
                       .name = name,
                       .r = lora.r,
                       .rank = rank,
                       .in = in,
                       .masked = lora.drop != nullptr});
}

void Generator::declare_gain(const std::string& name, WeightSource::Field field, int64_t n) {
  const float* g = weights_source_.*field;
  weights_.push_back({.name = name,
                      .out = n,
                      .in = 1,
                      .gain = true,
                      .applied = std::vector<float>(g, g + n),
                      .source = {field, false},
                      .in_surface = dynamic_});
}

void Generator::place_dynamic(const std::vector<SurfaceSlot>& slots) {
  // Proven form: the activations side by side in S-column blocks, each weight oriented so that
  // its rows are the surface's channels where one of its sides allows, every block starting
  // at an aligned column (the seed's layout; no odd column offsets).
  int64_t channels = 0;
  for (const SurfaceSlot& sl : slots) channels = std::max(channels, sl.channels);
  for (DeclaredWeight& w : weights_) {
    if (!w.in_surface) continue;
    w.rows_are_outputs = !w.gain && w.in != channels && w.out == channels;
    channels = std::max(channels, w.rows());
  }
  int64_t column = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    input_positions_.push_back({0, column});
    column += d_.S;
  }
  // Weight blocks go into shelves of columns: a block sits under an earlier one when its rows
  // fit below it and its columns within it, else it opens a shelf at the next aligned column.
  // Only the adapters' thin blocks (rank rows, the rank a multiple of 32) ever share one: the
  // rows under B^T [rank, out] would otherwise be wasted across `out` columns.
  struct Shelf {
    int64_t column, width, rows_used;
  };
  std::vector<Shelf> shelves;
  for (DeclaredWeight& w : weights_) {
    if (!w.in_surface) continue;
    auto fit = std::find_if(shelves.begin(), shelves.end(), [&](const Shelf& s) {
      return s.rows_used + w.rows() <= channels && w.cols() <= s.width;
    });
    if (fit == shelves.end()) {
      shelves.push_back({align32(column), w.cols(), 0});
      column = shelves.back().column + w.cols();
      fit = shelves.end() - 1;
    }
    w.column = fit->column;
    w.channel = fit->rows_used;
    fit->rows_used += w.rows();
  }
  surface_channels_ = channels;
  surface_columns_ = align32(column);
}

std::vector<Value> Generator::inputs(const std::vector<SurfaceSlot>& kernel_slots) {
  // The adapters' dropout masks are input slots after the kernel's own.
  slots_ = kernel_slots;
  for (const DeclaredAdapter& a : adapters_)
    if (a.masked) slots_.push_back({"drop_" + std::string(a.spec.t), a.in});
  std::vector<Value> out = place_inputs(slots_);
  for (DeclaredAdapter& a : adapters_)
    if (a.masked)
      for (size_t i = kernel_slots.size(); i < slots_.size(); ++i)
        if (slots_[i].name == "drop_" + std::string(a.spec.t)) a.drop = out[i];
  out.resize(kernel_slots.size());
  return out;
}

std::vector<Value> Generator::place_inputs(const std::vector<SurfaceSlot>& slots) {
  const bool surface_weights = has_surface_weights();
  if (proven_ && surface_weights) {
    place_dynamic(slots);
    Value surface = b_.input("x", {1, surface_channels_, 1, surface_columns_});
    std::vector<Value> out;
    for (size_t i = 0; i < slots.size(); ++i)
      out.push_back(b_.slice_by_size(slots[i].name, surface, {0, 0, 0, input_positions_[i].second},
                                     {1, slots[i].channels, 1, d_.S}));
    for (DeclaredWeight& w : weights_)
      if (w.in_surface)
        w.value = b_.slice_by_size(w.name + "_m", surface, {0, w.channel, 0, w.column},
                                   {1, w.rows(), 1, w.cols()});
    return out;
  }
  int64_t channels = total(slots);
  int64_t columns = d_.S;
  for (auto& w : weights_) {
    if (!w.in_surface) continue;
    channels = std::max(channels, w.gain ? w.out : w.in);
    w.column = columns;
    columns += w.gain ? 1 : w.out;
  }
  if (dynamic_ || surface_weights) columns = align32(columns);
  surface_channels_ = channels;
  surface_columns_ = columns;
  int64_t first_channel = 0;
  for (const SurfaceSlot& sl : slots) {
    input_positions_.push_back({first_channel, 0});
    first_channel += sl.channels;
  }
  if (multi_input_) {
    ANETRAIN_CHECK(!surface_weights, "multi-input programs carry no surface weights");
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
      by_slot[order[rank]] =
          b_.input("in_" + std::to_string(rank) + "_" + sl.name, {1, sl.channels, 1, d_.S});
      input_names_.push_back({sl.name, by_slot[order[rank]].name});
    }
    return by_slot;
  }
  Value surface = b_.input("x", {1, channels, 1, columns});
  std::vector<Value> out;
  if (!dynamic_ && !surface_weights && slots.size() == 1) return {surface};
  int64_t at = 0;
  for (const SurfaceSlot& sl : slots) {
    out.push_back(b_.slice_by_size(sl.name, surface, {0, at, 0, 0}, {1, sl.channels, 1, d_.S}));
    at += sl.channels;
  }
  for (auto& w : weights_) {
    if (!w.in_surface) continue;
    const int64_t rows = w.gain ? w.out : w.in, cols = w.gain ? 1 : w.out;
    w.value = b_.slice_by_size(w.name + "_m", surface, {0, 0, 0, w.column}, {1, rows, 1, cols});
  }
  return out;
}

Value Generator::project(const std::string& name, const Value& x, const std::string& weight) {
  const DeclaredWeight& w = find(weight);
  if (!w.in_surface) {
    Value wv = b_.weight(weight + "_w", {w.out, w.in, 1, 1}, w.applied);
    return b_.conv1x1(name, x, wv);
  }
  if (proven_) {
    // As the seed writes it: x^T [1, 1, S, in] times M, transposed back to [1, out, 1, S].
    auto xt = transposed_.find(x.name);
    if (xt == transposed_.end()) {
      Value x2 = b_.reshape(x.name + "_x2", x, {1, 1, w.in, d_.S});
      xt = transposed_.emplace(x.name, b_.transpose(x.name + "_xt", x2, {0, 1, 3, 2})).first;
    }
    Value m = b_.reshape(weight + "_m2", w.value, {1, 1, w.rows(), w.cols()});
    Value yt = b_.matmul(name + "_yt", xt->second, m, false, w.rows_are_outputs);  // [1,1,S,out]
    Value y2 = b_.transpose(name + "_y2", yt, {0, 1, 3, 2});
    return b_.reshape(name, y2, {1, w.out, 1, d_.S});
  }
  Value m = b_.reshape(weight + "_m2", w.value, {1, 1, w.in, w.out});
  Value x2 = b_.reshape(name + "_x2", x, {1, 1, w.in, d_.S});
  Value y2 = b_.matmul(name + "_y2", m, x2, true, false);  // [1, 1, out, S]
  return b_.reshape(name, y2, {1, w.out, 1, d_.S});
}

Value Generator::project(const std::string& name, const Value& x, const std::string& weight,
                         const char* t) {
  DeclaredAdapter* a = find_adapter(t);
  if (!a) return project(name, x, weight);
  return b_.add(name, project(name + "_w", x, weight), adapter_path(*a, x));
}

Value Generator::adapter_path(DeclaredAdapter& a, const Value& x) {
  const std::string& n = a.name;
  if (!a.spec.forward) {
    Value g = project(n + "_g", x, n + "_b");          // (scale B)^T dy, [1, rank, 1, S]
    Value share = project(n + "_share", g, n + "_a");  // A^T g
    return a.masked ? b_.mul(n + "_dropped", share, a.drop) : share;
  }
  Value xd = a.masked ? b_.mul(n + "_x", x, a.drop) : x;
  a.ax = project(n + "_axp", xd, n + "_a");  // [1, rank, 1, S], rows past r zero
  return project(n + "_path", a.ax, n + "_b");
}

std::vector<Generator::Output> Generator::adapter_taps() {
  std::vector<Output> taps;
  for (const DeclaredAdapter& a : adapters_)
    if (a.spec.forward) {
      ANETRAIN_CHECK(!a.ax.name.empty(), a.name + "'s tap before its projection");
      const Value ax =
          a.r == a.rank ? a.ax
                        : b_.slice_by_size(a.name + "_ax", a.ax, {0, 0, 0, 0}, {1, a.r, 1, d_.S});
      taps.push_back({"ax_" + std::string(a.spec.t), ax});
    }
  return taps;
}

Value Generator::gain(const std::string& weight) {
  const DeclaredWeight& w = find(weight);
  if (!w.in_surface) return b_.weight(weight + "_w", {1, w.out, 1, 1}, w.applied);
  return w.value;  // already [1, n, 1, 1]
}

Value Generator::rmsnorm(const Value& x, const std::string& gain_name, const std::string& prefix) {
  // x * (mean_c x^2 + eps)^-0.5 * w, written with ops the ANE takes (no reduce_mean).
  Value sq = b_.mul(prefix + "_sq", x, x);
  Value ss = b_.reduce_sum(prefix + "_ss", sq, {1}, true);
  Value ms = b_.mul(prefix + "_ms", ss, b_.scalar(prefix + "_inv_c", 1.0f / d_.D));
  Value mse = b_.add(prefix + "_mse", ms, b_.scalar(prefix + "_eps", d_.norm_eps));
  Value r = b_.pow(prefix + "_rrms", mse, b_.scalar(prefix + "_neg_half", -0.5f));
  Value xr = b_.mul(prefix + "_xr", x, r);
  return b_.mul(prefix + "_xn", xr, gain(gain_name));
}

// Pairs (2i, 2i+1) of each head rotate by direction * s * theta^(-2i/E). Pairs are split with
// reshape + slice, rotated with constant cos/sin tables, and interleaved back with concat on
// the pair axis.
Value Generator::rope(const Value& t, int64_t heads, float direction, const std::string& prefix) {
  const int64_t C = heads * d_.E, P = C / 2, S = d_.S;
  std::vector<float> cos_table(P * S), sin_table(P * S);
  for (int64_t p = 0; p < P; ++p) {
    const int64_t i = p % (d_.E / 2);
    const float freq =
        1.0f / std::pow(d_.rope_theta, static_cast<float>(2 * i) / static_cast<float>(d_.E));
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
  Value re =
      b_.sub(prefix + "_re", b_.mul(prefix + "_ec", even, cs), b_.mul(prefix + "_os", odd, sn));
  Value ro =
      b_.add(prefix + "_ro", b_.mul(prefix + "_es", even, sn), b_.mul(prefix + "_oc", odd, cs));
  Value joined = b_.concat(prefix + "_joined", {re, ro}, 2);
  return b_.reshape(prefix + "_out", joined, {1, C, 1, S});
}

// Heads grouped [G, R, ...] so that query head h = g*R + j shares kv head g by broadcasting.
Value Generator::probabilities(const Value& q, const Value& k, const std::string& prefix) {
  const int64_t S = d_.S;
  Value q4 = b_.reshape(prefix + "_q4", q, {d_.G, d_.R(), d_.E, S});
  Value k4 = b_.reshape(prefix + "_k4", k, {d_.G, 1, d_.E, S});
  Value qs = b_.mul(prefix + "_qs", q4,
                    b_.scalar(prefix + "_scale", 1.0f / std::sqrt(static_cast<float>(d_.E))));
  Value scores = b_.matmul(prefix + "_scores", qs, k4, true, false);  // [G, R, S, S]
  std::vector<float> mask(S * S);
  for (int64_t i = 0; i < S; ++i)
    for (int64_t j = 0; j < S; ++j) mask[i * S + j] = j > i ? -65504.0f : 0.0f;
  Value m = b_.weight(prefix + "_mask", {1, 1, S, S}, mask);
  return b_.softmax(prefix + "_p", b_.add(prefix + "_masked", scores, m), -1);
}

Value Generator::to_heads(const std::string& name, const Value& t, int64_t n) {
  Value t4 = b_.reshape(name + "_4", t, {1, n, d_.E, d_.S});
  return b_.transpose(name, t4, {0, 1, 3, 2});  // [1, n, S, E]
}

Value Generator::from_heads(const std::string& name, const Value& t) {
  const int64_t n = t.shape()[1];
  Value t4 = b_.transpose(name + "_t", t, {0, 1, 3, 2});  // [1, n, E, S]
  return b_.reshape(name, t4, {1, n * d_.E, 1, d_.S});
}

// Pairs (2i, 2i+1) along E rotate by direction * s * theta^(-2i/E): t * cos + rot(t) * sin with
// rot(t) = (-odd, even) per pair, the pairs split with reshape + slice on the last axis and
// joined with concat on the last axis (the seed's form). The view [1, n*S, E/2, 2] keeps every
// axis within the smallest per-axis limit for n*S <= 16384 (the planner's bound).
Value Generator::rope_heads(const Value& t, float direction, const std::string& prefix) {
  const int64_t n = t.shape()[1], S = d_.S, E = d_.E;
  std::vector<float> cos_table(S * E), sin_table(S * E);
  for (int64_t s = 0; s < S; ++s)
    for (int64_t e = 0; e < E; ++e) {
      const int64_t i = e / 2;
      const float freq =
          1.0f / std::pow(d_.rope_theta, static_cast<float>(2 * i) / static_cast<float>(E));
      const float angle = static_cast<float>(s) * freq;
      cos_table[s * E + e] = std::cos(angle);
      sin_table[s * E + e] = direction * std::sin(angle);
    }
  Value cs = b_.weight(prefix + "_cos", {1, 1, S, E}, cos_table);
  Value sn = b_.weight(prefix + "_sin", {1, 1, S, E}, sin_table);
  Value pairs = b_.reshape(prefix + "_pairs", t, {1, n * S, E / 2, 2});
  Value even = b_.slice_by_size(prefix + "_even", pairs, {0, 0, 0, 0}, {1, n * S, E / 2, 1});
  Value odd = b_.slice_by_size(prefix + "_odd", pairs, {0, 0, 0, 1}, {1, n * S, E / 2, 1});
  Value neg_odd = b_.mul(prefix + "_neg_odd", odd, b_.scalar(prefix + "_minus_one", -1.0f));
  Value rot = b_.concat(prefix + "_rot_pairs", {neg_odd, even}, 3);
  Value rot4 = b_.reshape(prefix + "_rot", rot, {1, n, S, E});
  return b_.add(prefix + "_out", b_.mul(prefix + "_tc", t, cs), b_.mul(prefix + "_rs", rot4, sn));
}

Value Generator::by_kv_head(const std::string& name, const Value& t) {
  const std::vector<int64_t>& s = t.shape();
  const int64_t R = d_.R();
  return b_.reshape(name, t, {1, s[1] / R, R * s[2], s[3]});
}

Value Generator::by_query_head(const std::string& name, const Value& t) {
  const std::vector<int64_t>& s = t.shape();
  const int64_t R = d_.R();
  return b_.reshape(name, t, {1, s[1] * R, s[2] / R, s[3]});
}

Value Generator::head_probabilities(const Value& q, const Value& k, const std::string& prefix) {
  const int64_t S = d_.S;
  Value qs = b_.mul(prefix + "_qs", q,
                    b_.scalar(prefix + "_scale", 1.0f / std::sqrt(static_cast<float>(d_.E))));
  Value scores = b_.matmul(prefix + "_scores", by_kv_head(prefix + "_qg", qs), k, false, true);
  std::vector<float> mask(S * S);
  for (int64_t i = 0; i < S; ++i)
    for (int64_t j = 0; j < S; ++j) mask[i * S + j] = j > i ? -65504.0f : 0.0f;
  Value m = b_.weight(prefix + "_mask", {1, 1, S, S}, mask);
  Value masked = b_.add(prefix + "_masked", by_query_head(prefix + "_s4", scores), m);
  return b_.softmax(prefix + "_p", masked, -1);  // [1, n, S, S]
}

PlanWriter::PlanWriter(const KernelDims& d, const BlockWeights& w, const ProgramOptions& options,
                       Kernel k)
    : d_(d), w_(w) {
  plan_.op = k;
  plan_.options = options;
}

void Generator::outputs(const std::vector<Output>& slots) {
  ANETRAIN_CHECK(outputs_.empty() && !slots.empty(), "a program declares its outputs once");
  std::vector<Value> values;
  for (const Output& o : slots) {
    const std::vector<int64_t>& shape = o.value.shape();
    ANETRAIN_CHECK(shape.size() == 4 && shape[0] == 1 && shape[2] == 1 && shape[3] == d_.S,
                   "output slot " + o.name + " must be [1, C, 1, S]");
    outputs_.push_back({o.name, shape[1], o.layout, o.offset});
    values.push_back(o.value);
  }
  b_.output(values.size() == 1 ? values[0] : b_.concat("out", values, 1));
}

KernelProgram Generator::finish(Kernel kernel, const std::string& part) {
  ANETRAIN_CHECK(!outputs_.empty(), std::string(kernel_name(kernel)) + " declares no outputs");
  KernelProgram k;
  k.kernel = kernel_name(kernel);
  k.part = part;
  k.input_positions = input_positions_;
  k.reads_block_weights = !weights_.empty();
  k.op = kernel;
  k.variant = variant_;
  k.seq = d_.S;
  k.program = b_.finish();
  k.inputs = slots_;
  k.outputs = outputs_;
  k.weights = std::move(blobs_.tensors);
  k.multi_input = multi_input_;
  k.input_names = input_names_;
  k.surface_channels = surface_channels_;
  k.surface_columns = surface_columns_;
  for (const auto& w : weights_)
    if (w.in_surface)
      k.surface_weights.push_back({.name = w.name,
                                   .rows = w.rows(),
                                   .cols = w.cols(),
                                   .column = w.column,
                                   .channel = w.channel,
                                   .source = w.source,
                                   .rows_are_outputs = w.rows_are_outputs});
  refresh_surface_weights(k, weights_source_);
  return k;
}

const Generator::DeclaredWeight& Generator::find(const std::string& name) const {
  for (const auto& w : weights_)
    if (w.name == name) return w;
  ANETRAIN_CHECK(false, "undeclared weight " + name);
  return weights_.front();
}

bool Generator::has_surface_weights() const {
  return std::any_of(weights_.begin(), weights_.end(),
                     [](const DeclaredWeight& w) { return w.in_surface; });
}

Generator::DeclaredAdapter* Generator::find_adapter(const char* t) {
  for (DeclaredAdapter& a : adapters_)
    if (std::string(a.spec.t) == t) return &a;
  return nullptr;
}

int64_t KernelProgram::output_channels() const { return total(outputs); }

namespace {

// An adapter's applied matrix [out, in] (WeightSource::adapter) into M: A or scale B, as is or
// transposed, zero at rank indices past the adapter's rank.
void refresh_adapter(SurfaceWeight& sw, const BlockWeights& w) {
  const LoraAdapter& lora = w.*sw.source.adapter;
  ANETRAIN_CHECK(lora.active(), "no LoRA adapter for surface slot " + sw.name);
  const bool b = sw.source.adapter_b, t = sw.source.transposed;
  const float* x = b ? lora.b : lora.a;
  const float scale = b ? lora.scale : 1.0f;
  const int64_t out = sw.rows_are_outputs ? sw.rows : sw.cols;
  const int64_t in = sw.rows_are_outputs ? sw.cols : sw.rows;
  // X is B [*, r] or A [r, in of the weight]; the applied matrix is X's rows (from first_row)
  // or, transposed, X^T.
  const int64_t x_cols = b ? lora.r : (t ? out : in);
  sw.values.resize(sw.rows * sw.cols);
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      const int64_t row = t ? i : sw.source.first_row + o, col = t ? o : i;
      const int64_t rank_index = b ? col : row;
      const float v = rank_index < lora.r ? scale * x[row * x_cols + col] : 0.0f;
      sw.values[sw.rows_are_outputs ? o * sw.cols + i : i * sw.cols + o] = v;
    }
}

}  // namespace

LoraShape lora_shape(const BlockWeights& w) {
  LoraShape shape;
  for (size_t i = 0; i < kBlockAdapterCount; ++i) {
    const LoraAdapter& a = w.*kBlockAdapters[i].field;
    shape.rank[i] = a.active() ? a.r : 0;
    shape.masked[i] = a.active() && a.drop != nullptr;
  }
  return shape;
}

BlockWeights with_every_adapter(BlockWeights w, const LoraAdapter& adapter) {
  for (const BlockAdapter& spec : kBlockAdapters) w.*spec.field = adapter;
  return w;
}

void refresh_surface_weights(KernelProgram& program, const BlockWeights& w) {
  for (SurfaceWeight& sw : program.surface_weights) {
    if (sw.source.adapter) {
      refresh_adapter(sw, w);
      continue;
    }
    ANETRAIN_CHECK(w.*sw.source.field != nullptr, "no weight for surface slot " + sw.name);
    // A = rows [first_row, ...) of W [*, in]; in = cols of M when M = A, else rows.
    const int64_t w_in = sw.rows_are_outputs ? sw.cols : sw.rows;
    const float* src = w.*sw.source.field + sw.source.first_row * (sw.source.transposed ? 0 : w_in);
    sw.values.resize(sw.rows * sw.cols);
    // M is the stored W [out, in] itself when M = A^T and A = W^T, or when M = A and A = W;
    // otherwise W transposed (gains: a column).
    if (sw.cols == 1 || sw.source.transposed != sw.rows_are_outputs) {
      std::copy(src, src + sw.rows * sw.cols, sw.values.begin());
      continue;
    }
    for (int64_t r = 0; r < sw.rows; ++r)
      for (int64_t c = 0; c < sw.cols; ++c) sw.values[r * sw.cols + c] = src[c * sw.rows + r];
  }
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
