#include "backends/ane/mil/interpreter.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

#include "backends/ane/mil/fp16_math.h"
#include "backends/ane/mil/printer.h"
#include "core/error.h"

namespace anetrain::mil {

// A value in the interpreter's environment: a numeric tensor or scalar (int32/bool parameters
// too, stored as float: axes, shapes and flags are small integers, exact in fp32), or a string
// scalar (pad_type, dtype) in `text`.
struct Interpreter::Slot {
  HostTensor tensor;
  std::string text;
};

namespace {

using Shape = std::vector<int64_t>;
using SlotPtr = std::shared_ptr<const Interpreter::Slot>;
using Env = std::map<std::string, SlotPtr>;

[[noreturn]] void fail(const std::string& message) { throw UserError(message); }

std::string shape_text(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

bool is_float(DType t) { return t == DType::kFp16 || t == DType::kFp32; }

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Shape row_major_strides(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (size_t i = shape.size(); i-- > 1;) strides[i - 1] = strides[i] * shape[i];
  return strides;
}

int64_t normalize_axis(int64_t axis, size_t rank, const std::string& what) {
  const auto r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r)
    fail(what + " " + std::to_string(axis) + " is out of range for a rank-" + std::to_string(r) +
         " tensor");
  return axis < 0 ? axis + r : axis;
}

// Applies the rounding model to a freshly computed result: fp16 tensors are rounded once.
void round_result(HostTensor& t) {
  if (t.type.dtype != DType::kFp16) return;
  float* data = t.data.data();
  const auto n = static_cast<int64_t>(t.data.size());
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) data[i] = round_fp16(data[i]);
}

HostTensor make_tensor(DType dtype, Shape shape) {
  HostTensor t;
  t.data.assign(static_cast<size_t>(numel(shape)), 0.0f);
  t.type = Type{dtype, std::move(shape)};
  return t;
}

// Visits every element of `shape` in row-major order while tracking offsets into K operands
// with arbitrary strides (0 on broadcast axes, permuted for transposes, scaled for strided
// slices). The innermost axis is handed to `row` whole, as (count, linear index of the row's
// first element, operand offsets, operand strides along the row), so element loops stay tight
// and the odometer bookkeeping runs once per row, not per element.
template <size_t K, class Row>
void for_each_row(const Shape& shape, const std::array<Shape, K>& strides,
                  const std::array<int64_t, K>& base, Row&& row) {
  const size_t rank = shape.size();
  std::array<int64_t, K> offsets = base;
  if (rank == 0) {
    row(int64_t{1}, int64_t{0}, offsets, std::array<int64_t, K>{});
    return;
  }
  for (int64_t d : shape)
    if (d == 0) return;
  const int64_t count = shape[rank - 1];
  std::array<int64_t, K> inner;
  for (size_t k = 0; k < K; ++k) inner[k] = strides[k][rank - 1];
  std::vector<int64_t> index(rank, 0);
  for (int64_t linear = 0;; linear += count) {
    row(count, linear, offsets, inner);
    int64_t axis = static_cast<int64_t>(rank) - 2;
    for (; axis >= 0; --axis) {
      const auto a = static_cast<size_t>(axis);
      ++index[a];
      for (size_t k = 0; k < K; ++k) offsets[k] += strides[k][a];
      if (index[a] < shape[a]) break;
      for (size_t k = 0; k < K; ++k) offsets[k] -= strides[k][a] * shape[a];
      index[a] = 0;
    }
    if (axis < 0) return;
  }
}

Shape broadcast_shape(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      fail("shapes " + shape_text(a) + " and " + shape_text(b) + " do not broadcast");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Strides that read an operand of shape `in` as if it had the broadcast shape `out`.
Shape broadcast_strides(const Shape& in, const Shape& out) {
  const Shape own = row_major_strides(in);
  Shape strides(out.size(), 0);
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) strides[lead + i] = in[i] == 1 ? 0 : own[i];
  return strides;
}

// ---- element-wise --------------------------------------------------------------------------

template <class F>
HostTensor binary(const HostTensor& x, const HostTensor& y, F f) {
  if (!is_float(x.type.dtype) || x.type.dtype != y.type.dtype)
    fail(std::string("x and y must share one float dtype (got ") + dtype_name(x.type.dtype) +
         " and " + dtype_name(y.type.dtype) + ")");
  HostTensor out = make_tensor(x.type.dtype, broadcast_shape(x.type.shape, y.type.shape));
  const float* a = x.data.data();
  const float* b = y.data.data();
  float* o = out.data.data();
  const auto n = static_cast<int64_t>(out.data.size());
  if (x.type.shape == y.type.shape) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (y.data.size() == 1 && x.data.size() == out.data.size()) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
  } else if (x.data.size() == 1 && y.data.size() == out.data.size()) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
  } else {
    const Shape& shape = out.type.shape;
    for_each_row<2>(
        shape, {broadcast_strides(x.type.shape, shape), broadcast_strides(y.type.shape, shape)},
        {0, 0}, [&](int64_t count, int64_t linear, const auto& off, const auto& step) {
          for (int64_t i = 0; i < count; ++i)
            o[linear + i] = f(a[off[0] + i * step[0]], b[off[1] + i * step[1]]);
        });
  }
  return out;
}

template <class F>
HostTensor unary(const HostTensor& x, F f) {
  if (!is_float(x.type.dtype))
    fail(std::string("x must be fp16 or fp32, not ") + dtype_name(x.type.dtype));
  HostTensor out = make_tensor(x.type.dtype, x.type.shape);
  const auto n = static_cast<int64_t>(x.data.size());
  for (int64_t i = 0; i < n; ++i) out.data[i] = f(x.data[i]);
  return out;
}

// IEEE max/min would drop a NaN operand; propagating it keeps a broken value visible.
float nan_max(float a, float b) {
  return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a > b ? a : b);
}
float nan_min(float a, float b) {
  return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a < b ? a : b);
}

// coremltools' three gelu modes.
HostTensor gelu(const HostTensor& x, const std::string& mode) {
  if (mode == "EXACT")
    return unary(x, [](float v) { return 0.5f * v * (1.0f + std::erf(v * 0.70710678f)); });
  if (mode == "TANH_APPROXIMATION")
    return unary(x, [](float v) {
      return 0.5f * v * (1.0f + std::tanh(0.79788456f * (v + 0.044715f * v * v * v)));
    });
  if (mode == "SIGMOID_APPROXIMATION")
    return unary(x, [](float v) { return v / (1.0f + std::exp(-1.702f * v)); });
  fail("gelu mode \"" + mode + "\" is not EXACT, TANH_APPROXIMATION or SIGMOID_APPROXIMATION");
}

// ---- GEMM (conv 1x1 and matmul) ------------------------------------------------------------

// C[m, n] = sum_k A[m, k] * B[k, n], all three dense row-major. Sums run over k in order, in
// fp32; products of fp16 values are exact in fp32, so a fused multiply-add gives the same
// result as a separate multiply and add.
struct Gemm {
  const float* a;
  const float* b;
  float* c;
  int64_t m, n, k;
};

constexpr int64_t kRowBlock = 4;   // rows of C sharing each load of a B row
constexpr int64_t kColTile = 256;  // accumulator tile: 4 x 256 floats stays in L1

void gemm_block(const Gemm& g, int64_t row0) {
  const int64_t rows = std::min(kRowBlock, g.m - row0);
  alignas(64) float acc[kRowBlock][kColTile];
  const float* a = g.a + row0 * g.k;
  for (int64_t n0 = 0; n0 < g.n; n0 += kColTile) {
    const int64_t cols = std::min(kColTile, g.n - n0);
    for (int64_t r = 0; r < rows; ++r) std::fill(acc[r], acc[r] + cols, 0.0f);
    if (rows == kRowBlock) {
      float* __restrict c0 = acc[0];
      float* __restrict c1 = acc[1];
      float* __restrict c2 = acc[2];
      float* __restrict c3 = acc[3];
      for (int64_t k = 0; k < g.k; ++k) {
        const float* __restrict b = g.b + k * g.n + n0;
        const float a0 = a[k], a1 = a[g.k + k], a2 = a[2 * g.k + k], a3 = a[3 * g.k + k];
        for (int64_t j = 0; j < cols; ++j) {
          const float bj = b[j];
          c0[j] += a0 * bj;
          c1[j] += a1 * bj;
          c2[j] += a2 * bj;
          c3[j] += a3 * bj;
        }
      }
    } else {
      for (int64_t r = 0; r < rows; ++r) {
        float* __restrict c = acc[r];
        for (int64_t k = 0; k < g.k; ++k) {
          const float* __restrict b = g.b + k * g.n + n0;
          const float ar = a[r * g.k + k];
          for (int64_t j = 0; j < cols; ++j) c[j] += ar * b[j];
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r)
      std::copy(acc[r], acc[r] + cols, g.c + (row0 + r) * g.n + n0);
  }
}

// Runs independent GEMMs (batches, groups) as one parallel loop over all their row blocks, so
// many small batches and one large GEMM both keep every thread busy.
void run_gemms(const std::vector<Gemm>& gemms) {
  std::vector<int64_t> first_block(gemms.size() + 1, 0);
  for (size_t i = 0; i < gemms.size(); ++i)
    first_block[i + 1] = first_block[i] + (gemms[i].m + kRowBlock - 1) / kRowBlock;
  const int64_t blocks = first_block.back();
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t block = 0; block < blocks; ++block) {
    const auto it = std::upper_bound(first_block.begin(), first_block.end(), block) - 1;
    const auto g = static_cast<size_t>(it - first_block.begin());
    gemm_block(gemms[g], (block - *it) * kRowBlock);
  }
}

// ---- conv ----------------------------------------------------------------------------------

struct ConvParams {
  std::vector<int64_t> strides, pad, dilations;  // per spatial axis; pad is before/after pairs
  std::string pad_type = "valid";
  int64_t groups = 1;
};

HostTensor conv(const HostTensor& x, const HostTensor& w, const HostTensor* bias, ConvParams p) {
  const DType dtype = x.type.dtype;
  if (!is_float(dtype) || w.type.dtype != dtype || (bias && bias->type.dtype != dtype))
    fail("x, weight and bias must share one float dtype");
  const size_t rank = x.type.shape.size();
  if (rank != 3 && rank != 4)
    fail("x must be rank 3 or 4 (N, C, [H,] W), got " + shape_text(x.type.shape));
  if (w.type.shape.size() != rank)
    fail("weight " + shape_text(w.type.shape) + " must have the rank of x " +
         shape_text(x.type.shape));
  const size_t spatial = rank - 2;
  if (p.strides.empty()) p.strides.assign(spatial, 1);
  if (p.dilations.empty()) p.dilations.assign(spatial, 1);
  if (p.strides.size() != spatial || p.dilations.size() != spatial)
    fail("strides and dilations need " + std::to_string(spatial) + " values");
  for (size_t i = 0; i < spatial; ++i)
    if (p.strides[i] < 1 || p.dilations[i] < 1) fail("strides and dilations must be >= 1");
  // View rank 3 (1-D conv) as rank 4 with H = 1.
  auto as4 = [&](const Shape& s) { return rank == 4 ? s : Shape{s[0], s[1], 1, s[2]}; };
  const Shape xs = as4(x.type.shape), ws = as4(w.type.shape);
  std::array<int64_t, 2> stride{1, 1}, dilation{1, 1};
  for (size_t i = 0; i < spatial; ++i) {
    stride[2 - spatial + i] = p.strides[i];
    dilation[2 - spatial + i] = p.dilations[i];
  }
  const int64_t batch = xs[0], channels = xs[1], out_channels = ws[0], group_in = ws[1];
  if (p.groups < 1 || channels % p.groups != 0 || out_channels % p.groups != 0 ||
      group_in * p.groups != channels)
    fail("weight " + shape_text(w.type.shape) + " with groups = " + std::to_string(p.groups) +
         " does not fit x " + shape_text(x.type.shape));
  if (bias && bias->type.shape != Shape{out_channels})
    fail("bias must have shape [" + std::to_string(out_channels) + "], got " +
         shape_text(bias->type.shape));
  const int64_t group_out = out_channels / p.groups;

  std::array<int64_t, 2> before{0, 0}, after{0, 0}, out_size{0, 0};
  const std::array<int64_t, 2> in_size{xs[2], xs[3]}, kernel{ws[2], ws[3]};
  if (p.pad_type == "custom") {
    if (p.pad.size() != 2 * spatial)
      fail("custom pad needs " + std::to_string(2 * spatial) + " values");
    for (size_t i = 0; i < spatial; ++i) {
      before[2 - spatial + i] = p.pad[2 * i];
      after[2 - spatial + i] = p.pad[2 * i + 1];
    }
  } else if (p.pad_type != "valid" && p.pad_type != "same" && p.pad_type != "same_lower") {
    fail("pad_type \"" + p.pad_type + "\" is not one of valid, same, same_lower, custom");
  }
  for (size_t i = 0; i < 2; ++i) {
    const int64_t span = dilation[i] * (kernel[i] - 1) + 1;
    if (p.pad_type == "same" || p.pad_type == "same_lower") {
      const int64_t out = (in_size[i] + stride[i] - 1) / stride[i];
      const int64_t total = std::max<int64_t>((out - 1) * stride[i] + span - in_size[i], 0);
      before[i] = p.pad_type == "same" ? total / 2 : total - total / 2;
      after[i] = total - before[i];
    }
    if (before[i] < 0 || after[i] < 0) fail("pad values must be >= 0");
    if (in_size[i] + before[i] + after[i] < span) fail("kernel is larger than the padded input");
    out_size[i] = (in_size[i] + before[i] + after[i] - span) / stride[i] + 1;
  }

  Shape out_shape{batch, out_channels, out_size[0], out_size[1]};
  if (rank == 3) out_shape = {batch, out_channels, out_size[1]};
  HostTensor out = make_tensor(dtype, out_shape);
  const int64_t in_plane = in_size[0] * in_size[1], out_plane = out_size[0] * out_size[1];
  const int64_t kernel_plane = kernel[0] * kernel[1];

  const bool pointwise = kernel_plane == 1 && stride[0] == 1 && stride[1] == 1 && before[0] == 0 &&
                         before[1] == 0 && after[0] == 0 && after[1] == 0;
  if (pointwise) {
    // A 1x1 conv is, per batch and group, W_g [group_out x group_in] times X_g [group_in x HW].
    std::vector<Gemm> gemms;
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t g = 0; g < p.groups; ++g)
        gemms.push_back({w.data.data() + g * group_out * group_in,
                         x.data.data() + (n * channels + g * group_in) * in_plane,
                         out.data.data() + (n * out_channels + g * group_out) * out_plane,
                         group_out, out_plane, group_in});
    run_gemms(gemms);
  } else {
    // Direct convolution: each (batch, output channel) plane accumulates kernel taps row by
    // row, so the innermost loop walks an output row.
    const float* xd = x.data.data();
    const float* wd = w.data.data();
    float* od = out.data.data();
#pragma omp parallel for schedule(dynamic)
    for (int64_t task = 0; task < batch * out_channels; ++task) {
      const int64_t n = task / out_channels, oc = task % out_channels, g = oc / group_out;
      float* plane = od + task * out_plane;
      for (int64_t icl = 0; icl < group_in; ++icl) {
        const float* in = xd + (n * channels + g * group_in + icl) * in_plane;
        const float* taps = wd + (oc * group_in + icl) * kernel_plane;
        for (int64_t kh = 0; kh < kernel[0]; ++kh)
          for (int64_t kw = 0; kw < kernel[1]; ++kw) {
            const float tap = taps[kh * kernel[1] + kw];
            for (int64_t oh = 0; oh < out_size[0]; ++oh) {
              const int64_t ih = oh * stride[0] - before[0] + kh * dilation[0];
              if (ih < 0 || ih >= in_size[0]) continue;
              const float* in_row = in + ih * in_size[1];
              float* out_row = plane + oh * out_size[1];
              for (int64_t ow = 0; ow < out_size[1]; ++ow) {
                const int64_t iw = ow * stride[1] - before[1] + kw * dilation[1];
                if (iw >= 0 && iw < in_size[1]) out_row[ow] += tap * in_row[iw];
              }
            }
          }
      }
    }
  }
  if (bias) {
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t oc = 0; oc < out_channels; ++oc) {
        float* plane = out.data.data() + (n * out_channels + oc) * out_plane;
        const float b = bias->data[oc];
        for (int64_t i = 0; i < out_plane; ++i) plane[i] += b;
      }
  }
  return out;
}

// ---- matmul --------------------------------------------------------------------------------

// Copies the last two axes of every batch of `t`, transposed, into a new dense buffer.
std::vector<float> transpose_last2(const HostTensor& t) {
  const Shape& s = t.type.shape;
  const int64_t rows = s[s.size() - 2], cols = s[s.size() - 1];
  const int64_t batches = numel(s) / std::max<int64_t>(rows * cols, 1);
  std::vector<float> out(t.data.size());
  for (int64_t b = 0; b < batches; ++b) {
    const float* in = t.data.data() + b * rows * cols;
    float* o = out.data() + b * rows * cols;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) o[c * rows + r] = in[r * cols + c];
  }
  return out;
}

HostTensor matmul(HostTensor x, HostTensor y, bool transpose_x, bool transpose_y) {
  const DType dtype = x.type.dtype;
  if (!is_float(dtype) || y.type.dtype != dtype) fail("x and y must share one float dtype");
  if (x.type.shape.empty() || y.type.shape.empty()) fail("matmul operands must have rank >= 1");
  // Rank-1 operands follow numpy: x [K] is a row [1, K], y [K] a column [K, 1], and the
  // added axis is dropped from the result (a transpose flag on a rank-1 operand is moot).
  const bool x_vector = x.type.shape.size() == 1, y_vector = y.type.shape.size() == 1;
  if (x_vector) {
    x.type.shape.insert(x.type.shape.begin(), 1);
    transpose_x = false;
  }
  if (y_vector) {
    y.type.shape.push_back(1);
    transpose_y = false;
  }
  const Shape& xs = x.type.shape;
  const Shape& ys = y.type.shape;
  const int64_t m = transpose_x ? xs.back() : xs[xs.size() - 2];
  const int64_t kx = transpose_x ? xs[xs.size() - 2] : xs.back();
  const int64_t ky = transpose_y ? ys.back() : ys[ys.size() - 2];
  const int64_t n = transpose_y ? ys[ys.size() - 2] : ys.back();
  if (kx != ky)
    fail("inner dimensions differ: x " + shape_text(xs) + (transpose_x ? " (transposed)" : "") +
         " and y " + shape_text(ys) + (transpose_y ? " (transposed)" : ""));
  const Shape xb(xs.begin(), xs.end() - 2), yb(ys.begin(), ys.end() - 2);
  const Shape batch = broadcast_shape(xb, yb);

  // Bring both operands to [.., M, K] and [.., K, N] so the GEMM reads rows contiguously.
  std::vector<float> xt, yt;
  const float* a = x.data.data();
  const float* b = y.data.data();
  if (transpose_x) {
    xt = transpose_last2(x);
    a = xt.data();
  }
  if (transpose_y) {
    yt = transpose_last2(y);
    b = yt.data();
  }

  Shape out_shape = batch;
  if (!x_vector) out_shape.push_back(m);
  if (!y_vector) out_shape.push_back(n);
  HostTensor out = make_tensor(dtype, out_shape);

  std::vector<Gemm> gemms;
  const Shape xstr = broadcast_strides(xb, batch), ystr = broadcast_strides(yb, batch);
  for_each_row<2>(
      batch, {xstr, ystr}, {0, 0},
      [&](int64_t count, int64_t linear, const auto& off, const auto& step) {
        for (int64_t i = 0; i < count; ++i)
          gemms.push_back({a + (off[0] + i * step[0]) * m * kx, b + (off[1] + i * step[1]) * kx * n,
                           out.data.data() + (linear + i) * m * n, m, n, kx});
      });
  run_gemms(gemms);
  return out;
}

// x [..., I] times weight [O, I] transposed, plus bias [O] in fp32 before the one rounding.
HostTensor linear(const HostTensor& x, const HostTensor& w, const HostTensor* bias) {
  if (w.type.shape.size() != 2) fail("weight must be [O, I], got " + shape_text(w.type.shape));
  HostTensor out = matmul(x, w, false, true);
  if (bias) {
    const int64_t rows = w.type.shape[0];
    if (bias->type.dtype != w.type.dtype || bias->type.shape != Shape{rows})
      fail("bias must be " + std::string(dtype_name(w.type.dtype)) + " [" + std::to_string(rows) +
           "], got " + print_type(bias->type));
    for (size_t i = 0; i < out.data.size(); ++i) out.data[i] += bias->data[i % rows];
  }
  return out;
}

// ---- softmax and reductions ----------------------------------------------------------------

HostTensor softmax(const HostTensor& x, int64_t axis_arg) {
  if (!is_float(x.type.dtype)) fail("x must be fp16 or fp32");
  const Shape& s = x.type.shape;
  if (s.empty()) fail("softmax needs a tensor, not a scalar");
  const auto axis = static_cast<size_t>(normalize_axis(axis_arg, s.size(), "axis"));
  const int64_t depth = s[axis];
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < axis; ++i) outer *= s[i];
  for (size_t i = axis + 1; i < s.size(); ++i) inner *= s[i];
  HostTensor out = make_tensor(x.type.dtype, s);
  // Per outer slice, the softmax axis is walked outermost and the trailing axes innermost, so
  // every pass is a contiguous sweep with per-column running max and sum.
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < outer; ++o) {
    std::vector<float> peak(inner, -std::numeric_limits<float>::infinity()), total(inner, 0.0f);
    const float* in = x.data.data() + o * depth * inner;
    float* res = out.data.data() + o * depth * inner;
    for (int64_t d = 0; d < depth; ++d)
      for (int64_t i = 0; i < inner; ++i) peak[i] = nan_max(peak[i], in[d * inner + i]);
    for (int64_t d = 0; d < depth; ++d)
      for (int64_t i = 0; i < inner; ++i) {
        const float e = std::exp(in[d * inner + i] - peak[i]);
        res[d * inner + i] = e;
        total[i] += e;
      }
    for (int64_t d = 0; d < depth; ++d)
      for (int64_t i = 0; i < inner; ++i) res[d * inner + i] /= total[i];
  }
  return out;
}

enum class Reduction { kSum, kMean, kMax, kMin };

HostTensor reduce(const HostTensor& x, const std::vector<int64_t>* axes_arg, bool keep_dims,
                  Reduction kind) {
  if (!is_float(x.type.dtype)) fail("x must be fp16 or fp32");
  const Shape& s = x.type.shape;
  std::vector<bool> reduced(s.size(), axes_arg == nullptr);  // no axes: reduce everything
  if (axes_arg)
    for (int64_t a : *axes_arg) {
      const auto axis = static_cast<size_t>(normalize_axis(a, s.size(), "axis"));
      if (reduced[axis]) fail("axis " + std::to_string(a) + " is listed twice");
      reduced[axis] = true;
    }
  Shape kept_shape, out_shape;
  for (size_t i = 0; i < s.size(); ++i) {
    kept_shape.push_back(reduced[i] ? 1 : s[i]);
    if (!reduced[i] || keep_dims) out_shape.push_back(kept_shape.back());
  }
  HostTensor out = make_tensor(x.type.dtype, out_shape);
  const bool is_sum = kind == Reduction::kSum || kind == Reduction::kMean;
  const bool is_max = kind == Reduction::kMax;
  if (!is_sum)
    std::fill(out.data.begin(), out.data.end(),
              (is_max ? -1 : 1) * std::numeric_limits<float>::infinity());
  // Walk the input in order; each element lands on its output through strides that are zero
  // on reduced axes. Sums (and a mean's sum) accumulate in fp32 in input order.
  const float* in = x.data.data();
  float* o = out.data.data();
  for_each_row<1>(s, {broadcast_strides(kept_shape, s)}, {0},
                  [&](int64_t count, int64_t linear, const auto& off, const auto& step) {
                    for (int64_t i = 0; i < count; ++i) {
                      float& acc = o[off[0] + i * step[0]];
                      const float v = in[linear + i];
                      if (is_sum)
                        acc += v;
                      else if ((is_max ? v > acc : v < acc) || v != v)
                        acc = v;  // NaN sticks once seen
                    }
                  });
  if (kind == Reduction::kMean && !out.data.empty()) {
    const auto count = static_cast<float>(numel(s) / numel(out_shape));
    for (float& v : out.data) v /= count;
  }
  return out;
}

// ---- data movement -------------------------------------------------------------------------

HostTensor gather_strided(const HostTensor& x, Shape out_shape, const Shape& strides,
                          int64_t base) {
  HostTensor out = make_tensor(x.type.dtype, std::move(out_shape));
  const float* in = x.data.data();
  float* o = out.data.data();
  for_each_row<1>(out.type.shape, {strides}, {base},
                  [&](int64_t count, int64_t linear, const auto& off, const auto& step) {
                    for (int64_t i = 0; i < count; ++i) o[linear + i] = in[off[0] + i * step[0]];
                  });
  return out;
}

HostTensor reshape(const HostTensor& x, const std::vector<int64_t>& shape) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      if (infer >= 0) fail("shape " + shape_text(shape) + " has more than one -1");
      infer = static_cast<int64_t>(i);
      continue;
    }
    if (out[i] == 0 && i < x.type.shape.size() && x.type.shape[i] > 0)
      out[i] = x.type.shape[i];  // 0 copies x's axis
    if (out[i] < 1)
      fail("shape " + shape_text(shape) +
           " has a dimension below 1 (only one -1, and 0 for an axis x has, are allowed)");
    known *= out[i];
  }
  const int64_t total = numel(x.type.shape);
  if (infer >= 0) {
    if (total % known != 0)
      fail("cannot reshape " + shape_text(x.type.shape) + " to " + shape_text(shape));
    out[infer] = total / known;
  }
  if (numel(out) != total)
    fail("cannot reshape " + shape_text(x.type.shape) + " to " + shape_text(shape));
  return HostTensor{Type{x.type.dtype, out}, x.data};
}

HostTensor transpose(const HostTensor& x, const std::vector<int64_t>& perm) {
  const Shape& s = x.type.shape;
  if (perm.size() != s.size())
    fail("perm has " + std::to_string(perm.size()) + " entries for a rank-" +
         std::to_string(s.size()) + " tensor");
  const Shape own = row_major_strides(s);
  Shape out_shape, strides;
  std::vector<bool> seen(s.size(), false);
  for (int64_t p : perm) {
    const auto axis = static_cast<size_t>(normalize_axis(p, s.size(), "perm entry"));
    if (seen[axis]) fail("perm " + shape_text(perm) + " is not a permutation");
    seen[axis] = true;
    out_shape.push_back(s[axis]);
    strides.push_back(own[axis]);
  }
  return gather_strided(x, out_shape, strides, 0);
}

HostTensor expand_dims(const HostTensor& x, const std::vector<int64_t>& axes) {
  const size_t rank = x.type.shape.size() + axes.size();
  std::vector<bool> inserted(rank, false);
  for (int64_t a : axes) {
    const auto axis = static_cast<size_t>(normalize_axis(a, rank, "axes entry"));
    if (inserted[axis]) fail("axis " + std::to_string(a) + " is listed twice");
    inserted[axis] = true;
  }
  Shape out;
  for (size_t i = 0, next = 0; i < rank; ++i) out.push_back(inserted[i] ? 1 : x.type.shape[next++]);
  return HostTensor{Type{x.type.dtype, out}, x.data};
}

// Drops the listed axes (each of size 1), or without axes every axis of size 1.
HostTensor squeeze(const HostTensor& x, const std::vector<int64_t>* axes) {
  const Shape& s = x.type.shape;
  std::vector<bool> drop(s.size(), false);
  for (size_t i = 0; !axes && i < s.size(); ++i) drop[i] = s[i] == 1;
  for (size_t k = 0; axes && k < axes->size(); ++k) {
    const auto axis = static_cast<size_t>(normalize_axis((*axes)[k], s.size(), "axes entry"));
    if (s[axis] != 1)
      fail("axis " + std::to_string((*axes)[k]) + " has size " + std::to_string(s[axis]) +
           ", not 1");
    drop[axis] = true;
  }
  Shape out;
  for (size_t i = 0; i < s.size(); ++i)
    if (!drop[i]) out.push_back(s[i]);
  return HostTensor{Type{x.type.dtype, out}, x.data};
}

HostTensor slice_by_size(const HostTensor& x, const std::vector<int64_t>& begin,
                         const std::vector<int64_t>& size) {
  const Shape& s = x.type.shape;
  if (begin.size() != s.size() || size.size() != s.size())
    fail("begin and size need " + std::to_string(s.size()) + " entries each");
  const Shape own = row_major_strides(s);
  Shape out_shape;
  int64_t base = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const int64_t b = begin[i] < 0 ? begin[i] + s[i] : begin[i];
    const int64_t n = size[i] == -1 ? s[i] - b : size[i];
    if (b < 0 || b > s[i] || n < 0 || b + n > s[i])
      fail("slice begin " + shape_text(begin) + " size " + shape_text(size) + " exceeds " +
           shape_text(s));
    out_shape.push_back(n);
    base += b * own[i];
  }
  return gather_strided(x, out_shape, own, base);
}

struct IndexSlice {
  std::vector<int64_t> begin, end, stride;
  std::vector<bool> begin_mask, end_mask, squeeze_mask;
};

HostTensor slice_by_index(const HostTensor& x, IndexSlice p) {
  const Shape& s = x.type.shape;
  const size_t rank = s.size();
  if (p.stride.empty()) p.stride.assign(rank, 1);
  for (auto* mask : {&p.begin_mask, &p.end_mask, &p.squeeze_mask})
    if (mask->empty()) mask->assign(rank, false);
  if (p.begin.size() != rank || p.end.size() != rank || p.stride.size() != rank ||
      p.begin_mask.size() != rank || p.end_mask.size() != rank || p.squeeze_mask.size() != rank)
    fail("begin, end, stride and masks need " + std::to_string(rank) + " entries each");
  const Shape own = row_major_strides(s);
  Shape out_shape, strides;
  int64_t base = 0;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t d = s[i], step = p.stride[i];
    if (step == 0) fail("stride must not be 0");
    // Python slice semantics: negative indices count from the end, out-of-range ones clamp.
    auto norm = [&](int64_t v, int64_t lo, int64_t hi) {
      return std::clamp(v < 0 ? v + d : v, lo, hi);
    };
    int64_t b, e;
    if (step > 0) {
      b = p.begin_mask[i] ? 0 : norm(p.begin[i], 0, d);
      e = p.end_mask[i] ? d : norm(p.end[i], 0, d);
    } else {
      b = p.begin_mask[i] ? d - 1 : norm(p.begin[i], -1, d - 1);
      e = p.end_mask[i] ? -1 : norm(p.end[i], -1, d - 1);
    }
    const int64_t count = step > 0 ? std::max<int64_t>(0, (e - b + step - 1) / step)
                                   : std::max<int64_t>(0, (b - e - step - 1) / -step);
    if (p.squeeze_mask[i]) {
      // A squeezed axis keeps the single element at begin.
      const int64_t at = p.begin[i] < 0 ? p.begin[i] + d : p.begin[i];
      if (at < 0 || at >= d)
        fail("squeezed index " + std::to_string(p.begin[i]) + " is out of range");
      base += at * own[i];
      continue;
    }
    base += (count > 0 ? b : 0) * own[i];
    out_shape.push_back(count);
    strides.push_back(own[i] * step);
  }
  return gather_strided(x, out_shape, strides, base);
}

HostTensor concat(const std::vector<const HostTensor*>& values, int64_t axis_arg, bool interleave) {
  if (values.empty()) fail("values is empty");
  const HostTensor& first = *values[0];
  const Shape& s0 = first.type.shape;
  if (s0.empty()) fail("cannot concatenate scalars");
  const auto axis = static_cast<size_t>(normalize_axis(axis_arg, s0.size(), "axis"));
  Shape out_shape = s0;
  out_shape[axis] = 0;
  for (const HostTensor* v : values) {
    const Shape& s = v->type.shape;
    bool fits = v->type.dtype == first.type.dtype && s.size() == s0.size();
    for (size_t i = 0; fits && i < s.size(); ++i)
      fits = i == axis ? (!interleave || s[i] == s0[i]) : s[i] == s0[i];
    if (!fits)
      fail("cannot concatenate " + print_type(v->type) + " with " + print_type(first.type) +
           " on axis " + std::to_string(axis_arg) + (interleave ? " with interleave" : ""));
    out_shape[axis] += s[axis];
  }
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < axis; ++i) outer *= s0[i];
  for (size_t i = axis + 1; i < s0.size(); ++i) inner *= s0[i];
  HostTensor out = make_tensor(first.type.dtype, out_shape);
  float* o = out.data.data();
  for (int64_t k = 0; k < outer; ++k) {
    if (!interleave) {
      for (const HostTensor* v : values) {
        const int64_t chunk = v->type.shape[axis] * inner;
        o = std::copy_n(v->data.data() + k * chunk, chunk, o);
      }
    } else {
      // Interleaved: output index d * N + j along the axis comes from input j's index d.
      for (int64_t d = 0; d < s0[axis]; ++d)
        for (const HostTensor* v : values)
          o = std::copy_n(v->data.data() + (k * s0[axis] + d) * inner, inner, o);
    }
  }
  return out;
}

// Repeats x reps[i] times along each axis i (numpy.tile with one rep per axis): axis by axis,
// each block of the axis and everything after it is copied reps[i] times in a row.
HostTensor tile(const HostTensor& x, const std::vector<int64_t>& reps) {
  const Shape& s = x.type.shape;
  if (s.empty()) fail("cannot tile a scalar");
  if (reps.size() != s.size())
    fail("reps " + shape_text(reps) + " needs " + std::to_string(s.size()) + " entries");
  for (int64_t r : reps)
    if (r < 1) fail("reps " + shape_text(reps) + " has an entry below 1");
  HostTensor out = x;
  for (size_t axis = s.size(); axis-- > 0;) {
    if (reps[axis] == 1) continue;
    int64_t outer = 1;
    for (size_t i = 0; i < axis; ++i) outer *= s[i];
    const int64_t block = static_cast<int64_t>(out.data.size()) / std::max<int64_t>(outer, 1);
    std::vector<float> grown;
    grown.reserve(out.data.size() * static_cast<size_t>(reps[axis]));
    for (int64_t k = 0; k < outer; ++k)
      for (int64_t r = 0; r < reps[axis]; ++r)
        grown.insert(grown.end(), out.data.begin() + k * block, out.data.begin() + (k + 1) * block);
    out.data = std::move(grown);
    out.type.shape[axis] *= reps[axis];
  }
  return out;
}

// ---- literals and arguments ----------------------------------------------------------------

SlotPtr literal_slot(const Literal& l) {
  auto slot = std::make_shared<Interpreter::Slot>();
  slot->tensor.type = l.type;
  if (l.is_blob) fail("a BLOBFILE may only appear as a const's val");
  if (l.type.dtype == DType::kString) {
    if (l.strings.size() != 1) fail("string literals must be scalars");
    slot->text = l.strings[0];
    return slot;
  }
  if (static_cast<int64_t>(l.numbers.size()) != l.type.numel())
    fail("literal " + print_type(l.type) + " holds " + std::to_string(l.numbers.size()) +
         " values");
  slot->tensor.data.resize(l.numbers.size());
  for (size_t i = 0; i < l.numbers.size(); ++i)
    slot->tensor.data[i] = l.type.dtype == DType::kFp16 ? round_fp16_from_double(l.numbers[i])
                                                        : static_cast<float>(l.numbers[i]);
  return slot;
}

// Reads an op's arguments from the environment (references) or inline literals.
class Args {
 public:
  Args(const Operation& op, const Env& env) : op_(op), env_(env) {}

  const Interpreter::Slot* find(const std::string& name) {
    const Arg* arg = op_.arg(name);
    if (!arg) return nullptr;
    if (arg->kind == Arg::Kind::kList) fail("argument " + name + " must be one value, not a list");
    if (arg->kind == Arg::Kind::kLiteral) {
      literals_.push_back(literal_slot(arg->literal));
      return literals_.back().get();
    }
    return env_.at(arg->ref).get();  // presence checked when the program was validated
  }
  const Interpreter::Slot& get(const std::string& name) {
    const Interpreter::Slot* slot = find(name);
    if (!slot) fail("missing argument " + name);
    return *slot;
  }
  const HostTensor& tensor(const std::string& name) {
    const Interpreter::Slot& slot = get(name);
    if (slot.tensor.type.dtype == DType::kString) fail("argument " + name + " must be numeric");
    return slot.tensor;
  }
  const HostTensor* optional_tensor(const std::string& name) {
    return op_.arg(name) ? &tensor(name) : nullptr;
  }
  std::vector<const HostTensor*> list(const std::string& name) {
    const Arg* arg = op_.arg(name);
    if (!arg) fail("missing argument " + name);
    std::vector<const HostTensor*> out;
    if (arg->kind == Arg::Kind::kList) {
      for (const std::string& ref : arg->list) out.push_back(&env_.at(ref)->tensor);
    } else {
      out.push_back(&tensor(name));
    }
    return out;
  }
  std::vector<int64_t> ints(const std::string& name) {
    const HostTensor& t = tensor(name);
    std::vector<int64_t> out;
    for (float v : t.data) {
      if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 1e9f)
        fail("argument " + name + " must hold integers");
      out.push_back(static_cast<int64_t>(v));
    }
    return out;
  }
  std::vector<int64_t> ints_or(const std::string& name, std::vector<int64_t> fallback) {
    return op_.arg(name) ? ints(name) : fallback;
  }
  int64_t integer(const std::string& name, std::optional<int64_t> fallback = std::nullopt) {
    if (!op_.arg(name)) {
      if (!fallback) fail("missing argument " + name);
      return *fallback;
    }
    const std::vector<int64_t> v = ints(name);
    if (v.size() != 1) fail("argument " + name + " must be a single integer");
    return v[0];
  }
  std::vector<bool> bools_or_empty(const std::string& name) {
    std::vector<bool> out;
    if (op_.arg(name))
      for (float v : tensor(name).data) out.push_back(v != 0.0f);
    return out;
  }
  bool boolean(const std::string& name, bool fallback) {
    if (!op_.arg(name)) return fallback;
    const HostTensor& t = tensor(name);
    if (t.data.size() != 1) fail("argument " + name + " must be a single bool");
    return t.data[0] != 0.0f;
  }
  std::string text(const std::string& name, const std::string& fallback) {
    if (!op_.arg(name)) return fallback;
    const Interpreter::Slot& slot = get(name);
    if (slot.tensor.type.dtype != DType::kString) fail("argument " + name + " must be a string");
    return slot.text;
  }

 private:
  const Operation& op_;
  const Env& env_;
  std::vector<SlotPtr> literals_;
};

const std::set<std::string>& known_ops() {
  static const std::set<std::string> ops = {
      "const",      "conv",        "linear",      "matmul",        "add",           "sub",
      "mul",        "real_div",    "pow",         "maximum",       "minimum",       "rsqrt",
      "sqrt",       "exp",         "log",         "sigmoid",       "tanh",          "relu",
      "silu",       "abs",         "square",      "gelu",          "softmax",       "reduce_sum",
      "reduce_max", "reduce_min",  "reduce_mean", "reshape",       "transpose",     "concat",
      "cast",       "expand_dims", "squeeze",     "slice_by_size", "slice_by_index", "tile"};
  return ops;
}

std::string where(const Operation& op, size_t index) {
  std::string s = "MIL op " + op.op + " '" + op.result + "'";
  if (op.line > 0) return s + " (line " + std::to_string(op.line) + ")";
  return s + " (statement " + std::to_string(index + 1) + ")";
}

// The element-wise math of one op: computed in fp32, rounded by the caller.
HostTensor compute(const Operation& op, Args& args) {
  const std::string& name = op.op;
  if (name == "add")
    return binary(args.tensor("x"), args.tensor("y"), [](float a, float b) { return a + b; });
  if (name == "sub")
    return binary(args.tensor("x"), args.tensor("y"), [](float a, float b) { return a - b; });
  if (name == "mul")
    return binary(args.tensor("x"), args.tensor("y"), [](float a, float b) { return a * b; });
  if (name == "real_div")
    return binary(args.tensor("x"), args.tensor("y"), [](float a, float b) { return a / b; });
  if (name == "pow")
    return binary(args.tensor("x"), args.tensor("y"),
                  [](float a, float b) { return std::pow(a, b); });
  if (name == "maximum") return binary(args.tensor("x"), args.tensor("y"), nan_max);
  if (name == "minimum") return binary(args.tensor("x"), args.tensor("y"), nan_min);
  if (name == "rsqrt" || name == "log") {
    const HostTensor& x = args.tensor("x");
    // MIL's epsilon defaults: 1e-12 for rsqrt (which is 0 once rounded to fp16), none for log.
    float epsilon = 0.0f;
    if (const HostTensor* e = args.optional_tensor("epsilon")) {
      if (e->data.size() != 1) fail("epsilon must be a scalar");
      epsilon = e->data[0];
    } else if (name == "rsqrt") {
      epsilon = x.type.dtype == DType::kFp16 ? round_fp16(1e-12f) : 1e-12f;
    }
    if (name == "log") return unary(x, [epsilon](float v) { return std::log(v + epsilon); });
    return unary(x, [epsilon](float v) { return 1.0f / std::sqrt(v + epsilon); });
  }
  if (name == "sqrt") return unary(args.tensor("x"), [](float v) { return std::sqrt(v); });
  if (name == "exp") return unary(args.tensor("x"), [](float v) { return std::exp(v); });
  if (name == "sigmoid")
    return unary(args.tensor("x"), [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  if (name == "tanh") return unary(args.tensor("x"), [](float v) { return std::tanh(v); });
  if (name == "relu") return unary(args.tensor("x"), [](float v) { return v < 0.0f ? 0.0f : v; });
  if (name == "silu")
    return unary(args.tensor("x"), [](float v) { return v / (1.0f + std::exp(-v)); });
  if (name == "abs") return unary(args.tensor("x"), [](float v) { return std::fabs(v); });
  if (name == "square") return unary(args.tensor("x"), [](float v) { return v * v; });
  if (name == "gelu") return gelu(args.tensor("x"), args.text("mode", "EXACT"));
  if (name == "softmax") return softmax(args.tensor("x"), args.integer("axis", -1));
  if (name.rfind("reduce_", 0) == 0) {
    const HostTensor& x = args.tensor("x");
    std::vector<int64_t> axes;
    const bool all = op.arg("axes") == nullptr;
    if (!all) axes = args.ints("axes");
    const Reduction kind = name == "reduce_max"    ? Reduction::kMax
                           : name == "reduce_min"  ? Reduction::kMin
                           : name == "reduce_mean" ? Reduction::kMean
                                                   : Reduction::kSum;
    return reduce(x, all ? nullptr : &axes, args.boolean("keep_dims", false), kind);
  }
  if (name == "conv") {
    ConvParams p;
    p.strides = args.ints_or("strides", {});
    p.dilations = args.ints_or("dilations", {});
    p.pad = args.ints_or("pad", {});
    p.pad_type = args.text("pad_type", "valid");
    p.groups = args.integer("groups", 1);
    return conv(args.tensor("x"), args.tensor("weight"), args.optional_tensor("bias"), p);
  }
  if (name == "matmul")
    return matmul(args.tensor("x"), args.tensor("y"), args.boolean("transpose_x", false),
                  args.boolean("transpose_y", false));
  if (name == "linear")
    return linear(args.tensor("x"), args.tensor("weight"), args.optional_tensor("bias"));
  if (name == "reshape") return reshape(args.tensor("x"), args.ints("shape"));
  if (name == "transpose") return transpose(args.tensor("x"), args.ints("perm"));
  if (name == "expand_dims") return expand_dims(args.tensor("x"), args.ints("axes"));
  if (name == "squeeze") {
    if (!op.arg("axes")) return squeeze(args.tensor("x"), nullptr);
    const std::vector<int64_t> axes = args.ints("axes");
    return squeeze(args.tensor("x"), &axes);
  }
  if (name == "slice_by_size")
    return slice_by_size(args.tensor("x"), args.ints("begin"), args.ints("size"));
  if (name == "slice_by_index") {
    IndexSlice p;
    p.begin = args.ints("begin");
    p.end = args.ints("end");
    p.stride = args.ints_or("stride", {});
    p.begin_mask = args.bools_or_empty("begin_mask");
    p.end_mask = args.bools_or_empty("end_mask");
    p.squeeze_mask = args.bools_or_empty("squeeze_mask");
    return slice_by_index(args.tensor("x"), p);
  }
  if (name == "concat")
    return concat(args.list("values"), args.integer("axis"), args.boolean("interleave", false));
  if (name == "tile") return tile(args.tensor("x"), args.ints("reps"));
  if (name == "cast") {
    const HostTensor& x = args.tensor("x");
    const std::string dtype = args.text("dtype", "");
    if (!is_float(x.type.dtype)) fail("x must be fp16 or fp32");
    if (dtype != "fp16" && dtype != "fp32") fail("dtype \"" + dtype + "\" is not fp16 or fp32");
    // fp16 -> fp32 is exact; fp32 -> fp16 rounds through the usual result rounding.
    return HostTensor{Type{dtype == "fp16" ? DType::kFp16 : DType::kFp32, x.type.shape}, x.data};
  }
  fail("op " + name + " is not supported by the interpreter");
}

}  // namespace

Interpreter::Interpreter(const Program& program, BlobLoader blobs) : program_(program) {
  const Function& f = program_.main;
  std::unordered_map<std::string, size_t> last_use;  // value -> index of the last op reading it
  std::set<std::string> defined;
  for (const auto& [name, type] : f.inputs) {
    if (!defined.insert(name).second) fail("MIL function input '" + name + "' is declared twice");
    if (type.dtype == DType::kString) fail("MIL function input '" + name + "' cannot be a string");
  }
  const size_t never = f.ops.size();
  for (size_t i = 0; i < f.ops.size(); ++i) {
    const Operation& op = f.ops[i];
    const std::string at = where(op, i);
    if (!known_ops().count(op.op))
      fail(at + ": op " + op.op + " is not supported by the interpreter");
    auto use = [&](const std::string& ref) {
      if (!defined.count(ref)) fail(at + ": '" + ref + "' is not defined before this op");
      last_use[ref] = i;
    };
    for (const auto& [key, arg] : op.args) {
      if (arg.kind == Arg::Kind::kRef) use(arg.ref);
      if (arg.kind == Arg::Kind::kList)
        for (const std::string& ref : arg.list) use(ref);
      if (arg.kind == Arg::Kind::kLiteral && arg.literal.is_blob)
        fail(at + ": argument " + key + " is a BLOBFILE; weights must be const ops");
    }
    if (op.result.empty() || !defined.insert(op.result).second)
      fail(at + ": result name '" + op.result + "' is empty or already defined");
    last_use[op.result] = i;
    if (op.op != "const") continue;
    if (!(op.val.type == op.type))
      fail(at + ": val is " + print_type(op.val.type) + " but the op declares " +
           print_type(op.type));
    SlotPtr slot;
    try {
      if (op.val.is_blob) {
        if (!blobs) fail("no BlobLoader was given for BLOBFILE " + op.val.blob_path);
        HostTensor t = blobs(op.val.blob_path, op.val.blob_offset, op.val.type);
        if (!(t.type == op.val.type) || static_cast<int64_t>(t.data.size()) != op.val.type.numel())
          fail("BLOBFILE " + op.val.blob_path + " at offset " + std::to_string(op.val.blob_offset) +
               " loaded as " + print_type(t.type) + " with " + std::to_string(t.data.size()) +
               " values, expected " + print_type(op.val.type));
        round_result(t);
        slot = std::make_shared<Slot>(Slot{std::move(t), {}});
      } else {
        slot = literal_slot(op.val);
      }
    } catch (const UserError& e) {
      throw UserError(at + ": " + e.what());
    }
    constants_[op.result] = std::move(slot);
    ++ops_executed_;
  }
  for (const std::string& out : f.outputs) {
    if (!defined.count(out)) fail("MIL function output '" + out + "' is not defined");
    last_use[out] = never;
  }
  release_after_.assign(f.ops.size(), {});
  for (const auto& [name, index] : last_use)
    if (index < never) release_after_[index].push_back(name);
}

Interpreter::~Interpreter() = default;

std::vector<HostTensor> Interpreter::run(
    const std::vector<std::pair<std::string, HostTensor>>& inputs) {
  const Function& f = program_.main;
  Env env;
  for (const auto& [name, tensor] : inputs) {
    const Type* declared = nullptr;
    for (const auto& [input, type] : f.inputs)
      if (input == name) declared = &type;
    if (!declared) fail("MIL function has no input named '" + name + "'");
    if (env.count(name)) fail("MIL input '" + name + "' is given twice");
    if (!(tensor.type == *declared))
      fail("MIL input '" + name + "' must be " + print_type(*declared) + ", got " +
           print_type(tensor.type));
    if (static_cast<int64_t>(tensor.data.size()) != declared->numel())
      fail("MIL input '" + name + "' has " + std::to_string(tensor.data.size()) + " values but " +
           print_type(*declared) + " needs " + std::to_string(declared->numel()));
    auto slot = std::make_shared<Slot>(Slot{tensor, {}});
    round_result(slot->tensor);  // as writing it into an fp16 buffer would
    env[name] = std::move(slot);
  }
  for (const auto& [name, type] : f.inputs)
    if (!env.count(name)) fail("MIL input '" + name + "' (" + print_type(type) + ") was not given");
  for (const auto& [name, slot] : constants_) env[name] = slot;

  for (size_t i = 0; i < f.ops.size(); ++i) {
    const Operation& op = f.ops[i];
    if (op.op != "const") {
      auto slot = std::make_shared<Slot>();
      try {
        Args args(op, env);
        slot->tensor = compute(op, args);
        round_result(slot->tensor);
        if (!(slot->tensor.type == op.type))
          fail("computes " + print_type(slot->tensor.type) + " but declares " +
               print_type(op.type));
      } catch (const UserError& e) {
        throw UserError(where(op, i) + ": " + e.what());
      }
      env[op.result] = std::move(slot);
      ++ops_executed_;
    }
    for (const std::string& name : release_after_[i]) env.erase(name);
  }
  std::vector<HostTensor> outputs;
  for (const std::string& name : f.outputs) outputs.push_back(env.at(name)->tensor);
  return outputs;
}

}  // namespace anetrain::mil
