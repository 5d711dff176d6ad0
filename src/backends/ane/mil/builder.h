// Builds MIL programs op by op with typed values, inferring each result's shape as it goes
// (so a generator cannot emit a statement whose declared type is wrong). Weight constants go
// into a MILBlob v2 file through the BLOBFILE mechanism; small constants (axes, shapes, flags)
// are named const() values, never inline literals, as in every program seen to run on the ANE.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backends/ane/mil/ir.h"

namespace anetrain::mil {

// A handle to a value in the program being built.
struct Value {
  std::string name;
  Type type;
  const std::vector<int64_t>& shape() const { return type.shape; }
};

// Receives a weight tensor's fp16 data (as float, to be rounded by the writer) and returns
// the BLOBFILE (path, offset) under which it was stored.
using WeightSink = std::function<std::pair<std::string, uint64_t>(
    const std::string& name, const std::vector<float>& values)>;

class Builder {
 public:
  explicit Builder(WeightSink weights);

  Value input(const std::string& name, std::vector<int64_t> shape);  // fp16 function input
  void output(const Value& v);
  Program finish();

  // Constants.
  Value weight(const std::string& name, std::vector<int64_t> shape,
               const std::vector<float>& values);
  Value scalar(const std::string& name, float value);  // fp16 scalar const

  // Ops (coremltools opset semantics; `name` is the result's name, made unique if needed).
  Value conv1x1(const std::string& name, const Value& x, const Value& weight);
  Value matmul(const std::string& name, const Value& x, const Value& y, bool transpose_x,
               bool transpose_y);
  Value add(const std::string& name, const Value& x, const Value& y);
  Value sub(const std::string& name, const Value& x, const Value& y);
  Value mul(const std::string& name, const Value& x, const Value& y);
  Value pow(const std::string& name, const Value& x, const Value& y);
  Value real_div(const std::string& name, const Value& x, const Value& y);
  Value rsqrt(const std::string& name, const Value& x, float epsilon);
  // fp16 <-> fp32 (dtype "fp16" or "fp32"): e.g. to accumulate a long reduction in fp32.
  Value cast(const std::string& name, const Value& x, DType dtype);
  Value int_constant(const std::string& name, std::vector<int64_t> shape,
                     const std::vector<int32_t>& values);
  Value bool_constant(const std::string& name, bool value);
  Value sigmoid(const std::string& name, const Value& x);
  Value softmax(const std::string& name, const Value& x, int axis);
  Value reduce_sum(const std::string& name, const Value& x, std::vector<int32_t> axes,
                   bool keep_dims);
  Value reshape(const std::string& name, const Value& x, std::vector<int64_t> shape);
  Value transpose(const std::string& name, const Value& x, std::vector<int32_t> perm);
  Value slice_by_size(const std::string& name, const Value& x, std::vector<int64_t> begin,
                      std::vector<int64_t> size);
  Value concat(const std::string& name, const std::vector<Value>& values, int axis);

 private:
  Value emit(const std::string& name, const std::string& op, Type type,
             std::vector<std::pair<std::string, Arg>> args);
  Value binary(const std::string& name, const std::string& op, const Value& x, const Value& y);
  std::string unique(const std::string& name);

  WeightSink weights_;
  Function function_;
  std::map<std::string, int> used_;
  std::map<std::string, std::string> named_constants_;  // literal_key -> const name
};

// Broadcast shape of two shapes (numpy rules); throws on mismatch (a generator bug).
std::vector<int64_t> broadcast_shapes(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

}  // namespace anetrain::mil
