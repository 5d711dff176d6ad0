#include "backends/ane/mil/checker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "backends/ane/mil/printer.h"

namespace anetrain::mil {

int64_t saturating_numel(const std::vector<int64_t>& shape) {
  for (int64_t d : shape)
    if (d <= 0) return 0;
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
  return n;
}

bool broadcast_shape(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                     std::vector<int64_t>* out) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> result(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return false;
    result[i] = da == 1 ? db : da;
  }
  *out = std::move(result);
  return true;
}

bool is_mil_identifier(const std::string& name) {
  if (name.empty()) return false;
  auto start = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!start(name[0])) return false;
  for (char c : name)
    if (!(start(c) || (c >= '0' && c <= '9') || c == '@')) return false;
  return true;
}

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;

bool is_float(DType t) { return t == DType::kFp16 || t == DType::kFp32; }

class Checker;
using InferFn = Type (Checker::*)();

struct OpSpec {
  std::vector<std::string> args;      // every accepted argument
  std::vector<std::string> required;  // the ones that must be present
  InferFn infer;
};

const std::map<std::string, OpSpec>& op_specs();

class Checker {
 public:
  Checker(const Program& program, const std::string& source) : p_(program), source_(source) {}

  std::vector<Type> run(bool compare_declared) {
    const Function& f = p_.main;
    if (!is_mil_identifier(f.name))
      fail_global("function name '" + f.name + "' is not a valid MIL identifier");
    if (!is_mil_identifier(f.opset))
      fail_global("opset '" + f.opset + "' is not a valid MIL identifier");
    for (const auto& [key, value] : p_.build_info)
      if (key.find('\n') != std::string::npos || value.find('\n') != std::string::npos)
        fail_global("buildInfo entry '" + key + "' contains a newline, which MIL text cannot hold");
    for (const auto& [name, type] : f.inputs) {
      const std::string what = "function '" + f.name + "': input '" + name + "'";
      if (!is_mil_identifier(name)) fail_global(what + " is not a valid MIL identifier");
      if (types_.count(name)) fail_global(what + " is defined twice");
      check_type(type, what);
      if (type.dtype == DType::kString) fail_global(what + " cannot be a string");
      types_[name] = type;
    }
    std::vector<Type> inferred;
    inferred.reserve(f.ops.size());
    for (const Operation& op : f.ops) {
      op_ = &op;
      context_ = "op '" + op.result + "' (" + op.op + "): ";
      Type t = check_op();
      if (bad_shape(t)) fail("result type " + print_type(t) + " has a dimension outside 0..2^31-1");
      if (compare_declared && !(t == op.type))
        fail("declared type " + print_type(op.type) + " but the inputs give " + print_type(t));
      types_[op.result] = t;
      if (op.op == "const") consts_[op.result] = &op;
      inferred.push_back(std::move(t));
    }
    op_ = nullptr;
    context_.clear();
    if (f.outputs.empty()) fail_global("function '" + f.name + "' has no outputs");
    std::unordered_set<std::string> seen;
    for (const std::string& out : f.outputs) {
      if (!types_.count(out))
        fail_global("function '" + f.name + "': output '" + out + "' is not defined");
      if (!seen.insert(out).second)
        fail_global("function '" + f.name + "': output '" + out + "' is listed twice");
    }
    return inferred;
  }

  // ---- inference, one function per op family (called through op_specs()) ----
  Type infer_conv() {
    const Type x = float_value("x");
    const Type w = value_type("weight");
    const size_t rank = x.shape.size();
    if (rank < 3 || rank > 5)
      fail("x must have rank 3 to 5 ([N, C, *spatial]), got " + print_type(x));
    if (w.shape.size() != rank)
      fail("weight must have the rank of x (" + std::to_string(rank) + "), got " + print_type(w));
    if (w.dtype != x.dtype)
      fail("weight dtype " + std::string(dtype_name(w.dtype)) + " differs from x's " +
           dtype_name(x.dtype));
    const size_t spatial = rank - 2;
    const int64_t groups = int_scalar("groups", 1);
    if (groups < 1) fail("groups must be >= 1, got " + std::to_string(groups));
    const int64_t channels = x.shape[1], out_channels = w.shape[0];
    if (channels % groups != 0 || w.shape[1] * groups != channels)
      fail("weight " + shape_text(w.shape) + " expects " + std::to_string(w.shape[1]) +
           " input channels per group but x has " + std::to_string(channels) + " channels in " +
           std::to_string(groups) + " group(s)");
    if (out_channels % groups != 0)
      fail("output channels " + std::to_string(out_channels) + " do not divide into " +
           std::to_string(groups) + " groups");
    const std::vector<int64_t> ones(spatial, 1);
    const std::vector<int64_t> strides = int_vector_or("strides", spatial, ones);
    const std::vector<int64_t> dilations = int_vector_or("dilations", spatial, ones);
    for (size_t i = 0; i < spatial; ++i)
      if (strides[i] < 1 || dilations[i] < 1) fail("strides and dilations must be >= 1");
    const std::string pad_type = string_scalar("pad_type", "valid");
    if (pad_type != "valid" && pad_type != "same" && pad_type != "same_lower" &&
        pad_type != "custom")
      fail("pad_type must be valid, same, same_lower or custom, got \"" + pad_type + "\"");
    const std::vector<int64_t> pad =
        int_vector_or("pad", 2 * spatial, std::vector<int64_t>(2 * spatial, 0));
    for (int64_t v : pad)
      if (v < 0) fail("pad entries must be >= 0");
    if (const Arg* bias = op_->arg("bias")) {
      const Type b = arg_type(*bias, "bias");
      if (b.dtype != x.dtype || b.shape != std::vector<int64_t>{out_channels})
        fail("bias must be " + print_type(Type{x.dtype, {out_channels}}) + ", got " +
             print_type(b));
    }
    Type out{x.dtype, {x.shape[0], out_channels}};
    for (size_t i = 0; i < spatial; ++i) {
      const int64_t in = x.shape[2 + i], k = w.shape[2 + i];
      if (pad_type == "same" || pad_type == "same_lower") {
        out.shape.push_back((in + strides[i] - 1) / strides[i]);
        continue;
      }
      const int64_t effective = (k - 1) * dilations[i] + 1;
      const int64_t padded = in + (pad_type == "custom" ? pad[2 * i] + pad[2 * i + 1] : 0);
      if (k < 1 || padded < effective)
        fail("kernel extent " + std::to_string(effective) + " exceeds the padded input " +
             std::to_string(padded) + " on spatial axis " + std::to_string(i));
      out.shape.push_back((padded - effective) / strides[i] + 1);
    }
    return out;
  }

  Type infer_linear() {
    const Type x = float_value("x");
    const Type w = value_type("weight");
    if (x.shape.empty()) fail("x must have rank >= 1");
    if (w.dtype != x.dtype || w.shape.size() != 2 || w.shape[1] != x.shape.back())
      fail("weight must be " + std::string(dtype_name(x.dtype)) + " [O, " +
           std::to_string(x.shape.back()) + "], got " + print_type(w));
    if (const Arg* bias = op_->arg("bias")) {
      const Type b = arg_type(*bias, "bias");
      if (b.dtype != x.dtype || b.shape != std::vector<int64_t>{w.shape[0]})
        fail("bias must be " + print_type(Type{x.dtype, {w.shape[0]}}) + ", got " + print_type(b));
    }
    Type out = x;
    out.shape.back() = w.shape[0];
    return out;
  }

  Type infer_matmul() {
    const Type x = float_value("x");
    const Type y = value_type("y");
    if (y.dtype != x.dtype)
      fail("x and y dtypes differ (" + std::string(dtype_name(x.dtype)) + ", " +
           dtype_name(y.dtype) + ")");
    if (x.shape.empty() || y.shape.empty()) fail("x and y must have rank >= 1");
    const bool tx = bool_scalar("transpose_x", false), ty = bool_scalar("transpose_y", false);
    // Rank-1 operands act as a row (x) or column (y) whose unit axis is dropped from the result;
    // transposing them is a no-op.
    const bool vec_x = x.shape.size() == 1, vec_y = y.shape.size() == 1;
    std::vector<int64_t> a = vec_x ? std::vector<int64_t>{1, x.shape[0]} : x.shape;
    std::vector<int64_t> b = vec_y ? std::vector<int64_t>{y.shape[0], 1} : y.shape;
    if (tx && !vec_x) std::swap(a[a.size() - 1], a[a.size() - 2]);
    if (ty && !vec_y) std::swap(b[b.size() - 1], b[b.size() - 2]);
    const int64_t m = a[a.size() - 2], k = a.back(), kb = b[b.size() - 2], n = b.back();
    if (k != kb)
      fail("inner dimensions differ: x " + shape_text(x.shape) + (tx ? " (transposed)" : "") +
           " and y " + shape_text(y.shape) + (ty ? " (transposed)" : "") + " give " +
           std::to_string(k) + " vs " + std::to_string(kb));
    std::vector<int64_t> batch;
    if (!broadcast_shape(std::vector<int64_t>(a.begin(), a.end() - 2),
                         std::vector<int64_t>(b.begin(), b.end() - 2), &batch))
      fail("batch dimensions of x " + shape_text(x.shape) + " and y " + shape_text(y.shape) +
           " do not broadcast");
    if (!vec_x) batch.push_back(m);
    if (!vec_y) batch.push_back(n);
    return Type{x.dtype, batch};
  }

  Type infer_binary() {
    const Type x = value_type("x");
    const Type y = value_type("y");
    if (x.dtype != y.dtype)
      fail("x and y dtypes differ (" + std::string(dtype_name(x.dtype)) + ", " +
           dtype_name(y.dtype) + ")");
    const bool float_only = op_->op == "pow" || op_->op == "real_div";
    if (!(is_float(x.dtype) || (!float_only && x.dtype == DType::kInt32)))
      fail(std::string("x and y cannot be ") + dtype_name(x.dtype));
    Type out{x.dtype, {}};
    if (!broadcast_shape(x.shape, y.shape, &out.shape))
      fail("shapes " + shape_text(x.shape) + " and " + shape_text(y.shape) + " do not broadcast");
    return out;
  }

  Type infer_unary() {
    const Type x = float_value("x");
    if (op_->arg("epsilon")) float_constant("epsilon");
    if (op_->arg("mode")) {
      const std::string mode = string_scalar("mode", "EXACT");
      if (mode != "EXACT" && mode != "TANH_APPROXIMATION" && mode != "SIGMOID_APPROXIMATION")
        fail("mode must be EXACT, TANH_APPROXIMATION or SIGMOID_APPROXIMATION, got \"" + mode +
             "\"");
    }
    return x;
  }

  Type infer_softmax() {
    const Type x = float_value("x");
    if (x.shape.empty()) fail("x must have rank >= 1");
    normalize_axis(int_scalar("axis", -1), x.shape.size(), "axis");
    return x;
  }

  Type infer_reduce() {
    const Type x = value_type("x");
    if (!(is_float(x.dtype) || x.dtype == DType::kInt32))
      fail(std::string("x cannot be ") + dtype_name(x.dtype));
    const size_t rank = x.shape.size();
    if (rank == 0) fail("x must have rank >= 1");
    std::vector<bool> reduced(rank, !op_->arg("axes"));
    if (op_->arg("axes")) {
      for (int64_t a : int_vector("axes", -1)) {
        const size_t i = normalize_axis(a, rank, "axes");
        if (reduced[i]) fail("axis " + std::to_string(a) + " appears twice in axes");
        reduced[i] = true;
      }
    }
    const bool keep = bool_scalar("keep_dims", false);
    Type out{x.dtype, {}};
    for (size_t i = 0; i < rank; ++i) {
      if (!reduced[i])
        out.shape.push_back(x.shape[i]);
      else if (keep)
        out.shape.push_back(1);
    }
    return out;
  }

  Type infer_reshape() {
    const Type x = value_type("x");
    const std::vector<int64_t> shape = int_vector("shape", -1);
    Type out{x.dtype, {}};
    int infer_at = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
      int64_t d = shape[i];
      if (d == -1) {
        if (infer_at >= 0) fail("shape " + shape_text(shape) + " has more than one -1");
        infer_at = static_cast<int>(i);
        d = 1;
      } else if (d == 0) {
        if (i >= x.shape.size())
          fail("shape entry 0 at axis " + std::to_string(i) + " copies an axis x does not have");
        d = x.shape[i];
      } else if (d < 0) {
        fail("shape " + shape_text(shape) + " has a negative entry other than -1");
      }
      out.shape.push_back(d);
    }
    const int64_t have = saturating_numel(x.shape);
    const int64_t known = saturating_numel(out.shape);
    if (infer_at >= 0) {
      if (known == 0 || have % known != 0)
        fail("cannot infer the -1 in " + shape_text(shape) + " from " + std::to_string(have) +
             " elements");
      out.shape[infer_at] = have / known;
    } else if (known != have) {
      fail("shape " + shape_text(shape) + " holds " + std::to_string(known) + " elements but x " +
           shape_text(x.shape) + " has " + std::to_string(have));
    }
    return out;
  }

  Type infer_transpose() {
    const Type x = value_type("x");
    const std::vector<int64_t> perm = int_vector("perm", static_cast<int64_t>(x.shape.size()));
    std::vector<bool> used(perm.size(), false);
    Type out{x.dtype, {}};
    for (int64_t p : perm) {
      const size_t i = normalize_axis(p, x.shape.size(), "perm");
      if (used[i]) fail("perm " + shape_text(perm) + " is not a permutation");
      used[i] = true;
      out.shape.push_back(x.shape[i]);
    }
    return out;
  }

  Type infer_slice_by_size() {
    const Type x = value_type("x");
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    if (rank == 0) fail("x must have rank >= 1");
    const std::vector<int64_t> begin = int_vector("begin", rank), size = int_vector("size", rank);
    Type out{x.dtype, {}};
    for (int64_t i = 0; i < rank; ++i) {
      const int64_t dim = x.shape[i];
      int64_t b = begin[i] < 0 ? begin[i] + dim : begin[i];
      const int64_t s = size[i] == -1 ? dim - b : size[i];
      if (b < 0 || b > dim || s < 0 || b + s > dim)
        fail("slice begin " + std::to_string(begin[i]) + " size " + std::to_string(size[i]) +
             " is out of range for axis " + std::to_string(i) + " of size " + std::to_string(dim));
      out.shape.push_back(s);
    }
    return out;
  }

  Type infer_slice_by_index() {
    const Type x = value_type("x");
    const int64_t rank = static_cast<int64_t>(x.shape.size());
    if (rank == 0) fail("x must have rank >= 1");
    const std::vector<int64_t> begin = int_vector("begin", rank), end = int_vector("end", rank);
    const std::vector<int64_t> stride =
        int_vector_or("stride", rank, std::vector<int64_t>(rank, 1));
    const std::vector<bool> begin_mask = bool_vector_or("begin_mask", rank);
    const std::vector<bool> end_mask = bool_vector_or("end_mask", rank);
    const std::vector<bool> squeeze_mask = bool_vector_or("squeeze_mask", rank);
    Type out{x.dtype, {}};
    for (int64_t i = 0; i < rank; ++i) {
      const int64_t dim = x.shape[i], s = stride[i];
      if (s == 0) fail("stride must not be 0 (axis " + std::to_string(i) + ")");
      int64_t b = begin[i] < 0 ? begin[i] + dim : begin[i];
      int64_t e = end[i] < 0 ? end[i] + dim : end[i];
      int64_t length;
      if (s > 0) {
        if (begin_mask[i]) b = 0;
        if (end_mask[i]) e = dim;
        b = std::clamp<int64_t>(b, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
        length = e > b ? (e - b + s - 1) / s : 0;
      } else {
        if (begin_mask[i]) b = dim - 1;
        if (end_mask[i]) e = -1;
        b = std::clamp<int64_t>(b, -1, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        length = b > e ? (b - e + (-s) - 1) / (-s) : 0;
      }
      if (squeeze_mask[i]) {
        if (length != 1)
          fail("squeeze_mask drops axis " + std::to_string(i) + " but the slice keeps " +
               std::to_string(length) + " entries");
        continue;
      }
      out.shape.push_back(length);
    }
    return out;
  }

  Type infer_concat() {
    const Arg& values = need("values");
    if (values.kind != Arg::Kind::kList)
      fail("values must be a list of values, e.g. values = (a, b)");
    if (values.list.empty()) fail("values must not be empty");
    std::vector<Type> inputs;
    for (const std::string& name : values.list) inputs.push_back(ref_type(name));
    const Type& first = inputs[0];
    if (first.shape.empty()) fail("values must have rank >= 1");
    const size_t axis = normalize_axis(int_scalar("axis", 0, true), first.shape.size(), "axis");
    const bool interleave = bool_scalar("interleave", false);
    Type out = first;
    out.shape[axis] = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Type& t = inputs[i];
      bool ok = t.dtype == first.dtype && t.shape.size() == first.shape.size();
      for (size_t d = 0; ok && d < t.shape.size(); ++d)
        if (d != axis || interleave) ok = t.shape[d] == first.shape[d];
      if (!ok)
        fail("value '" + values.list[i] + "' " + print_type(t) + " does not concatenate with '" +
             values.list[0] + "' " + print_type(first) + " along axis " + std::to_string(axis) +
             (interleave ? " (interleave needs equal shapes)" : ""));
      if (__builtin_add_overflow(out.shape[axis], t.shape[axis], &out.shape[axis]))
        fail("concatenated axis overflows");
    }
    return out;
  }

  Type infer_tile() {
    const Type x = value_type("x");
    if (x.dtype == DType::kString || x.dtype == DType::kUint64)
      fail(std::string("x cannot be ") + dtype_name(x.dtype));
    if (x.shape.empty()) fail("x must have rank >= 1");
    const std::vector<int64_t> reps = int_vector("reps", static_cast<int64_t>(x.shape.size()));
    Type out{x.dtype, {}};
    for (size_t i = 0; i < reps.size(); ++i) {
      if (reps[i] < 1)
        fail("reps " + shape_text(reps) + " must be >= 1 on every axis (axis " + std::to_string(i) +
             " is " + std::to_string(reps[i]) + ")");
      out.shape.push_back(x.shape[i] * reps[i]);
    }
    return out;
  }

  Type infer_cast() {
    const Type x = value_type("x");
    const std::string to = string_scalar("dtype", "", true);
    Type out = x;
    if (to == "fp16")
      out.dtype = DType::kFp16;
    else if (to == "fp32")
      out.dtype = DType::kFp32;
    else if (to == "int32")
      out.dtype = DType::kInt32;
    else if (to == "bool")
      out.dtype = DType::kBool;
    else
      fail("dtype must be \"fp16\", \"fp32\", \"int32\" or \"bool\", got \"" + to + "\"");
    if (x.dtype == DType::kString || x.dtype == DType::kUint64)
      fail(std::string("cannot cast from ") + dtype_name(x.dtype));
    return out;
  }

  Type infer_expand_dims() {
    const Type x = value_type("x");
    const std::vector<int64_t> axes = int_vector("axes", -1);
    if (axes.empty()) fail("axes must not be empty");
    const size_t rank = x.shape.size() + axes.size();
    std::vector<bool> inserted(rank, false);
    for (int64_t a : axes) {
      const size_t i = normalize_axis(a, rank, "axes");
      if (inserted[i]) fail("axis " + std::to_string(a) + " appears twice in axes");
      inserted[i] = true;
    }
    Type out{x.dtype, {}};
    size_t next = 0;
    for (size_t i = 0; i < rank; ++i) out.shape.push_back(inserted[i] ? 1 : x.shape[next++]);
    return out;
  }

  Type infer_squeeze() {
    const Type x = value_type("x");
    const size_t rank = x.shape.size();
    std::vector<bool> drop(rank, false);
    if (op_->arg("axes")) {
      for (int64_t a : int_vector("axes", -1)) {
        const size_t i = normalize_axis(a, rank, "axes");
        if (x.shape[i] != 1)
          fail("axis " + std::to_string(a) + " has size " + std::to_string(x.shape[i]) + ", not 1");
        drop[i] = true;
      }
    } else {
      for (size_t i = 0; i < rank; ++i) drop[i] = x.shape[i] == 1;
    }
    Type out{x.dtype, {}};
    for (size_t i = 0; i < rank; ++i)
      if (!drop[i]) out.shape.push_back(x.shape[i]);
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw MilError(source_, op_ ? op_->line : 0, op_ ? op_->column : 0, context_ + what);
  }
  [[noreturn]] void fail_global(const std::string& what) const {
    throw MilError(source_, 0, 0, what);
  }

  // Dimensions stay below 2^31 (as the parser enforces), so shape arithmetic cannot overflow.
  static bool bad_shape(const Type& t) {
    for (int64_t d : t.shape)
      if (d < 0 || d > kMaxDim) return true;
    return false;
  }
  void check_type(const Type& t, const std::string& what) const {
    if (bad_shape(t)) fail_global(what + " has a dimension outside 0..2^31-1 in " + print_type(t));
  }

  Type check_op() {
    const Operation& op = *op_;
    if (!is_mil_identifier(op.result))
      fail("result name '" + op.result + "' is not a valid MIL identifier");
    if (types_.count(op.result)) fail("value '" + op.result + "' is defined twice");
    if (bad_shape(op.type))
      fail("declared type " + print_type(op.type) + " has a dimension outside 0..2^31-1");
    const auto& specs = op_specs();
    const auto spec = specs.find(op.op);
    if (spec == specs.end()) fail("unknown op '" + op.op + "'");
    std::unordered_set<std::string> keys;
    for (const auto& [key, arg] : op.args) {
      const auto& allowed = spec->second.args;
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::string list;
        for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail("unknown argument '" + key + "'" +
             (list.empty() ? " (" + op.op + " takes none)" : " (expected " + list + ")"));
      }
      if (!keys.insert(key).second) fail("argument '" + key + "' given twice");
      if (arg.kind == Arg::Kind::kLiteral) check_literal(arg.literal, "argument '" + key + "'");
      if (arg.kind == Arg::Kind::kRef) ref_type(arg.ref);
      if (arg.kind == Arg::Kind::kList)
        for (const std::string& name : arg.list) ref_type(name);
    }
    for (const std::string& key : spec->second.required)
      if (!op.arg(key)) fail("missing argument '" + key + "'");
    if (op.op == "const") {
      check_literal(op.val, "val");
      return op.val.type;
    }
    return (this->*spec->second.infer)();
  }

  void check_literal(const Literal& l, const std::string& what) const {
    if (bad_shape(l.type))
      fail(what + " has a dimension outside 0..2^31-1 in " + print_type(l.type));
    if (l.is_blob) {
      if (l.type.dtype == DType::kString || l.type.dtype == DType::kBool)
        fail(what + ": BLOBFILE needs a numeric type, not " + dtype_name(l.type.dtype));
      if (l.blob_path.empty() || l.blob_path.find('\n') != std::string::npos)
        fail(what + ": BLOBFILE path must be a non-empty single-line string");
      return;
    }
    if (l.type.dtype == DType::kString) {
      if (!l.type.is_scalar()) fail(what + ": string tensors of rank >= 1 are not supported");
      if (l.strings.size() != 1 || !l.numbers.empty())
        fail(what + ": a string literal holds exactly one string");
      if (l.strings[0].find('\n') != std::string::npos)
        fail(what + ": string contains a newline, which MIL text cannot hold");
      return;
    }
    if (!l.strings.empty())
      fail(what + ": a " + std::string(dtype_name(l.type.dtype)) + " literal cannot hold strings");
    const int64_t numel = saturating_numel(l.type.shape);
    if (static_cast<int64_t>(l.numbers.size()) != numel)
      fail(what + ": " + print_type(l.type) + " needs " + std::to_string(numel) + " values, has " +
           std::to_string(l.numbers.size()));
    for (double v : l.numbers) {
      switch (l.type.dtype) {
        case DType::kInt32:
          if (!(v == std::floor(v) && v >= -2147483648.0 && v <= 2147483647.0))
            fail(what + ": int32 value " + std::to_string(v) + " is not an int32");
          break;
        case DType::kUint64:
          if (!(v == std::floor(v) && v >= 0 && v <= 9007199254740992.0))
            fail(what + ": uint64 value " + std::to_string(v) +
                 " is not a non-negative integer <= 2^53");
          break;
        case DType::kBool:
          if (v != 0 && v != 1) fail(what + ": bool value " + std::to_string(v) + " is not 0 or 1");
          break;
        default:
          break;
      }
    }
  }

  const Arg& need(const char* name) const {
    const Arg* a = op_->arg(name);
    if (!a) fail(std::string("missing argument '") + name + "'");
    return *a;
  }

  Type ref_type(const std::string& name) const {
    const auto it = types_.find(name);
    if (it == types_.end()) fail("unknown value '" + name + "' (not defined before use)");
    return it->second;
  }

  Type arg_type(const Arg& a, const std::string& name) const {
    switch (a.kind) {
      case Arg::Kind::kRef:
        return ref_type(a.ref);
      case Arg::Kind::kLiteral:
        return a.literal.type;
      case Arg::Kind::kList:
        break;
    }
    fail("argument '" + name + "' must be a single value, not a list");
  }

  Type value_type(const char* name) const { return arg_type(need(name), name); }

  Type float_value(const char* name) const {
    Type t = value_type(name);
    if (!is_float(t.dtype))
      fail(std::string("argument '") + name + "' must be fp16 or fp32, got " + print_type(t));
    return t;
  }

  // The inline literal or the const op's value behind an argument; fails for runtime values and
  // BLOBFILE constants, whose values the checker cannot see.
  const Literal& constant(const char* name) const {
    const Arg& a = need(name);
    const Literal* l = nullptr;
    if (a.kind == Arg::Kind::kLiteral) {
      l = &a.literal;
    } else if (a.kind == Arg::Kind::kRef) {
      ref_type(a.ref);
      const auto it = consts_.find(a.ref);
      if (it == consts_.end())
        fail(std::string("argument '") + name + "' must be a constant (a literal or a const), '" +
             a.ref + "' is computed");
      l = &it->second->val;
    } else {
      fail(std::string("argument '") + name + "' must be a single constant, not a list");
    }
    if (l->is_blob)
      fail(std::string("argument '") + name + "' must have inline values, not a BLOBFILE");
    return *l;
  }

  // int32 rank-1 constant; `length` >= 0 requires that many entries.
  std::vector<int64_t> int_vector(const char* name, int64_t length) const {
    const Literal& l = constant(name);
    if (l.type.dtype != DType::kInt32 || l.type.shape.size() != 1)
      fail(std::string("argument '") + name +
           "' must be an int32 tensor constant (tensor<int32, [K]>), got " + print_type(l.type));
    if (length >= 0 && l.type.shape[0] != length)
      fail(std::string("argument '") + name + "' must have " + std::to_string(length) +
           " entries, has " + std::to_string(l.type.shape[0]));
    return std::vector<int64_t>(l.numbers.begin(), l.numbers.end());
  }

  std::vector<int64_t> int_vector_or(const char* name, size_t length,
                                     std::vector<int64_t> fallback) const {
    if (!op_->arg(name)) return fallback;
    return int_vector(name, static_cast<int64_t>(length));
  }

  std::vector<bool> bool_vector_or(const char* name, int64_t length) const {
    if (!op_->arg(name)) return std::vector<bool>(length, false);
    const Literal& l = constant(name);
    if (l.type.dtype != DType::kBool || l.type.shape != std::vector<int64_t>{length})
      fail(std::string("argument '") + name + "' must be tensor<bool, [" + std::to_string(length) +
           "]>, got " + print_type(l.type));
    std::vector<bool> out;
    for (double v : l.numbers) out.push_back(v != 0);
    return out;
  }

  const Literal& scalar_constant(const char* name, DType dtype) const {
    const Literal& l = constant(name);
    if (l.type.dtype != dtype || !l.type.is_scalar())
      fail(std::string("argument '") + name + "' must be a " + dtype_name(dtype) +
           " scalar constant, got " + print_type(l.type));
    return l;
  }

  int64_t int_scalar(const char* name, int64_t fallback, bool required = false) const {
    if (!required && !op_->arg(name)) return fallback;
    return static_cast<int64_t>(scalar_constant(name, DType::kInt32).numbers.at(0));
  }

  bool bool_scalar(const char* name, bool fallback) const {
    if (!op_->arg(name)) return fallback;
    return scalar_constant(name, DType::kBool).numbers.at(0) != 0;
  }

  std::string string_scalar(const char* name, const std::string& fallback,
                            bool required = false) const {
    if (!required && !op_->arg(name)) return fallback;
    return scalar_constant(name, DType::kString).strings.at(0);
  }

  void float_constant(const char* name) const {
    const Literal& l = constant(name);
    if (!is_float(l.type.dtype) || !l.type.is_scalar())
      fail(std::string("argument '") + name + "' must be an fp16 or fp32 scalar constant, got " +
           print_type(l.type));
  }

  size_t normalize_axis(int64_t axis, size_t rank, const char* what) const {
    const int64_t r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r)
      fail(std::string(what) + " " + std::to_string(axis) + " is out of range for rank " +
           std::to_string(rank));
    return static_cast<size_t>(axis < 0 ? axis + r : axis);
  }

  const Program& p_;
  const std::string& source_;
  const Operation* op_ = nullptr;
  std::string context_;
  std::unordered_map<std::string, Type> types_;
  std::unordered_map<std::string, const Operation*> consts_;
};

const std::map<std::string, OpSpec>& op_specs() {
  static const std::map<std::string, OpSpec> specs = [] {
    std::map<std::string, OpSpec> m;
    m["const"] = {{}, {}, nullptr};
    m["conv"] = {{"x", "weight", "bias", "strides", "pad_type", "pad", "dilations", "groups"},
                 {"x", "weight"},
                 &Checker::infer_conv};
    m["linear"] = {{"x", "weight", "bias"}, {"x", "weight"}, &Checker::infer_linear};
    m["matmul"] = {{"x", "y", "transpose_x", "transpose_y"}, {"x", "y"}, &Checker::infer_matmul};
    for (const char* op : {"add", "sub", "mul", "real_div", "pow", "maximum", "minimum"})
      m[op] = {{"x", "y"}, {"x", "y"}, &Checker::infer_binary};
    for (const char* op : {"sqrt", "exp", "sigmoid", "tanh", "relu", "silu", "abs", "square"})
      m[op] = {{"x"}, {"x"}, &Checker::infer_unary};
    for (const char* op : {"rsqrt", "log"})
      m[op] = {{"x", "epsilon"}, {"x"}, &Checker::infer_unary};
    m["gelu"] = {{"x", "mode"}, {"x"}, &Checker::infer_unary};
    m["softmax"] = {{"x", "axis"}, {"x"}, &Checker::infer_softmax};
    for (const char* op : {"reduce_sum", "reduce_max", "reduce_min", "reduce_mean"})
      m[op] = {{"x", "axes", "keep_dims"}, {"x"}, &Checker::infer_reduce};
    m["reshape"] = {{"x", "shape"}, {"x", "shape"}, &Checker::infer_reshape};
    m["transpose"] = {{"x", "perm"}, {"x", "perm"}, &Checker::infer_transpose};
    m["slice_by_size"] = {
        {"x", "begin", "size"}, {"x", "begin", "size"}, &Checker::infer_slice_by_size};
    m["slice_by_index"] = {
        {"x", "begin", "end", "stride", "begin_mask", "end_mask", "squeeze_mask"},
        {"x", "begin", "end"},
        &Checker::infer_slice_by_index};
    m["concat"] = {{"values", "axis", "interleave"}, {"values", "axis"}, &Checker::infer_concat};
    m["cast"] = {{"x", "dtype"}, {"x", "dtype"}, &Checker::infer_cast};
    m["tile"] = {{"x", "reps"}, {"x", "reps"}, &Checker::infer_tile};
    m["expand_dims"] = {{"x", "axes"}, {"x", "axes"}, &Checker::infer_expand_dims};
    m["squeeze"] = {{"x", "axes"}, {"x"}, &Checker::infer_squeeze};
    return m;
  }();
  return specs;
}

}  // namespace

std::vector<Type> infer_types(const Program& program, const std::string& source_name) {
  return Checker(program, source_name).run(false);
}

void check_program(const Program& program, const std::string& source_name) {
  Checker(program, source_name).run(true);
}

const std::vector<std::string>& checked_ops() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& [name, spec] : op_specs()) out.push_back(name);
    return out;
  }();
  return names;
}

}  // namespace anetrain::mil
