// Runs a MIL Program (ir.h) on the CPU with fp16 numerics, so generated ANE programs can be
// checked against the reference CPU kernels on machines without an ANE.
//
// Rounding model. This is our model of the ANE, not a measured hardware fact:
//  - Every fp16 tensor value is exactly representable in fp16, always: function inputs and
//    fp16 constants are rounded to fp16 (round to nearest, ties to even) when they enter, and
//    every op's fp16 result is rounded to fp16 once, after the op.
//  - Element-wise ops (add, sub, mul, real_div, pow, maximum, minimum, rsqrt, sqrt, exp, log,
//    abs, square, relu, tanh, sigmoid, silu, gelu) compute each element in fp32 from its fp16
//    operands and round once.
//  - conv, linear, matmul, the reductions and softmax accumulate in fp32 (the ANE is assumed to
//    accumulate in higher precision internally) and round each output element to fp16 once.
//    conv's and linear's bias is added, and reduce_mean's sum divided, in fp32 before that single
//    rounding.
//  - Values beyond the fp16 range become +-inf on rounding (65520 and above, as ties-to-even
//    dictates), and inf/NaN then propagate by IEEE rules; the interpreter never traps on them.
//  - Tensors cast to fp32 stay fp32 (computed and kept in fp32, never rounded to fp16) until
//    cast back; cast to fp16 rounds.
//  - Data movement (reshape, transpose, slice_by_size, slice_by_index, concat, expand_dims,
//    squeeze, tile) is exact.
//
// Supported ops (coremltools opset names and arguments), every op the checker knows
// (checker.h): const (inline literal or BLOBFILE via the BlobLoader), conv (rank 3 or 4 x;
// strides, pad_type valid/same/same_lower/custom, pad, dilations, groups, bias), linear (x,
// weight [O, I], bias), matmul (transpose_x/transpose_y, batched with broadcasting, rank-1
// operands), add, sub, mul, real_div, pow, maximum, minimum (numpy broadcasting), rsqrt
// (x, epsilon: 1/sqrt(x + epsilon)), sqrt, exp, log (optional epsilon: log(x + epsilon)), abs,
// square, relu, tanh, sigmoid, silu, gelu (mode EXACT, TANH_APPROXIMATION or
// SIGMOID_APPROXIMATION), softmax (axis), reduce_sum, reduce_mean, reduce_max, reduce_min (axes,
// keep_dims), reshape (one -1 allowed; 0 copies x's axis), transpose (perm), slice_by_size
// (begin, size; -1 = to the end), slice_by_index (begin, end, stride, begin_mask, end_mask,
// squeeze_mask), concat (values, axis, interleave), tile (reps), cast (dtype "fp16"/"fp32"),
// expand_dims (axes), squeeze (axes, or every size-1 axis). Negative axes count from the end everywhere.
// Float tensors only: int32 arithmetic and casts to int32 or bool, which the checker accepts,
// are not supported.
//
// Errors are UserErrors naming the input or the op (its result name, op name and source line).
// Each op's computed type must equal its declared type, so a wrongly typed program fails here
// as it would in the ANE compiler.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backends/ane/mil/ir.h"

namespace anetrain::mil {

// A dense row-major tensor of the interpreter: values held as float but (for fp16 tensors)
// always exactly representable in fp16. Scalars have an empty shape and one value.
struct HostTensor {
  Type type;
  std::vector<float> data;
};

// Returns the BLOBFILE constant at (path, offset) of the given declared type: fp16 data as the
// float values of its fp16 bit patterns, or fp32 values. The result must have `type` and
// type.numel() values (checked); fp16 data is rounded to fp16 on arrival (a no-op for values
// read from an fp16 blob).
using BlobLoader =
    std::function<HostTensor(const std::string& path, uint64_t offset, const Type& type)>;

class Interpreter {
 public:
  // Validates the program (known ops, names defined before use, outputs exist) and evaluates
  // its constants once, calling `blobs` for each BLOBFILE constant: like the ANE, weights are
  // baked in when the program is "compiled" here. Throws UserError on a bad program.
  Interpreter(const Program& program, BlobLoader blobs);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Runs main with inputs by name; returns the function outputs in order. Every declared input
  // must be given exactly once with its declared dtype and shape (UserError naming the input
  // otherwise); fp16 inputs are rounded to fp16.
  std::vector<HostTensor> run(const std::vector<std::pair<std::string, HostTensor>>& inputs);

  // Operations executed so far: each const once (at construction) plus every other op each
  // time run() executes it.
  int64_t ops_executed() const { return ops_executed_; }

  struct Slot;  // a value of the environment (tensor or string); defined in interpreter.cpp

 private:
  using SlotPtr = std::shared_ptr<const Slot>;

  Program program_;
  std::map<std::string, SlotPtr> constants_;
  // For each op index, the values whose last use is that op (freed right after it runs, so
  // long programs at dim 768 x seq 512 don't keep every intermediate alive).
  std::vector<std::vector<std::string>> release_after_;
  int64_t ops_executed_ = 0;
};

}  // namespace anetrain::mil
