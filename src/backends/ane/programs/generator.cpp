#include "backends/ane/programs/generator.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace anetrain::ane {

using mil::Value;

namespace {

uint64_t align64(uint64_t v) { return (v + 63) / 64 * 64; }

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

Generator::Generator(const KernelDims& d, const BlockWeights& w, const std::string& variant,
                     bool multi_input)
    : d_(d),
      dynamic_(variant == "dynamic"),
      multi_input_(multi_input),
      variant_(variant),
      weights_source_(w),
      b_([this](const std::string& n, const std::vector<float>& v) { return blobs_.add(n, v); }) {
  ANETRAIN_CHECK(d.H % d.G == 0 && d.E % 2 == 0,
                 "ANE programs need H divisible by G and an even E");
}

void Generator::declare(const std::string& name, WeightSource::Field field, int64_t out, int64_t in,
                        bool transpose) {
  DeclaredWeight dw{name,
                    transpose ? in : out,
                    transpose ? out : in,
                    false,
                    conv_weight(weights_source_.*field, out, in, transpose),
                    {field, transpose},
                    0,
                    {}};
  weights_.push_back(dw);
}

void Generator::declare_gain(const std::string& name, WeightSource::Field field, int64_t n) {
  const float* g = weights_source_.*field;
  weights_.push_back({name, n, 1, true, std::vector<float>(g, g + n), {field, false}, 0, {}});
}

std::vector<Value> Generator::inputs(const std::vector<SurfaceSlot>& slots) {
  slots_ = slots;
  int64_t channels = total(slots);
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
      by_slot[order[rank]] =
          b_.input("in_" + std::to_string(rank) + "_" + sl.name, {1, sl.channels, 1, d_.S});
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

Value Generator::project(const std::string& name, const Value& x, const std::string& weight) {
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

Value Generator::gain(const std::string& weight) {
  const DeclaredWeight& w = find(weight);
  if (!dynamic_) return b_.weight(weight + "_w", {1, w.out, 1, 1}, w.applied);
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

void Generator::outputs(const std::vector<Output>& slots) {
  ANETRAIN_CHECK(outputs_.empty() && !slots.empty(), "a program declares its outputs once");
  std::vector<Value> values;
  for (const Output& o : slots) {
    const std::vector<int64_t>& shape = o.value.shape();
    ANETRAIN_CHECK(shape.size() == 4 && shape[0] == 1 && shape[2] == 1 && shape[3] == d_.S,
                   "output slot " + o.name + " must be [1, C, 1, S]");
    outputs_.push_back({o.name, shape[1], o.layout});
    values.push_back(o.value);
  }
  b_.output(values.size() == 1 ? values[0] : b_.concat("out", values, 1));
}

KernelProgram Generator::finish(Kernel kernel) {
  ANETRAIN_CHECK(!outputs_.empty(), std::string(kernel_name(kernel)) + " declares no outputs");
  KernelProgram k;
  k.kernel = kernel_name(kernel);
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
  if (dynamic_) {
    for (const auto& w : weights_)
      k.surface_weights.push_back(
          {w.name, w.gain ? w.out : w.in, w.gain ? 1 : w.out, w.column, w.source, {}});
    refresh_surface_weights(k, weights_source_);
  }
  return k;
}

const Generator::DeclaredWeight& Generator::find(const std::string& name) const {
  for (const auto& w : weights_)
    if (w.name == name) return w;
  ANETRAIN_CHECK(false, "undeclared weight " + name);
  return weights_.front();
}

int64_t KernelProgram::output_channels() const { return total(outputs); }

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
