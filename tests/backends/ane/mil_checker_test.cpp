// Tests for the MIL checker (shape inference of every supported op, including broadcasting and
// matmul transposes, and the argument/name/literal errors it reports with their line) and for
// the hardware lint (each rule fires on a minimal bad program and stays quiet on a good one;
// what differs between profiles).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <optional>
#include <string>

#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/mil/profiles.h"

namespace anetrain::mil {
namespace {

std::string program_text(const std::string& inputs, const std::string& body,
                         const std::string& outputs) {
  return "program(1.3)\n{\n    func main<ios18>(" + inputs + ") {\n" + body + "    } -> (" +
         outputs + ");\n}\n";
}

// The inferred type of the last statement (result `r`, declared with any type), as text.
std::string infer(const std::string& inputs, const std::string& body) {
  const Program p = parse_program(program_text(inputs, body, "r"), "t.mil");
  return print_type(infer_types(p, "t.mil").back());
}

// The checker's message for a program whose last statement is wrong ("" when it passes).
std::string infer_error(const std::string& inputs, const std::string& body) {
  try {
    infer(inputs, body);
  } catch (const MilError& e) {
    return e.what();
  }
  return "";
}

std::string stmt(const std::string& text) { return "        fp16 r = " + text + ";\n"; }

TEST(MilChecker, ElementwiseBroadcasting) {
  EXPECT_EQ(infer("tensor<fp16, [2, 1, 4]> x, tensor<fp16, [3, 1]> y", stmt("add(x = x, y = y)")),
            "tensor<fp16, [2, 3, 4]>");
  EXPECT_EQ(infer("tensor<fp16, [1, 64, 1, 32]> x", stmt("mul(x = x, y = fp16(0.5))")),
            "tensor<fp16, [1, 64, 1, 32]>");
  EXPECT_EQ(infer("tensor<fp32, [5]> x, tensor<fp32, [4, 1]> y", stmt("real_div(x = x, y = y)")),
            "tensor<fp32, [4, 5]>");
  for (const char* op : {"sub", "pow", "maximum", "minimum"})
    EXPECT_EQ(infer("tensor<fp16, [1, 8]> x, tensor<fp16, [8]> y",
                    stmt(std::string(op) + "(x = x, y = y)")),
              "tensor<fp16, [1, 8]>")
        << op;
  EXPECT_EQ(infer("fp16 x, fp16 y", stmt("add(x = x, y = y)")), "fp16");
  EXPECT_NE(infer_error("tensor<fp16, [2, 3]> x, tensor<fp16, [4]> y", stmt("add(x = x, y = y)"))
                .find("t.mil:4:9: op 'r' (add): shapes [2, 3] and [4] do not broadcast"),
            std::string::npos);
  EXPECT_NE(infer_error("tensor<fp16, [2]> x, tensor<fp32, [2]> y", stmt("mul(x = x, y = y)"))
                .find("dtypes differ"),
            std::string::npos);
  EXPECT_NE(infer_error("tensor<int32, [2]> x", stmt("pow(x = x, y = x)")).find("cannot be int32"),
            std::string::npos);
}

TEST(MilChecker, UnaryOps) {
  for (const char* op :
       {"sqrt", "exp", "sigmoid", "tanh", "relu", "silu", "abs", "square", "rsqrt", "log", "gelu"})
    EXPECT_EQ(infer("tensor<fp16, [3, 5]> x", stmt(std::string(op) + "(x = x)")),
              "tensor<fp16, [3, 5]>")
        << op;
  EXPECT_EQ(infer("tensor<fp16, [3]> x", stmt("rsqrt(epsilon = fp16(1e-5), x = x)")),
            "tensor<fp16, [3]>");
  EXPECT_EQ(
      infer("tensor<fp16, [3]> x", stmt("gelu(mode = string(\"TANH_APPROXIMATION\"), x = x)")),
      "tensor<fp16, [3]>");
  EXPECT_NE(infer_error("tensor<fp16, [3]> x", stmt("gelu(mode = string(\"FAST\"), x = x)"))
                .find("mode must be"),
            std::string::npos);
  EXPECT_NE(infer_error("tensor<int32, [3]> x", stmt("exp(x = x)")).find("must be fp16 or fp32"),
            std::string::npos);
  EXPECT_NE(
      infer_error("tensor<fp16, [3]> x", stmt("rsqrt(epsilon = int32(1), x = x)")).find("epsilon"),
      std::string::npos);
}

TEST(MilChecker, Conv) {
  const std::string w =
      "        tensor<fp16, [128, 64, 1, 1]> w = const()[name = string(\"w\"), val = tensor<fp16, "
      "[128, 64, 1, 1]>("
      "BLOBFILE(path = string(\"@model_path/weights/w.bin\"), offset = uint64(64)))];\n";
  EXPECT_EQ(infer("tensor<fp16, [1, 64, 1, 256]> x", w + stmt("conv(weight = w, x = x)")),
            "tensor<fp16, [1, 128, 1, 256]>");
  EXPECT_EQ(infer("tensor<fp16, [1, 64, 1, 256]> x",
                  w + stmt("conv(dilations = tensor<int32, [2]>([1, 1]), groups = int32(1), pad = "
                           "tensor<int32, [4]>([0, 0, 0, 0]), "
                           "pad_type = string(\"valid\"), strides = tensor<int32, [2]>([1, 1]), "
                           "weight = w, x = x)")),
            "tensor<fp16, [1, 128, 1, 256]>");
  // Spatial kernels, strides, padding, dilation and groups.
  const std::string k3 =
      "        tensor<fp16, [8, 2, 3, 3]> k = const()[name = string(\"k\"), val = tensor<fp16, [8, "
      "2, 3, 3]>("
      "BLOBFILE(path = string(\"@model_path/weights/w.bin\"), offset = uint64(64)))];\n";
  const std::string x = "tensor<fp16, [2, 4, 10, 9]> x";
  EXPECT_EQ(infer(x, k3 + stmt("conv(groups = int32(2), weight = k, x = x)")),
            "tensor<fp16, [2, 8, 8, 7]>");
  EXPECT_EQ(infer(x, k3 + stmt("conv(groups = int32(2), strides = tensor<int32, [2]>([2, 2]), "
                               "weight = k, x = x)")),
            "tensor<fp16, [2, 8, 4, 4]>");
  EXPECT_EQ(infer(x, k3 + stmt("conv(groups = int32(2), pad_type = string(\"same\"), strides = "
                               "tensor<int32, [2]>([2, 2]), weight = k, x = x)")),
            "tensor<fp16, [2, 8, 5, 5]>");
  EXPECT_EQ(infer(x, k3 + stmt("conv(groups = int32(2), pad_type = string(\"custom\"), pad = "
                               "tensor<int32, [4]>([1, 1, 2, 0]), weight = k, x = x)")),
            "tensor<fp16, [2, 8, 10, 9]>");
  EXPECT_EQ(infer(x, k3 + stmt("conv(dilations = tensor<int32, [2]>([2, 3]), groups = int32(2), "
                               "weight = k, x = x)")),
            "tensor<fp16, [2, 8, 6, 3]>");
  EXPECT_NE(infer_error(x, k3 + stmt("conv(weight = k, x = x)"))
                .find("expects 2 input channels per group but x has 4"),
            std::string::npos);
  EXPECT_NE(infer_error("tensor<fp16, [1, 64, 256]> x", w + stmt("conv(weight = w, x = x)"))
                .find("rank of x"),
            std::string::npos);
  EXPECT_NE(infer_error("tensor<fp16, [1, 64, 1, 256]> x",
                        w + stmt("conv(pad_type = string(\"full\"), weight = w, x = x)"))
                .find("pad_type"),
            std::string::npos);
  EXPECT_NE(infer_error("tensor<fp16, [1, 64, 1, 256]> x",
                        w + stmt("conv(strides = tensor<int32, [1]>([1]), weight = w, x = x)"))
                .find("'strides' must have 2 entries"),
            std::string::npos);
}

TEST(MilChecker, MatmulTransposesAndBatchBroadcast) {
  EXPECT_EQ(infer("tensor<fp16, [2, 3]> x, tensor<fp16, [3, 4]> y", stmt("matmul(x = x, y = y)")),
            "tensor<fp16, [2, 4]>");
  EXPECT_EQ(infer("tensor<fp16, [3, 2]> x, tensor<fp16, [3, 4]> y",
                  stmt("matmul(transpose_x = bool(true), x = x, y = y)")),
            "tensor<fp16, [2, 4]>");
  EXPECT_EQ(infer("tensor<fp16, [2, 3]> x, tensor<fp16, [4, 3]> y",
                  stmt("matmul(transpose_y = bool(true), x = x, y = y)")),
            "tensor<fp16, [2, 4]>");
  EXPECT_EQ(infer("tensor<fp16, [3, 2]> x, tensor<fp16, [4, 3]> y",
                  stmt("matmul(transpose_x = bool(true), transpose_y = bool(true), x = x, y = y)")),
            "tensor<fp16, [2, 4]>");
  EXPECT_EQ(
      infer("tensor<fp16, [1, 12, 64, 256]> x, tensor<fp16, [1, 12, 64, 256]> y",
            stmt("matmul(transpose_x = bool(true), transpose_y = bool(false), x = x, y = y)")),
      "tensor<fp16, [1, 12, 256, 256]>");
  EXPECT_EQ(infer("tensor<fp16, [5, 1, 2, 3]> x, tensor<fp16, [4, 3, 6]> y",
                  stmt("matmul(x = x, y = y)")),
            "tensor<fp16, [5, 4, 2, 6]>");
  EXPECT_EQ(infer("tensor<fp16, [3]> x, tensor<fp16, [2, 3, 4]> y", stmt("matmul(x = x, y = y)")),
            "tensor<fp16, [2, 4]>");
  EXPECT_EQ(infer("tensor<fp16, [2, 3]> x, tensor<fp16, [3]> y", stmt("matmul(x = x, y = y)")),
            "tensor<fp16, [2]>");
  EXPECT_NE(
      infer_error("tensor<fp16, [2, 3]> x, tensor<fp16, [4, 3]> y", stmt("matmul(x = x, y = y)"))
          .find("inner dimensions differ"),
      std::string::npos);
  EXPECT_NE(infer_error("tensor<fp16, [2, 2, 3]> x, tensor<fp16, [3, 3, 4]> y",
                        stmt("matmul(x = x, y = y)"))
                .find("do not broadcast"),
            std::string::npos);
  EXPECT_NE(infer_error("tensor<fp16, [2, 3]> x, tensor<fp16, [3, 4]> y",
                        stmt("matmul(transpose_x = int32(1), x = x, y = y)"))
                .find("'transpose_x' must be a bool scalar constant"),
            std::string::npos);
}

TEST(MilChecker, LinearSoftmaxCast) {
  const std::string w =
      "        tensor<fp16, [6, 4]> w = const()[name = string(\"w\"), val = tensor<fp16, [6, 4]>("
      "BLOBFILE(path = string(\"@model_path/weights/w.bin\"), offset = uint64(64)))];\n";
  EXPECT_EQ(infer("tensor<fp16, [2, 3, 4]> x", w + stmt("linear(weight = w, x = x)")),
            "tensor<fp16, [2, 3, 6]>");
  EXPECT_EQ(infer("tensor<fp16, [2, 3]> x", stmt("softmax(axis = int32(-1), x = x)")),
            "tensor<fp16, [2, 3]>");
  EXPECT_EQ(infer("tensor<fp16, [2, 3]> x", stmt("softmax(x = x)")), "tensor<fp16, [2, 3]>");
  EXPECT_NE(infer_error("tensor<fp16, [2, 3]> x", stmt("softmax(axis = int32(2), x = x)"))
                .find("axis 2 is out of range for rank 2"),
            std::string::npos);
  EXPECT_EQ(infer("tensor<fp16, [2, 3]> x", stmt("cast(dtype = string(\"fp32\"), x = x)")),
            "tensor<fp32, [2, 3]>");
  EXPECT_EQ(infer("tensor<fp32, [2]> x", stmt("cast(dtype = string(\"int32\"), x = x)")),
            "tensor<int32, [2]>");
  EXPECT_NE(infer_error("tensor<fp16, [2]> x", stmt("cast(dtype = string(\"fp64\"), x = x)"))
                .find("dtype must be"),
            std::string::npos);
  // A string argument may come from a const, as the ios16 converters write it.
  EXPECT_EQ(infer("tensor<fp16, [2]> x",
                  "        string d = const()[name = string(\"d\"), val = string(\"fp32\")];\n" +
                      stmt("cast(dtype = d, x = x)")),
            "tensor<fp32, [2]>");
}

TEST(MilChecker, Reductions) {
  const std::string x = "tensor<fp16, [2, 3, 4]> x";
  EXPECT_EQ(
      infer(x, stmt("reduce_sum(axes = tensor<int32, [1]>([1]), keep_dims = bool(true), x = x)")),
      "tensor<fp16, [2, 1, 4]>");
  EXPECT_EQ(
      infer(x,
            stmt("reduce_sum(axes = tensor<int32, [2]>([0, -1]), keep_dims = bool(false), x = x)")),
      "tensor<fp16, [3]>");
  EXPECT_EQ(infer(x, stmt("reduce_max(axes = tensor<int32, [1]>([2]), x = x)")),
            "tensor<fp16, [2, 3]>");
  EXPECT_EQ(infer(x, stmt("reduce_mean(x = x)")), "fp16");
  EXPECT_EQ(infer(x, stmt("reduce_min(keep_dims = bool(true), x = x)")), "tensor<fp16, [1, 1, 1]>");
  EXPECT_NE(infer_error(x, stmt("reduce_sum(axes = tensor<int32, [1]>([3]), x = x)"))
                .find("axes 3 is out of range"),
            std::string::npos);
  EXPECT_NE(infer_error(x, stmt("reduce_sum(axes = tensor<int32, [2]>([1, -2]), x = x)"))
                .find("appears twice"),
            std::string::npos);
  // axes must be an int32 tensor constant: not a scalar, not fp16, not a computed value.
  EXPECT_NE(infer_error(x, stmt("reduce_sum(axes = int32(1), x = x)"))
                .find("'axes' must be an int32 tensor constant"),
            std::string::npos);
  EXPECT_NE(infer_error(x, stmt("reduce_sum(axes = tensor<fp16, [1]>([1.0]), x = x)"))
                .find("must be an int32 tensor constant"),
            std::string::npos);
  EXPECT_NE(infer_error("tensor<int32, [1]> a, " + x, stmt("reduce_sum(axes = a, x = x)"))
                .find("must be a constant"),
            std::string::npos);
}

TEST(MilChecker, ReshapeTransposeSqueezeExpand) {
  const std::string x = "tensor<fp16, [1, 768, 1, 256]> x";
  EXPECT_EQ(infer(x, stmt("reshape(shape = tensor<int32, [4]>([1, 12, 64, 256]), x = x)")),
            "tensor<fp16, [1, 12, 64, 256]>");
  EXPECT_EQ(infer(x, stmt("reshape(shape = tensor<int32, [3]>([12, -1, 256]), x = x)")),
            "tensor<fp16, [12, 64, 256]>");
  EXPECT_EQ(infer(x, stmt("reshape(shape = tensor<int32, [3]>([0, 0, -1]), x = x)")),
            "tensor<fp16, [1, 768, 256]>");
  EXPECT_NE(infer_error(x, stmt("reshape(shape = tensor<int32, [2]>([768, 255]), x = x)"))
                .find("holds 195840 elements but x"),
            std::string::npos);
  EXPECT_NE(infer_error(x, stmt("reshape(shape = tensor<int32, [2]>([-1, -1]), x = x)"))
                .find("more than one -1"),
            std::string::npos);
  EXPECT_EQ(infer(x, stmt("transpose(perm = tensor<int32, [4]>([0, 3, 2, 1]), x = x)")),
            "tensor<fp16, [1, 256, 1, 768]>");
  EXPECT_NE(infer_error(x, stmt("transpose(perm = tensor<int32, [4]>([0, 1, 1, 2]), x = x)"))
                .find("not a permutation"),
            std::string::npos);
  EXPECT_NE(infer_error(x, stmt("transpose(perm = tensor<int32, [3]>([0, 1, 2]), x = x)"))
                .find("must have 4 entries"),
            std::string::npos);
  EXPECT_EQ(infer(x, stmt("squeeze(x = x)")), "tensor<fp16, [768, 256]>");
  EXPECT_EQ(infer(x, stmt("squeeze(axes = tensor<int32, [1]>([-2]), x = x)")),
            "tensor<fp16, [1, 768, 256]>");
  EXPECT_NE(infer_error(x, stmt("squeeze(axes = tensor<int32, [1]>([1]), x = x)"))
                .find("has size 768, not 1"),
            std::string::npos);
  EXPECT_EQ(infer("tensor<fp16, [3, 4]> x",
                  stmt("expand_dims(axes = tensor<int32, [2]>([0, -1]), x = x)")),
            "tensor<fp16, [1, 3, 4, 1]>");
}

TEST(MilChecker, Slices) {
  const std::string x = "tensor<fp16, [1, 64, 1, 256]> x";
  EXPECT_EQ(infer(x, stmt("slice_by_size(begin = tensor<int32, [4]>([0, 16, 0, 128]), size = "
                          "tensor<int32, [4]>([1, 32, 1, -1]), x = x)")),
            "tensor<fp16, [1, 32, 1, 128]>");
  EXPECT_NE(infer_error(x, stmt("slice_by_size(begin = tensor<int32, [4]>([0, 48, 0, 0]), size = "
                                "tensor<int32, [4]>([1, 32, 1, 1]), x = x)"))
                .find("out of range for axis 1"),
            std::string::npos);
  EXPECT_EQ(infer(x, stmt("slice_by_index(begin = tensor<int32, [4]>([0, 0, 0, 10]), end = "
                          "tensor<int32, [4]>([1, 64, 1, 20]), x = x)")),
            "tensor<fp16, [1, 64, 1, 10]>");
  EXPECT_EQ(infer(x, stmt("slice_by_index(begin = tensor<int32, [4]>([0, 0, 0, 0]), end = "
                          "tensor<int32, [4]>([1, -1, 1, 0]), "
                          "stride = tensor<int32, [4]>([1, 2, 1, 3]), end_mask = tensor<bool, "
                          "[4]>([false, false, false, true]), x = x)")),
            "tensor<fp16, [1, 32, 1, 86]>");
  EXPECT_EQ(infer(x, stmt("slice_by_index(begin = tensor<int32, [4]>([0, 0, 0, 5]), end = "
                          "tensor<int32, [4]>([1, 64, 1, 6]), "
                          "squeeze_mask = tensor<bool, [4]>([true, false, true, true]), x = x)")),
            "tensor<fp16, [64]>");
  EXPECT_EQ(
      infer("tensor<fp16, [10]> x",
            stmt("slice_by_index(begin = tensor<int32, [1]>([0]), end = tensor<int32, [1]>([0]), "
                 "stride = tensor<int32, [1]>([-1]), begin_mask = tensor<bool, [1]>([true]), "
                 "end_mask = tensor<bool, [1]>([true]), x = x)")),
      "tensor<fp16, [10]>");
}

TEST(MilChecker, Concat) {
  const std::string ins = "tensor<fp16, [1, 64, 1, 32]> a, tensor<fp16, [1, 64, 1, 96]> b";
  EXPECT_EQ(infer(ins, stmt("concat(axis = int32(3), interleave = bool(false), values = (a, b))")),
            "tensor<fp16, [1, 64, 1, 128]>");
  EXPECT_EQ(infer(ins, stmt("concat(axis = int32(-1), values = (a, b, a))")),
            "tensor<fp16, [1, 64, 1, 160]>");
  EXPECT_EQ(infer(ins, stmt("concat(axis = int32(1), interleave = bool(true), values = (a, a))")),
            "tensor<fp16, [1, 128, 1, 32]>");
  EXPECT_NE(infer_error(ins, stmt("concat(axis = int32(1), values = (a, b))"))
                .find("does not concatenate"),
            std::string::npos);
  EXPECT_NE(
      infer_error(ins, stmt("concat(axis = int32(3), interleave = bool(true), values = (a, b))"))
          .find("interleave needs equal shapes"),
      std::string::npos);
  EXPECT_NE(infer_error(ins, stmt("concat(axis = int32(3), values = a)")).find("must be a list"),
            std::string::npos);
  EXPECT_NE(infer_error(ins, stmt("concat(values = (a, b))")).find("missing argument 'axis'"),
            std::string::npos);
}

TEST(MilChecker, Tile) {
  const std::string x = "tensor<fp16, [1, 64, 1, 32]> x";
  EXPECT_EQ(infer(x, stmt("tile(reps = tensor<int32, [4]>([1, 1, 1, 2]), x = x)")),
            "tensor<fp16, [1, 64, 1, 64]>");
  EXPECT_EQ(infer("tensor<fp32, [2, 3]> x", stmt("tile(reps = tensor<int32, [2]>([3, 2]), x = x)")),
            "tensor<fp32, [6, 6]>");
  EXPECT_EQ(infer("tensor<int32, [2]> x", stmt("tile(reps = tensor<int32, [1]>([4]), x = x)")),
            "tensor<int32, [8]>");
  // reps: one int32 entry >= 1 per axis of x, known when the program is compiled; the result
  // within 2^31 - 1 per axis like any other.
  const std::string k = "tensor<int32, [4]> k, " + x;
  const std::vector<std::array<std::string, 3>> errors = {
      {x, "tile(reps = tensor<int32, [3]>([1, 1, 2]), x = x)", "'reps' must have 4 entries, has 3"},
      {x, "tile(reps = tensor<int32, [4]>([1, 0, 1, 2]), x = x)",
       "must be >= 1 on every axis (axis 1 is 0)"},
      {x, "tile(reps = tensor<int32, [4]>([1, -2, 1, 2]), x = x)", "axis 1 is -2"},
      {x, "tile(reps = tensor<fp16, [4]>([1, 1, 1, 2]), x = x)",
       "'reps' must be an int32 tensor constant"},
      {k, "tile(reps = k, x = x)", "'reps' must be a constant"},
      {x, "tile(x = x)", "missing argument 'reps'"},
      {"fp16 x", "tile(reps = tensor<int32, [1]>([2]), x = x)", "x must have rank >= 1"},
      {"tensor<fp16, [65536]> x", "tile(reps = tensor<int32, [1]>([65536]), x = x)",
       "outside 0..2^31-1"}};
  for (const auto& [inputs, statement, expected] : errors) {
    const std::string error = infer_error(inputs, stmt(statement));
    EXPECT_NE(error.find(expected), std::string::npos) << statement << ": " << error;
  }
}

TEST(MilChecker, ArgumentAndNameErrorsAreLocated) {
  const std::string x = "tensor<fp16, [4]> x";
  const std::string ok = "        tensor<fp16, [4]> a = exp(x = x)[name = string(\"a\")];\n";
  auto err = [&](const std::string& body, const std::string& outputs = "r") {
    try {
      check_program(parse_program(program_text(x, ok + body, outputs), "m.mil"), "m.mil");
    } catch (const MilError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(err("        tensor<fp16, [4]> r = exp(y = a)[name = string(\"r\")];\n"),
            "m.mil:5:9: op 'r' (exp): unknown argument 'y' (expected x)");
  EXPECT_EQ(err("        tensor<fp16, [4]> r = add(x = a)[name = string(\"r\")];\n"),
            "m.mil:5:9: op 'r' (add): missing argument 'y'");
  EXPECT_EQ(err("        tensor<fp16, [4]> r = const(x = a)[name = string(\"r\"), val = "
                "tensor<fp16, [4]>([1, 2, 3, 4])];\n"),
            "m.mil:5:9: op 'r' (const): unknown argument 'x' (const takes none)");
  EXPECT_EQ(err("        tensor<fp16, [4]> r = mul(x = a, y = a)[name = string(\"r\")];\n", "a"),
            "");
  EXPECT_EQ(err("        tensor<fp16, [4]> r = mul(x = a, y = a)[name = string(\"r\")];\n", ""),
            "m.mil: function 'main' has no outputs");

  // Programs built in memory carry no lines; the message still names the op.
  Program built = parse_program(program_text(x, ok, "a"), "m.mil");
  built.main.ops[0].line = 0;
  built.main.ops[0].args[0].second.ref = "nope";
  try {
    check_program(built, "built");
    ADD_FAILURE() << "no error";
  } catch (const MilError& e) {
    EXPECT_EQ(std::string(e.what()),
              "built: op 'a' (exp): unknown value 'nope' (not defined before use)");
  }
  Program dup = parse_program(program_text(x, ok, "a"), "m.mil");
  dup.main.ops.push_back(dup.main.ops[0]);
  EXPECT_THROW(check_program(dup), MilError);
  Program bad_name = parse_program(program_text(x, ok, "a"), "m.mil");
  bad_name.main.ops[0].result = "a b";
  bad_name.main.outputs = {"a b"};
  EXPECT_THROW(check_program(bad_name), MilError);
  Program short_literal = parse_program(program_text(x, ok, "a"), "m.mil");
  Literal l;
  l.type = {DType::kInt32, {3}};
  l.numbers = {1, 2};
  short_literal.main.ops[0].args.push_back({"axes", Arg::lit(l)});
  short_literal.main.ops[0].op = "reduce_sum";
  try {
    check_program(short_literal);
    ADD_FAILURE() << "no error";
  } catch (const MilError& e) {
    EXPECT_NE(std::string(e.what()).find("needs 3 values, has 2"), std::string::npos) << e.what();
  }
}

TEST(MilChecker, KnowsTheOpsItDocuments) {
  const auto& ops = checked_ops();
  EXPECT_TRUE(std::is_sorted(ops.begin(), ops.end()));
  for (const char* op : {"const",     "conv",          "matmul",         "add",
                         "sub",       "mul",           "real_div",       "pow",
                         "maximum",   "minimum",       "rsqrt",          "sqrt",
                         "exp",       "log",           "sigmoid",        "silu",
                         "softmax",   "reduce_sum",    "reduce_max",     "reshape",
                         "transpose", "slice_by_size", "slice_by_index", "concat",
                         "cast",      "expand_dims",   "squeeze",        "tile"})
    EXPECT_TRUE(std::binary_search(ops.begin(), ops.end(), op)) << op;
}

// ---- lint ----

const char* kWeight =
    "        tensor<fp16, [128, 64, 1, 1]> w = const()[name = string(\"w\"), val = tensor<fp16, "
    "[128, 64, 1, 1]>("
    "BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(64)))];\n";

// A kernel every profile accepts without errors: one fp16 [1, C, 1, S] input with S a multiple
// of 32, a 1x1 conv with a BLOBFILE weight, one output.
std::string good_kernel() {
  return program_text("tensor<fp16, [1, 64, 1, 32]> x",
                      std::string(kWeight) +
                          "        tensor<fp16, [1, 128, 1, 32]> y = conv(weight = w, x = x)[name "
                          "= string(\"y\")];\n",
                      "y");
}

std::vector<LintIssue> lint(const std::string& source, const std::string& profile) {
  const Program p = parse_program(source, "k.mil");
  check_program(p, "k.mil");  // every lint fixture is well typed: lint is about hardware only
  return lint_program(p, lint_profile(profile));
}

// A copy, so that callers may pass a temporary list.
std::optional<LintIssue> find_rule(const std::vector<LintIssue>& issues, const std::string& rule) {
  for (const LintIssue& i : issues)
    if (i.rule == rule) return i;
  return std::nullopt;
}

bool fires(const std::string& source, const std::string& profile, const std::string& rule) {
  return find_rule(lint(source, profile), rule).has_value();
}

// The rules for constructs never seen to run: a warning on every hardware profile, off in
// permissive. Returns the m4-macos15 issue for a look at its message.
LintIssue expect_hardware_warning(const std::string& source, const std::string& rule) {
  for (const char* profile : {"m1-macos15", "m4-macos15", "strict"}) {
    const std::optional<LintIssue> issue = find_rule(lint(source, profile), rule);
    EXPECT_TRUE(issue.has_value()) << rule << " on " << profile;
    if (issue) EXPECT_EQ(issue->severity, LintSeverity::kWarning) << rule << " on " << profile;
  }
  EXPECT_FALSE(fires(source, "permissive", rule)) << rule;
  return find_rule(lint(source, "m4-macos15"), rule).value_or(LintIssue{});
}

void expect_quiet(const std::string& source, const std::string& rule) {
  for (const std::string& profile : lint_profile_names())
    EXPECT_FALSE(fires(source, profile, rule)) << rule << " on " << profile;
}

// x [1, 64, 1, 32] -> `body` (ending in the value y) -> y.
std::string around(const std::string& body) {
  return program_text("tensor<fp16, [1, 64, 1, 32]> x", body, "y");
}

TEST(MilLint, GoodKernelIsCleanOnEveryProfile) {
  for (const std::string& name : lint_profile_names()) {
    const auto issues = lint(good_kernel(), name);
    EXPECT_TRUE(issues.empty()) << name << ": "
                                << (issues.empty() ? "" : format_lint_issue(issues[0], "k.mil"));
  }
}

TEST(MilLint, ProfilesAndUnknownName) {
  EXPECT_EQ(lint_profile("m1-macos15").max_axis, 16384);
  EXPECT_EQ(lint_profile("m4-macos15").max_axis, 65536);
  EXPECT_TRUE(lint_profile("strict").concat_allowed);  // 13 of the seed's hardware-run kernels
  EXPECT_FALSE(lint_profile("strict").multi_io_allowed);
  EXPECT_TRUE(lint_profile("permissive").allowed_ops.count("silu"));
  EXPECT_FALSE(lint_profile("m1-macos15").allowed_ops.count("silu"));
  EXPECT_TRUE(lint_profile("m4-macos15").allowed_ops.count("tile"));  // warned by its own rule
  EXPECT_FALSE(lint_profile("strict").allowed_ops.count("tile"));
  EXPECT_EQ(lint_profile("m1-macos15").surface_budget_bytes, 16 << 20);
  EXPECT_EQ(lint_profile("permissive").surface_budget_bytes, 0);
  try {
    lint_profile("m9");
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown lint profile 'm9' (known: m1-macos15, m4-macos15, permissive, strict)");
  }
}

TEST(MilLint, Fp16Io) {
  const std::string bad = program_text("tensor<fp32, [1, 64, 1, 32]> x",
                                       "        tensor<fp16, [1, 64, 1, 32]> y = cast(dtype = "
                                       "string(\"fp16\"), x = x)[name = string(\"y\")];\n",
                                       "y");
  const auto issues = lint(bad, "m1-macos15");
  const std::optional<LintIssue> i = find_rule(issues, "io-dtype");
  ASSERT_TRUE(i.has_value());
  // fp32 I/O with casts ran in the seed's benchmarks: a warning on chip profiles, an error in
  // strict.
  EXPECT_EQ(format_lint_issue(*i, "k.mil"),
            "k.mil: warning [io-dtype] input 'x' is tensor<fp32, [1, 64, 1, 32]>; ANE I/O "
            "surfaces are fp16");
  EXPECT_EQ(find_rule(lint(bad, "strict"), "io-dtype")->severity, LintSeverity::kError);
  EXPECT_FALSE(fires(bad, "permissive", "io-dtype"));
  EXPECT_FALSE(fires(good_kernel(), "m1-macos15", "io-dtype"));
}

TEST(MilLint, RankAndAxisLimits) {
  const std::string wide = program_text(
      "tensor<fp16, [1, 32768, 1, 32]> x",
      "        tensor<fp16, [1, 32768, 1, 32]> y = sigmoid(x = x)[name = string(\"y\")];\n", "y");
  EXPECT_TRUE(fires(wide, "m1-macos15", "axis-size"));
  EXPECT_FALSE(fires(wide, "m4-macos15", "axis-size"));
  const std::string wider =
      program_text("tensor<fp16, [1, 64, 1, 32]> x",
                   "        tensor<fp16, [1, 64, 1, 131072]> y = reshape(shape = tensor<int32, "
                   "[4]>([1, 64, 1, 131072]), "
                   "x = tensor<fp16, [1, 64, 1, 131072]>(BLOBFILE(path = "
                   "string(\"@model_path/weights/w.bin\"), offset = uint64(64))))"
                   "[name = string(\"y\")];\n",
                   "x");
  const auto issues = lint(wider, "m4-macos15");
  const std::optional<LintIssue> i = find_rule(issues, "axis-size");
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(i->line, 4);
  EXPECT_EQ(i->op, "y");
  EXPECT_NE(i->message.find("axis 3 is 131072, above the per-axis limit 65536"), std::string::npos)
      << i->message;
  const std::string deep =
      program_text("tensor<fp16, [1, 64, 1, 32]> x",
                   "        tensor<fp16, [1, 2, 32, 1, 32, 1]> y = reshape(shape = tensor<int32, "
                   "[6]>([1, 2, 32, 1, 32, 1]), x = x)"
                   "[name = string(\"y\")];\n",
                   "x");
  EXPECT_TRUE(fires(deep, "m1-macos15", "rank"));
  EXPECT_FALSE(fires(deep, "permissive", "rank"));
  EXPECT_FALSE(fires(good_kernel(), "m1-macos15", "rank"));
  EXPECT_FALSE(fires(good_kernel(), "m1-macos15", "axis-size"));
}

TEST(MilLint, RowAlignmentOfIo) {
  const std::string bad = program_text(
      "tensor<fp16, [1, 64, 1, 100]> x",
      "        tensor<fp16, [1, 64, 1, 100]> y = sigmoid(x = x)[name = string(\"y\")];\n", "y");
  const auto issues = lint(bad, "m1-macos15");
  const std::optional<LintIssue> i = find_rule(issues, "row-align");
  ASSERT_TRUE(i.has_value());
  EXPECT_NE(i->message.find(
                "last axis 100 is 200 bytes, not a multiple of 64 (use a multiple of 32 elements)"),
            std::string::npos)
      << i->message;
  EXPECT_EQ(std::count_if(issues.begin(), issues.end(),
                          [](const LintIssue& x) { return x.rule == "row-align"; }),
            2);  // in and out
  EXPECT_FALSE(fires(bad, "permissive", "row-align"));
}

TEST(MilLint, OpAllowList) {
  const std::string bad = program_text(
      "tensor<fp16, [1, 64, 1, 32]> x",
      "        tensor<fp16, [1, 64, 1, 32]> y = silu(x = x)[name = string(\"y\")];\n", "y");
  const std::optional<LintIssue> i = find_rule(lint(bad, "m1-macos15"), "op-allowed");
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(
      format_lint_issue(*i, "k.mil"),
      "k.mil:4: error [op-allowed] op 'y': op silu is not in profile m1-macos15's allow-list");
  EXPECT_FALSE(fires(bad, "permissive", "op-allowed"));
  const std::string tanh = program_text(
      "tensor<fp16, [1, 64, 1, 32]> x",
      "        tensor<fp16, [1, 64, 1, 32]> y = tanh(x = x)[name = string(\"y\")];\n", "y");
  EXPECT_FALSE(fires(tanh, "m1-macos15", "op-allowed"));
  EXPECT_TRUE(fires(tanh, "strict", "op-allowed"));
}

// concat on axis 1 or the last axis of a rank-4 value without interleave is the form 13 of the
// seed's hardware-run kernels use: no warning anywhere. Every other concat stays contested.
std::string concat_program(const std::string& axis, const std::string& interleave,
                           const std::string& out_type) {
  return around("        " + out_type + " y = concat(axis = int32(" + axis + ")," + interleave +
                " values = (x, x))[name = string(\"y\")];\n");
}

TEST(MilLint, Concat) {
  for (const std::string& seed_form :
       {concat_program("1", "", "tensor<fp16, [1, 128, 1, 32]>"),
        concat_program("3", "", "tensor<fp16, [1, 64, 1, 64]>"),
        concat_program("-1", " interleave = bool(false),", "tensor<fp16, [1, 64, 1, 64]>")})
    expect_quiet(seed_form, "concat");

  const std::string axis2 = concat_program("2", "", "tensor<fp16, [1, 64, 2, 32]>");
  const LintIssue issue = expect_hardware_warning(axis2, "concat");
  EXPECT_EQ(issue.line, 4);
  EXPECT_EQ(issue.message,
            "concat on axis 2 of a rank-4 value is contested: some ANE compilers reject it; the "
            "seed's hardware-run kernels concatenate only on axis 1 or 3 of rank-4 values, "
            "without interleave");
  EXPECT_FALSE(has_lint_errors(lint(axis2, "m1-macos15")));
  EXPECT_FALSE(has_lint_errors(lint(axis2, "strict")));  // the seed ran concat: not refused
  const std::string interleaved =
      concat_program("3", " interleave = bool(true),", "tensor<fp16, [1, 64, 1, 64]>");
  EXPECT_NE(expect_hardware_warning(interleaved, "concat").message.find("with interleave"),
            std::string::npos);
  const std::string rank3 =
      program_text("tensor<fp16, [64, 1, 32]> x",
                   "        tensor<fp16, [128, 1, 32]> y = concat(axis = int32(0), values = (x, "
                   "x))[name = string(\"y\")];\n",
                   "y");
  EXPECT_TRUE(fires(rank3, "m1-macos15", "concat"));

  // Flags, not code: a profile that refuses concat refuses the seed's form too, and one that
  // does not trust the seed's runs warns about it.
  LintProfile no_concat = lint_profile("strict");
  no_concat.concat_allowed = false;
  const Program seed =
      parse_program(concat_program("1", "", "tensor<fp16, [1, 128, 1, 32]>"), "k.mil");
  EXPECT_EQ(find_rule(lint_program(seed, no_concat), "concat")->severity, LintSeverity::kError);
  LintProfile untrusting = lint_profile("m4-macos15");
  untrusting.concat_seed_form_ran = false;
  EXPECT_EQ(find_rule(lint_program(seed, untrusting), "concat")->severity, LintSeverity::kWarning);
}

// Inputs a and b (declared in that order); outputs p<b> then q<a>, so the outputs are in
// alphabetical order and in descending size exactly when the inputs ascend.
std::string two_io(const std::string& a, int64_t sa, const std::string& b, int64_t sb) {
  auto t = [](int64_t s) { return "tensor<fp16, [1, 64, 1, " + std::to_string(s) + "]>"; };
  return program_text(t(sa) + " " + a + ", " + t(sb) + " " + b,
                      "        " + t(sb) + " p" + b + " = sigmoid(x = " + b +
                          ")[name = string(\"p" + b + "\")];\n" + "        " + t(sa) + " q" + a +
                          " = sigmoid(x = " + a + ")[name = string(\"q" + a + "\")];\n",
                      "p" + b + ", q" + a);
}

TEST(MilLint, MultiIoOrdering) {
  const std::string good =
      two_io("a", 32, "b", 64);  // inputs ascending, outputs descending, alphabetical
  for (const char* rule : {"input-order", "output-order", "io-names"})
    EXPECT_FALSE(fires(good, "m1-macos15", rule)) << rule;
  EXPECT_TRUE(fires(good, "strict", "multi-io"));
  EXPECT_FALSE(fires(good, "m1-macos15", "multi-io"));
  EXPECT_FALSE(fires(good_kernel(), "strict", "multi-io"));

  // Equal sizes are contested (one report needs them equal): warnings, not errors.
  const std::string same_size = two_io("a", 32, "b", 32);
  for (const char* rule : {"input-order", "output-order"}) {
    const std::optional<LintIssue> equal = find_rule(lint(same_size, "m1-macos15"), rule);
    ASSERT_TRUE(equal.has_value()) << rule;
    EXPECT_EQ(equal->severity, LintSeverity::kWarning) << rule;
  }
  const std::string descending = two_io("a", 64, "b", 32);
  const std::optional<LintIssue> i = find_rule(lint(descending, "m4-macos15"), "input-order");
  ASSERT_TRUE(i.has_value());
  EXPECT_EQ(i->message,
            "input 'b' (4096 bytes) follows 'a' (8192 bytes): inputs must be declared in strictly "
            "ascending order of size");
  const std::string unsorted = two_io("b", 32, "a", 64);
  EXPECT_TRUE(fires(unsorted, "m1-macos15", "io-names"));
  EXPECT_FALSE(fires(unsorted, "m1-macos15", "input-order"));
  EXPECT_FALSE(fires(unsorted, "permissive", "io-names"));

  // The single-source "all inputs equal" rule, in a custom profile.
  LintProfile equal = lint_profile("m1-macos15");
  equal.require_ascending_input_sizes = false;
  equal.require_equal_input_sizes = true;
  const Program p = parse_program(good, "k.mil");
  EXPECT_TRUE(find_rule(lint_program(p, equal), "input-equal-size").has_value());
  EXPECT_FALSE(find_rule(lint_program(parse_program(same_size, "k.mil"), equal), "input-equal-size")
                   .has_value());
}

TEST(MilLint, Rank4IoInStrict) {
  const std::string flat = program_text(
      "tensor<fp16, [64, 32]> x",
      "        tensor<fp16, [64, 32]> y = sigmoid(x = x)[name = string(\"y\")];\n", "y");
  EXPECT_TRUE(fires(flat, "strict", "io-rank4"));
  EXPECT_FALSE(fires(flat, "m1-macos15", "io-rank4"));
}

TEST(MilLint, ConvRuntimeWeight) {
  const std::string src = program_text(
      "tensor<fp16, [1, 64, 1, 32]> x, tensor<fp16, [128, 64, 1, 1]> w",
      "        tensor<fp16, [1, 128, 1, 32]> y = conv(weight = w, x = x)[name = string(\"y\")];\n",
      "y");
  const std::optional<LintIssue> strict = find_rule(lint(src, "strict"), "conv-runtime-weight");
  ASSERT_TRUE(strict.has_value());
  EXPECT_EQ(strict->severity, LintSeverity::kError);
  const std::optional<LintIssue> m1 = find_rule(lint(src, "m1-macos15"), "conv-runtime-weight");
  ASSERT_TRUE(m1.has_value());
  EXPECT_EQ(m1->severity, LintSeverity::kWarning);
  EXPECT_FALSE(fires(good_kernel(), "strict", "conv-runtime-weight"));
}

TEST(MilLint, BlobfilePathAndOffset) {
  auto with_blob = [](const std::string& path, uint64_t offset) {
    return program_text("tensor<fp16, [1, 64, 1, 32]> x",
                        "        tensor<fp16, [128, 64, 1, 1]> w = const()[name = string(\"w\"), "
                        "val = tensor<fp16, [128, 64, 1, 1]>("
                        "BLOBFILE(path = string(\"" +
                            path + "\"), offset = uint64(" + std::to_string(offset) +
                            ")))];\n"
                            "        tensor<fp16, [1, 128, 1, 32]> y = conv(weight = w, x = "
                            "x)[name = string(\"y\")];\n",
                        "y");
  };
  for (const char* path : {"weights/w.bin", "/tmp/w.bin", "@model_path/w.bin",
                           "@model_path/weights/../../w.bin", "@model_path/weights/"}) {
    EXPECT_TRUE(fires(with_blob(path, 64), "m1-macos15", "blob-path")) << path;
    EXPECT_TRUE(fires(with_blob(path, 64), "permissive", "blob-path")) << path;
  }
  EXPECT_FALSE(
      fires(with_blob("@model_path/weights/layer0/wq.bin", 64), "m1-macos15", "blob-path"));
  EXPECT_TRUE(fires(with_blob("@model_path/weights/w.bin", 0), "m1-macos15", "blob-offset"));
  EXPECT_TRUE(fires(with_blob("@model_path/weights/w.bin", 100), "m1-macos15", "blob-offset"));
  EXPECT_FALSE(fires(with_blob("@model_path/weights/w.bin", 2176), "m1-macos15", "blob-offset"));
}

TEST(MilLint, SramAndFp16RangeWarnings) {
  const std::string big = program_text(
      "tensor<fp16, [1, 4096, 1, 32]> x",
      "        tensor<fp16, [4096, 4096, 1, 1]> w = const()[name = string(\"w\"), val = "
      "tensor<fp16, [4096, 4096, 1, 1]>("
      "BLOBFILE(path = string(\"@model_path/weights/w.bin\"), offset = uint64(64)))];\n"
      "        tensor<fp16, [1, 4096, 1, 32]> y = conv(weight = w, x = x)[name = string(\"y\")];\n"
      "        tensor<fp16, [1, 4096, 1, 32]> z = conv(weight = w, x = y)[name = string(\"z\")];\n",
      "z");
  EXPECT_FALSE(fires(big, "m1-macos15", "sram-weights"));  // 32 MiB exactly, and w is counted once
  const std::string bigger = program_text(
      "tensor<fp16, [1, 4096, 1, 32]> x",
      "        tensor<fp16, [4097, 4096, 1, 1]> w = const()[name = string(\"w\"), val = "
      "tensor<fp16, [4097, 4096, 1, 1]>("
      "BLOBFILE(path = string(\"@model_path/weights/w.bin\"), offset = uint64(64)))];\n"
      "        tensor<fp16, [1, 4097, 1, 32]> y = conv(weight = w, x = x)[name = string(\"y\")];\n",
      "y");
  const std::optional<LintIssue> sram = find_rule(lint(bigger, "m1-macos15"), "sram-weights");
  ASSERT_TRUE(sram.has_value());
  EXPECT_EQ(sram->severity, LintSeverity::kWarning);

  const std::string huge = program_text("tensor<fp16, [1, 64, 1, 32]> x",
                                        "        tensor<fp16, [1, 64, 1, 32]> y = mul(x = x, y = "
                                        "fp16(70000.0))[name = string(\"y\")];\n",
                                        "y");
  const std::optional<LintIssue> range = find_rule(lint(huge, "m1-macos15"), "fp16-range");
  ASSERT_TRUE(range.has_value());
  EXPECT_EQ(range->severity, LintSeverity::kWarning);
  EXPECT_EQ(range->line, 4);
  EXPECT_FALSE(fires(good_kernel(), "m1-macos15", "fp16-range"));
  EXPECT_FALSE(fires(huge, "permissive", "fp16-range"));
}

TEST(MilLint, InlineLiteralsAreWarnedOnHardwareProfiles) {
  const std::string inline_operand =
      program_text("tensor<fp16, [1, 64, 1, 32]> x",
                   "        tensor<fp16, [1, 64, 1, 32]> y = mul(x = x, y = "
                   "fp16(2.0))[name = string(\"y\")];\n",
                   "y");
  for (const char* profile : {"m1-macos15", "m4-macos15", "strict"}) {
    const std::optional<LintIssue> issue =
        find_rule(lint(inline_operand, profile), "inline-literal");
    ASSERT_TRUE(issue.has_value()) << profile;
    EXPECT_EQ(issue->severity, LintSeverity::kWarning);
    EXPECT_EQ(issue->line, 4);
  }
  EXPECT_FALSE(fires(inline_operand, "permissive", "inline-literal"));
  const std::string named =
      program_text("tensor<fp16, [1, 64, 1, 32]> x",
                   "        fp16 two = const()[name = string(\"two\"), val = fp16(2.0)];\n"
                   "        tensor<fp16, [1, 64, 1, 32]> y = mul(x = x, y = "
                   "two)[name = string(\"y\")];\n",
                   "y");
  EXPECT_FALSE(fires(named, "m1-macos15", "inline-literal"));
}

// x of `type` -> sigmoid -> y.
std::string sigmoid_of(const std::string& type) {
  return program_text(type + " x",
                      "        " + type + " y = sigmoid(x = x)[name = string(\"y\")];\n", "y");
}

// x [1, C, 1, S] -> sigmoid -> y.
std::string passthrough(int64_t channels, int64_t width, const std::string& dtype = "fp16") {
  return sigmoid_of("tensor<" + dtype + ", [1, " + std::to_string(channels) + ", 1, " +
                    std::to_string(width) + "]>");
}

// x [1, 64, 1, 32] reshaped to `shape` (as h) and back.
std::string reshaped(const std::string& shape) {
  return around("        tensor<fp16, " + shape + "> h = reshape(shape = tensor<int32, [4]>(" +
                shape +
                "), x = x)[name = string(\"h\")];\n"
                "        tensor<fp16, [1, 64, 1, 32]> y = reshape(shape = tensor<int32, [4]>([1, "
                "64, 1, 32]), x = h)[name = string(\"y\")];\n");
}

TEST(MilLint, Axis0AboveOne) {
  // Heads moved to axis 0 of an intermediate, and an input with axis 0 of 2.
  EXPECT_EQ(
      format_lint_issue(expect_hardware_warning(reshaped("[2, 32, 1, 32]"), "axis0"), "k.mil"),
      "k.mil:4: warning [axis0] op 'h': result tensor<fp16, [2, 32, 1, 32]>: axis 0 is 2, "
      "above 1; programs seen to run keep axis 0 at 1 (heads on axis 1)");
  const std::string batch_input = sigmoid_of("tensor<fp16, [2, 64, 1, 32]>");
  EXPECT_EQ(expect_hardware_warning(batch_input, "axis0").message.rfind("input 'x' ", 0), 0u);
  // The seed's form: heads on axis 1. Conv weights ([OC, IC, 1, 1] consts) are not values of
  // the [1, C, 1, S] layout and are not checked.
  expect_quiet(reshaped("[1, 2, 32, 32]"), "axis0");
  expect_quiet(good_kernel(), "axis0");
  // Rank 3 is not the surface layout: not checked.
  expect_quiet(sigmoid_of("tensor<fp16, [2, 64, 32]>"), "axis0");
}

// A slice of the function input w [1, 64, 1, 128] (a dynamic weight surface).
std::string input_slice(const std::string& statement) {
  return program_text("tensor<fp16, [1, 64, 1, 128]> w",
                      "        tensor<int32, [4]> b = const()[name = string(\"b\"), val = "
                      "tensor<int32, [4]>([0, 0, 0, 65])];\n"
                      "        tensor<int32, [4]> b64 = const()[name = string(\"b64\"), val = "
                      "tensor<int32, [4]>([0, 0, 0, 64])];\n"
                      "        tensor<int32, [4]> n = const()[name = string(\"n\"), val = "
                      "tensor<int32, [4]>([1, 64, 1, 32])];\n"
                      "        tensor<fp16, [1, 64, 1, 32]> y = " +
                          statement + "[name = string(\"y\")];\n",
                      "y");
}

TEST(MilLint, SliceOfAnInputStartsAligned) {
  const LintIssue by_size = expect_hardware_warning(
      input_slice("slice_by_size(begin = b, size = n, x = w)"), "slice-align");
  EXPECT_EQ(by_size.line, 7);
  EXPECT_EQ(by_size.op, "y");
  EXPECT_EQ(by_size.message,
            "slice_by_size of input 'w' begins at element 65 of its last axis, not a multiple of "
            "32 (64 bytes of fp16); the seed's weight blocks start at multiples of the sequence "
            "length");
  expect_quiet(input_slice("slice_by_size(begin = b64, size = n, x = w)"), "slice-align");
  expect_hardware_warning(
      input_slice("slice_by_index(begin = b, end = tensor<int32, [4]>([1, 64, 1, 97]), x = w)"),
      "slice-align");
  expect_quiet(
      input_slice("slice_by_index(begin = b64, end = tensor<int32, [4]>([1, 64, 1, 96]), x = w)"),
      "slice-align");
  // Negative begins count from the end (128 - 64 = 64); a begin_mask reads from column 0.
  expect_quiet(input_slice("slice_by_size(begin = tensor<int32, [4]>([0, 0, 0, -64]), size = n, "
                           "x = w)"),
               "slice-align");
  expect_hardware_warning(input_slice("slice_by_size(begin = tensor<int32, [4]>([0, 0, 0, -63]), "
                                      "size = tensor<int32, [4]>([1, 64, 1, 32]), x = w)"),
                          "slice-align");
  expect_quiet(input_slice("slice_by_index(begin = b, begin_mask = tensor<bool, [4]>([false, "
                           "false, false, true]), end = tensor<int32, [4]>([1, 64, 1, 32]), x = "
                           "w)"),
               "slice-align");
  // Slices of intermediate values are not checked: the seed's RoPE slices column 1 of one.
  const std::string intermediate = program_text(
      "tensor<fp16, [1, 64, 1, 128]> w",
      "        tensor<fp16, [1, 64, 1, 128]> s = sigmoid(x = w)[name = string(\"s\")];\n"
      "        tensor<fp16, [1, 64, 1, 32]> y = slice_by_size(begin = tensor<int32, [4]>([0, 0, 0, "
      "1]), size = tensor<int32, [4]>([1, 64, 1, 32]), x = s)[name = string(\"y\")];\n",
      "y");
  expect_quiet(intermediate, "slice-align");
}

TEST(MilLint, SurfaceBudget) {
  // 4096 x 2080 fp16 = 16.25 MB, input and output; 4096 x 2048 = 16 MB exactly is within.
  const std::string big = passthrough(4096, 2080);
  const LintIssue issue = expect_hardware_warning(big, "surface-budget");
  EXPECT_EQ(issue.message,
            "input 'x' tensor<fp16, [1, 4096, 1, 2080]> is 16.25 MB (17039360 bytes), above the "
            "surface budget of 16 MB (the seed's largest surface is ~11 MB; on-chip SRAM ~32 MB)");
  const auto issues = lint(big, "m1-macos15");
  EXPECT_EQ(std::count_if(issues.begin(), issues.end(),
                          [](const LintIssue& i) { return i.rule == "surface-budget"; }),
            2);  // in and out
  expect_quiet(passthrough(4096, 2048), "surface-budget");
  // The budget is a field: raised, or 0 to turn the rule off.
  const Program p = parse_program(big, "k.mil");
  LintProfile profile = lint_profile("m4-macos15");
  profile.surface_budget_bytes = int64_t{32} << 20;
  EXPECT_FALSE(find_rule(lint_program(p, profile), "surface-budget").has_value());
  profile.surface_budget_bytes = 0;
  EXPECT_FALSE(find_rule(lint_program(p, profile), "surface-budget").has_value());
}

TEST(MilLint, IoWidthMultipleOf16) {
  // Width 40 (80 bytes) also breaks row-align, an error; width 48 breaks only row-align.
  const LintIssue issue = expect_hardware_warning(passthrough(64, 40), "io-width");
  EXPECT_EQ(issue.message,
            "input 'x' tensor<fp16, [1, 64, 1, 40]>: width (last axis) 40 is not a multiple of 16, "
            "reported as needed to avoid silent corruption");
  expect_quiet(passthrough(64, 48), "io-width");
  // fp32 I/O: 24 columns are 96 bytes, 16 columns 64.
  expect_hardware_warning(passthrough(64, 24, "fp32"), "io-width");
  expect_quiet(passthrough(64, 16, "fp32"), "io-width");
}

std::string matmul_program(const std::string& x_type, const std::string& flags,
                           const std::string& out_type) {
  return program_text(
      x_type + " x",
      "        " + out_type + " y = matmul(" + flags + "x = x, y = x)[name = string(\"y\")];\n",
      "y");
}

TEST(MilLint, MatmulContractionMultipleOf32) {
  // x [.., 32, 48] times its own transpose contracts over 48; [.., 32, 64] over 64.
  const LintIssue issue = expect_hardware_warning(
      matmul_program("tensor<fp16, [1, 2, 32, 48]>", "transpose_y = bool(true), ",
                     "tensor<fp16, [1, 2, 32, 32]>"),
      "matmul-inner");
  EXPECT_EQ(issue.message,
            "matmul contracts over 48 elements, not a multiple of 32, reported as needed to avoid "
            "silent corruption");
  expect_quiet(matmul_program("tensor<fp16, [1, 2, 32, 64]>", "transpose_y = bool(true), ",
                              "tensor<fp16, [1, 2, 32, 32]>"),
               "matmul-inner");
  // transpose_x contracts over x's second-to-last axis: 48 warns, 64 does not, whatever the last.
  expect_hardware_warning(
      matmul_program("tensor<fp16, [1, 2, 48, 64]>", "transpose_x = bool(true), ",
                     "tensor<fp16, [1, 2, 64, 64]>"),
      "matmul-inner");
  expect_quiet(matmul_program("tensor<fp16, [1, 2, 64, 48]>", "transpose_x = bool(true), ",
                              "tensor<fp16, [1, 2, 48, 48]>"),
               "matmul-inner");
}

TEST(MilLint, RsqrtDirectlyAfterAReduction) {
  const std::string reduce =
      "        tensor<fp16, [1, 1, 1, 32]> ss = reduce_sum(axes = tensor<int32, [1]>([1]), "
      "keep_dims = bool(true), x = x)[name = string(\"ss\")];\n";
  const LintIssue issue = expect_hardware_warning(
      around(reduce + "        tensor<fp16, [1, 1, 1, 32]> y = rsqrt(x = ss)[name = "
                      "string(\"y\")];\n"),
      "rsqrt-after-reduction");
  EXPECT_EQ(issue.line, 5);
  EXPECT_EQ(issue.message,
            "rsqrt reads 'ss', the result of reduce_sum, directly: reported to fail to compile "
            "(the seed adds eps and writes pow(x, -0.5))");
  // eps added in between: the reduction no longer feeds rsqrt directly.
  expect_quiet(
      around(reduce + "        tensor<fp16, [1, 1, 1, 32]> e = add(x = ss, y = fp16(0.00001))[name "
                      "= string(\"e\")];\n"
                      "        tensor<fp16, [1, 1, 1, 32]> y = rsqrt(x = e)[name = "
                      "string(\"y\")];\n"),
      "rsqrt-after-reduction");
}

TEST(MilLint, Tile) {
  const std::string tiled = around(
      "        tensor<fp16, [1, 64, 1, 64]> y = tile(reps = tensor<int32, [4]>([1, 1, 1, 2]), x = "
      "x)[name = string(\"y\")];\n");
  const LintIssue issue = expect_hardware_warning(tiled, "tile");
  EXPECT_EQ(format_lint_issue(issue, "k.mil"),
            "k.mil:4: warning [tile] op 'y': op tile was never seen to run on the ANE (no program "
            "that ran uses it)");
  // Allowed on the chip profiles (the warning is all), outside strict's seed ops.
  EXPECT_FALSE(has_lint_errors(lint(tiled, "m1-macos15")));
  EXPECT_FALSE(has_lint_errors(lint(tiled, "m4-macos15")));
  EXPECT_EQ(find_rule(lint(tiled, "strict"), "op-allowed")->severity, LintSeverity::kError);
  EXPECT_TRUE(lint(tiled, "permissive").empty());
  // The same values by concat in the seed's form: no tile, no concat warning.
  const std::string concatenated = concat_program("3", "", "tensor<fp16, [1, 64, 1, 64]>");
  expect_quiet(concatenated, "tile");
  expect_quiet(concatenated, "concat");
}

TEST(MilLint, NeverThrowsOnUncheckedPrograms) {
  // The linter reads declared types only; broken references must not trip it.
  Program p = parse_program(good_kernel(), "k.mil");
  p.main.ops[1].args[0].second.ref = "missing";
  p.main.outputs.push_back("nowhere");
  for (const std::string& name : lint_profile_names())
    EXPECT_NO_THROW(lint_program(p, lint_profile(name)));
}

}  // namespace
}  // namespace anetrain::mil
