#include "backends/ane/mil/builder.h"

#include <algorithm>

#include "core/error.h"

namespace anetrain::mil {
namespace {

Literal int_tensor(const std::vector<int64_t>& values) {
  Literal l;
  l.type = {DType::kInt32, {static_cast<int64_t>(values.size())}};
  l.numbers.assign(values.begin(), values.end());
  return l;
}
Literal int_tensor32(const std::vector<int32_t>& values) {
  return int_tensor(std::vector<int64_t>(values.begin(), values.end()));
}
Literal bool_scalar(bool v) {
  Literal l;
  l.type = {DType::kBool, {}};
  l.numbers = {v ? 1.0 : 0.0};
  return l;
}
Literal int_scalar(int64_t v) {
  Literal l;
  l.type = {DType::kInt32, {}};
  l.numbers = {static_cast<double>(v)};
  return l;
}
Literal string_scalar(const std::string& s) {
  Literal l;
  l.type = {DType::kString, {}};
  l.strings = {s};
  return l;
}

}  // namespace

std::vector<int64_t> broadcast_shapes(const std::vector<int64_t>& a,
                                      const std::vector<int64_t>& b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    ANETRAIN_CHECK(da == db || da == 1 || db == 1, "shapes do not broadcast");
    out[i] = std::max(da, db);
  }
  return out;
}

Builder::Builder(WeightSink weights) : weights_(std::move(weights)) {}

std::string Builder::unique(const std::string& name) {
  int& n = used_[name];
  return n++ == 0 ? name : name + "_" + std::to_string(n - 1);
}

// Identifies a literal's type and value, so equal operands share one named const.
static std::string literal_key(const Literal& l) {
  std::string key = dtype_name(l.type.dtype);
  for (int64_t d : l.type.shape) key += "," + std::to_string(d);
  key += "|";
  for (double v : l.numbers) key += std::to_string(v) + ",";
  for (const std::string& s : l.strings) key += s + "\x1f";
  return key;
}

Value Builder::emit(const std::string& name, const std::string& op, Type type,
                    std::vector<std::pair<std::string, Arg>> args) {
  // Every non-tensor operand becomes a named const() value before the op, as in every program
  // seen to run on hardware (ane.md, "The form of the programs that ran"); equal operands share
  // one const (c_pad_type, c_strides, ...).
  for (auto& [arg_name, arg] : args) {
    if (arg.kind != Arg::Kind::kLiteral || arg.literal.is_blob) continue;
    const std::string key = literal_key(arg.literal);
    auto it = named_constants_.find(key);
    if (it == named_constants_.end()) {
      Operation c;
      c.type = arg.literal.type;
      c.result = unique("c_" + arg_name);
      c.op = "const";
      c.val = arg.literal;
      function_.ops.push_back(c);
      it = named_constants_.emplace(key, c.result).first;
    }
    arg = Arg::value(it->second);
  }
  Operation o;
  o.type = type;
  o.result = unique(name);
  o.op = op;
  o.args = std::move(args);
  function_.ops.push_back(o);
  return {o.result, type};
}

Value Builder::input(const std::string& name, std::vector<int64_t> shape) {
  Type t{DType::kFp16, std::move(shape)};
  function_.inputs.push_back({unique(name), t});
  return {function_.inputs.back().first, t};
}

void Builder::output(const Value& v) { function_.outputs.push_back(v.name); }

Program Builder::finish() {
  Program p;
  p.build_info = {{"coremlc-component-MIL", "3510.2.1"},
                  {"coremlc-version", "3505.4.1"},
                  {"coremltools-component-milinternal", ""},
                  {"coremltools-version", "9.0"}};
  p.main = function_;
  return p;
}

Value Builder::weight(const std::string& name, std::vector<int64_t> shape,
                      const std::vector<float>& values) {
  Type t{DType::kFp16, std::move(shape)};
  ANETRAIN_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "weight size mismatch");
  const std::string result = unique(name);
  auto [path, offset] = weights_(result, values);
  Operation o;
  o.type = t;
  o.result = result;
  o.op = "const";
  o.val.type = t;
  o.val.is_blob = true;
  o.val.blob_path = path;
  o.val.blob_offset = offset;
  function_.ops.push_back(o);
  return {result, t};
}

Value Builder::scalar(const std::string& name, float value) {
  Operation o;
  o.type = {DType::kFp16, {}};
  o.result = unique(name);
  o.op = "const";
  o.val.type = o.type;
  o.val.numbers = {value};
  function_.ops.push_back(o);
  return {o.result, o.type};
}

Value Builder::conv1x1(const std::string& name, const Value& x, const Value& w) {
  ANETRAIN_CHECK(x.shape().size() == 4 && w.shape().size() == 4 && w.shape()[1] == x.shape()[1],
                 "conv1x1 shapes");
  Type t{DType::kFp16, {x.shape()[0], w.shape()[0], x.shape()[2], x.shape()[3]}};
  return emit(name, "conv", t,
              {{"dilations", Arg::lit(int_tensor({1, 1}))},
               {"groups", Arg::lit(int_scalar(1))},
               {"pad", Arg::lit(int_tensor({0, 0, 0, 0}))},
               {"pad_type", Arg::lit(string_scalar("valid"))},
               {"strides", Arg::lit(int_tensor({1, 1}))},
               {"weight", Arg::value(w.name)},
               {"x", Arg::value(x.name)}});
}

Value Builder::matmul(const std::string& name, const Value& x, const Value& y, bool tx, bool ty) {
  const auto& a = x.shape();
  const auto& b = y.shape();
  ANETRAIN_CHECK(a.size() >= 2 && b.size() >= 2, "matmul rank");
  const int64_t m = tx ? a[a.size() - 1] : a[a.size() - 2];
  const int64_t ka = tx ? a[a.size() - 2] : a[a.size() - 1];
  const int64_t kb = ty ? b[b.size() - 1] : b[b.size() - 2];
  const int64_t n = ty ? b[b.size() - 2] : b[b.size() - 1];
  ANETRAIN_CHECK(ka == kb, "matmul inner dimensions differ in " + name);
  std::vector<int64_t> batch = broadcast_shapes(std::vector<int64_t>(a.begin(), a.end() - 2),
                                                std::vector<int64_t>(b.begin(), b.end() - 2));
  batch.push_back(m);
  batch.push_back(n);
  return emit(name, "matmul", {x.type.dtype, batch},
              {{"transpose_x", Arg::lit(bool_scalar(tx))},
               {"transpose_y", Arg::lit(bool_scalar(ty))},
               {"x", Arg::value(x.name)},
               {"y", Arg::value(y.name)}});
}

Value Builder::binary(const std::string& name, const std::string& op, const Value& x,
                      const Value& y) {
  ANETRAIN_CHECK(x.type.dtype == y.type.dtype, "operands of " + name + " differ in dtype");
  return emit(name, op, {x.type.dtype, broadcast_shapes(x.shape(), y.shape())},
              {{"x", Arg::value(x.name)}, {"y", Arg::value(y.name)}});
}
Value Builder::add(const std::string& n, const Value& x, const Value& y) {
  return binary(n, "add", x, y);
}
Value Builder::sub(const std::string& n, const Value& x, const Value& y) {
  return binary(n, "sub", x, y);
}
Value Builder::mul(const std::string& n, const Value& x, const Value& y) {
  return binary(n, "mul", x, y);
}
Value Builder::pow(const std::string& n, const Value& x, const Value& y) {
  return binary(n, "pow", x, y);
}

Value Builder::real_div(const std::string& n, const Value& x, const Value& y) {
  return binary(n, "real_div", x, y);
}

Value Builder::rsqrt(const std::string& name, const Value& x, float epsilon) {
  Literal eps;
  eps.type = {x.type.dtype, {}};
  eps.numbers = {epsilon};
  return emit(name, "rsqrt", x.type, {{"epsilon", Arg::lit(eps)}, {"x", Arg::value(x.name)}});
}

Value Builder::cast(const std::string& name, const Value& x, DType dtype) {
  ANETRAIN_CHECK(dtype == DType::kFp16 || dtype == DType::kFp32, "cast to fp16 or fp32 only");
  return emit(name, "cast", {dtype, x.shape()},
              {{"dtype", Arg::lit(string_scalar(dtype_name(dtype)))}, {"x", Arg::value(x.name)}});
}

Value Builder::int_constant(const std::string& name, std::vector<int64_t> shape,
                            const std::vector<int32_t>& values) {
  Operation o;
  o.type = {DType::kInt32, std::move(shape)};
  ANETRAIN_CHECK(o.type.numel() == static_cast<int64_t>(values.size()), "int constant size");
  o.result = unique(name);
  o.op = "const";
  o.val.type = o.type;
  o.val.numbers.assign(values.begin(), values.end());
  function_.ops.push_back(o);
  return {o.result, o.type};
}

Value Builder::bool_constant(const std::string& name, bool value) {
  Operation o;
  o.type = {DType::kBool, {}};
  o.result = unique(name);
  o.op = "const";
  o.val = bool_scalar(value);
  function_.ops.push_back(o);
  return {o.result, o.type};
}

Value Builder::sigmoid(const std::string& name, const Value& x) {  // keeps x's dtype
  return emit(name, "sigmoid", x.type, {{"x", Arg::value(x.name)}});
}

Value Builder::softmax(const std::string& name, const Value& x, int axis) {
  return emit(name, "softmax", x.type,
              {{"axis", Arg::lit(int_scalar(axis))}, {"x", Arg::value(x.name)}});
}

Value Builder::reduce_sum(const std::string& name, const Value& x, std::vector<int32_t> axes,
                          bool keep_dims) {
  std::vector<int64_t> shape;
  const int rank = static_cast<int>(x.shape().size());
  for (int i = 0; i < rank; ++i) {
    const bool reduced = std::any_of(axes.begin(), axes.end(),
                                     [&](int32_t a) { return (a < 0 ? a + rank : a) == i; });
    if (!reduced)
      shape.push_back(x.shape()[i]);
    else if (keep_dims)
      shape.push_back(1);
  }
  return emit(name, "reduce_sum", {x.type.dtype, shape},
              {{"axes", Arg::lit(int_tensor32(axes))},
               {"keep_dims", Arg::lit(bool_scalar(keep_dims))},
               {"x", Arg::value(x.name)}});
}

Value Builder::reshape(const std::string& name, const Value& x, std::vector<int64_t> shape) {
  Type t{x.type.dtype, shape};
  ANETRAIN_CHECK(t.numel() == x.type.numel(), "reshape changes the element count in " + name);
  return emit(name, "reshape", t,
              {{"shape", Arg::lit(int_tensor(shape))}, {"x", Arg::value(x.name)}});
}

Value Builder::transpose(const std::string& name, const Value& x, std::vector<int32_t> perm) {
  std::vector<int64_t> shape;
  for (int32_t p : perm) shape.push_back(x.shape()[p]);
  return emit(name, "transpose", {x.type.dtype, shape},
              {{"perm", Arg::lit(int_tensor32(perm))}, {"x", Arg::value(x.name)}});
}

Value Builder::slice_by_size(const std::string& name, const Value& x, std::vector<int64_t> begin,
                             std::vector<int64_t> size) {
  for (size_t i = 0; i < size.size(); ++i)
    ANETRAIN_CHECK(begin[i] >= 0 && begin[i] + size[i] <= x.shape()[i],
                   "slice out of range in " + name);
  return emit(name, "slice_by_size", {x.type.dtype, size},
              {{"begin", Arg::lit(int_tensor(begin))},
               {"size", Arg::lit(int_tensor(size))},
               {"x", Arg::value(x.name)}});
}

Value Builder::concat(const std::string& name, const std::vector<Value>& values, int axis) {
  std::vector<int64_t> shape = values.at(0).shape();
  std::vector<std::string> names;
  shape[axis] = 0;
  for (const Value& v : values) {
    shape[axis] += v.shape()[axis];
    names.push_back(v.name);
  }
  return emit(name, "concat", {DType::kFp16, shape},
              {{"axis", Arg::lit(int_scalar(axis))},
               {"interleave", Arg::lit(bool_scalar(false))},
               {"values", Arg::refs(names)}});
}

}  // namespace anetrain::mil
