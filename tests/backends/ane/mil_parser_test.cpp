// Tests for the MIL parser: print(parse(print(p))) == print(p) for a hand-built program covering
// every literal form; both dialects (ios18 and the older ios16 rank-0-tensor scalars); a realistic
// conv/BLOBFILE kernel; located errors (line and column asserted) for the mistakes people make;
// and robustness: every truncation and many single-byte corruptions of valid programs either
// parse or throw MilError.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/printer.h"

namespace anetrain::mil {
namespace {

Literal numbers(DType dtype, std::vector<int64_t> shape, std::vector<double> values) {
  Literal l;
  l.type = {dtype, std::move(shape)};
  l.numbers = std::move(values);
  return l;
}
Literal text(const std::string& s) {
  Literal l;
  l.type = {DType::kString, {}};
  l.strings = {s};
  return l;
}

Operation make_op(Type type, std::string result, std::string op,
                  std::vector<std::pair<std::string, Arg>> args) {
  Operation o;
  o.type = std::move(type);
  o.result = std::move(result);
  o.op = std::move(op);
  o.args = std::move(args);
  return o;
}

Operation make_const(Type type, std::string result, Literal val) {
  Operation o = make_op(type, std::move(result), "const", {});
  o.val = std::move(val);
  return o;
}

// A well-typed program that uses every literal form the printer can write.
Program sample_program() {
  Program p;
  p.build_info = {{"coremlc-version", "3505.4.1"}, {"quote\"and\\slash", ""}};
  Function& f = p.main;
  f.inputs = {{"x", {DType::kFp16, {1, 64, 1, 32}}}, {"y", {DType::kFp16, {1, 64, 1, 64}}}};
  Literal w;
  w.type = {DType::kFp16, {128, 64, 1, 1}};
  w.is_blob = true;
  w.blob_path = "@model_path/weights/weight.bin";
  w.blob_offset = 18446744073709551552ull;  // exact beyond 2^53: offsets are stored as uint64
  f.ops.push_back(make_const(w.type, "W", w));
  f.ops.push_back(make_op({DType::kFp16, {1, 128, 1, 32}}, "h", "conv",
                          {{"dilations", Arg::lit(numbers(DType::kInt32, {2}, {1, 1}))},
                           {"groups", Arg::lit(numbers(DType::kInt32, {}, {1}))},
                           {"pad", Arg::lit(numbers(DType::kInt32, {4}, {0, 0, 0, 0}))},
                           {"pad_type", Arg::lit(text("valid"))},
                           {"strides", Arg::lit(numbers(DType::kInt32, {2}, {1, 1}))},
                           {"weight", Arg::value("W")},
                           {"x", Arg::value("x")}}));
  f.ops.push_back(make_const({DType::kFp16, {}}, "scale", numbers(DType::kFp16, {}, {-0.125})));
  f.ops.push_back(make_op({DType::kFp16, {1, 128, 1, 32}}, "hs", "mul",
                          {{"x", Arg::value("h")}, {"y", Arg::value("scale")}}));
  f.ops.push_back(
      make_const({DType::kFp16, {2, 3}}, "grid",
                 numbers(DType::kFp16, {2, 3}, {1.5, -2.0, 1e-7, 65504.0, -INFINITY, 0.1})));
  f.ops.push_back(make_const({DType::kBool, {2}}, "flags", numbers(DType::kBool, {2}, {1, 0})));
  f.ops.push_back(
      make_const({DType::kUint64, {}}, "count", numbers(DType::kUint64, {}, {9007199254740992.0})));
  f.ops.push_back(make_const({DType::kFp32, {0}}, "empty", numbers(DType::kFp32, {0}, {})));
  f.ops.push_back(make_const({DType::kString, {}}, "label", text("a \"quoted\" \\ name")));
  f.ops.push_back(make_op({DType::kFp16, {1, 64, 1, 96}}, "cat", "concat",
                          {{"axis", Arg::lit(numbers(DType::kInt32, {}, {-1}))},
                           {"interleave", Arg::lit(numbers(DType::kBool, {}, {0}))},
                           {"values", Arg::refs({"x", "y"})}}));
  f.ops.push_back(make_op({DType::kFp16, {1, 64, 1, 1}}, "red", "reduce_sum",
                          {{"axes", Arg::lit(numbers(DType::kInt32, {1}, {3}))},
                           {"keep_dims", Arg::lit(numbers(DType::kBool, {}, {1}))},
                           {"x", Arg::value("cat")}}));
  f.ops.push_back(make_op(
      {DType::kFp16, {1, 64, 1, 1}}, "inv", "rsqrt",
      {{"epsilon", Arg::lit(numbers(DType::kFp16, {}, {1e-5}))}, {"x", Arg::value("red")}}));
  f.outputs = {"hs", "inv"};
  return p;
}

std::string program_text(const std::string& inputs, const std::string& body,
                         const std::string& outputs) {
  return "program(1.3)\n{\n    func main<ios18>(" + inputs + ") {\n" + body + "    } -> (" +
         outputs + ");\n}\n";
}

// Parses (and checks, when `check`) and returns the error; fails the test when there is none.
MilError error_of(const std::string& source, bool check = false) {
  try {
    Program p = parse_program(source, "model.mil");
    if (check) check_program(p, "model.mil");
  } catch (const MilError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for:\n" << source;
  return MilError("none", 0, 0, "none");
}

void expect_error(const std::string& source, int line, int column, const std::string& fragment,
                  bool check = false) {
  const MilError e = error_of(source, check);
  EXPECT_EQ(e.line(), line) << e.what();
  if (column > 0) {
    EXPECT_EQ(e.column(), column) << e.what();
  }
  EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  EXPECT_EQ(std::string(e.what()).rfind("model.mil:" + std::to_string(line) + ":", 0), 0u)
      << e.what();
}

TEST(MilParser, RoundTripOfHandBuiltProgram) {
  const Program built = sample_program();
  check_program(built);  // the sample is itself well typed
  const std::string printed = print_program(built);
  const Program parsed = parse_program(printed, "sample.mil");
  EXPECT_EQ(print_program(parsed), printed);

  // The structure survives, not only the text.
  EXPECT_EQ(parsed.version, "1.3");
  EXPECT_EQ(parsed.build_info, built.build_info);
  ASSERT_EQ(parsed.main.ops.size(), built.main.ops.size());
  EXPECT_EQ(parsed.main.inputs, built.main.inputs);
  EXPECT_EQ(parsed.main.outputs, built.main.outputs);
  for (size_t i = 0; i < built.main.ops.size(); ++i) {
    EXPECT_EQ(parsed.main.ops[i].type, built.main.ops[i].type) << i;
    EXPECT_EQ(parsed.main.ops[i].result, built.main.ops[i].result);
    EXPECT_EQ(parsed.main.ops[i].op, built.main.ops[i].op);
    EXPECT_EQ(parsed.main.ops[i].line, static_cast<int>(i) + 5);  // header, buildInfo, {, func
    EXPECT_EQ(parsed.main.ops[i].column, 9);
  }
  EXPECT_EQ(parsed.main.ops[0].val.blob_offset, 18446744073709551552ull);
  EXPECT_EQ(parsed.main.ops[0].val.blob_path, "@model_path/weights/weight.bin");
  EXPECT_EQ(parsed.main.ops[8].val.strings.at(0), "a \"quoted\" \\ name");
  const std::vector<double>& grid = parsed.main.ops[4].val.numbers;
  ASSERT_EQ(grid.size(), 6u);
  EXPECT_EQ(grid[2], 1e-7);
  EXPECT_EQ(grid[5], 0.1);
  EXPECT_TRUE(std::isinf(grid[4]) && grid[4] < 0);
  ASSERT_EQ(parsed.main.ops[9].args.at(2).second.kind, Arg::Kind::kList);
  EXPECT_EQ(parsed.main.ops[9].args.at(2).second.list, (std::vector<std::string>{"x", "y"}));
  check_program(parsed, "sample.mil");
}

TEST(MilParser, WhitespaceAndCommentsAreInsignificant) {
  const std::string printed = print_program(sample_program());
  std::string squeezed, spread;
  for (char c : printed) {
    if (c == '\n') continue;
    squeezed += c;
    spread += c;
    if (c == ',' || c == '(' || c == '=') spread += "\n\t  // comment\r\n";
  }
  EXPECT_EQ(print_program(parse_program(squeezed, "squeezed.mil")), printed);
  EXPECT_EQ(print_program(parse_program(spread, "spread.mil")), printed);
}

TEST(MilParser, BuildInfoIsOptional) {
  const Program p = parse_program(program_text("tensor<fp16, [1, 2]> x", "", "x"), "t.mil");
  EXPECT_TRUE(p.build_info.empty());
  EXPECT_EQ(p.main.inputs.size(), 1u);
  EXPECT_EQ(p.main.outputs, std::vector<std::string>{"x"});
}

TEST(MilParser, OlderIos16Dialect) {
  const std::string source = R"(program(1.0)
[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{"coremlc-component-MIL", "3304.5.2"}, {"coremltools-version", "7.2"}})]
{
    func main<ios16>(tensor<fp32, [1, 4]> x) {
            tensor<string, []> dt = const()[name = tensor<string, []>("dt"), val = tensor<string, []>("fp16")];
            tensor<fp16, [1, 4]> xh = cast(dtype = dt, x = x)[name = tensor<string, []>("cast_1")];
            tensor<fp16, []> half = const()[name = tensor<string, []>("half"), val = tensor<fp16, []>(0.5)];
            tensor<uint64, []> big = const()[name = tensor<string, []>("big"), val = tensor<uint64, []>(64)];
            tensor<bool, []> yes = const()[name = tensor<string, []>("yes"), val = tensor<bool, []>(true)];
            tensor<bool, []> no = const()[name = tensor<string, []>("no"), val = tensor<bool, []>(false)];
            tensor<fp16, [1, 4]> y = mul(x = xh, y = half)[name = tensor<string, []>("y")];
            tensor<fp16, [4, 4]> w = const()[name = tensor<string, []>("w"), val = tensor<fp16, [4, 4]>(BLOBFILE(path = tensor<string, []>("@model_path/weights/weight.bin"), offset = tensor<uint64, []>(64)))];
            tensor<fp16, [1, 4]> z = matmul(transpose_x = no, transpose_y = yes, x = y, y = w)[name = tensor<string, []>("z")];
    } -> (z);
}
)";
  const Program p = parse_program(source, "old.mil");
  EXPECT_EQ(p.version, "1.0");
  EXPECT_EQ(p.main.opset, "ios16");
  ASSERT_EQ(p.build_info.size(), 2u);
  EXPECT_EQ(p.build_info[0].second, "3304.5.2");
  ASSERT_EQ(p.main.ops.size(), 9u);
  // Rank-0 tensors are scalars in the IR.
  EXPECT_EQ(p.main.ops[0].type, (Type{DType::kString, {}}));
  EXPECT_EQ(p.main.ops[0].val.strings.at(0), "fp16");
  EXPECT_EQ(p.main.ops[2].val.numbers, std::vector<double>{0.5});
  EXPECT_EQ(p.main.ops[3].val.numbers, std::vector<double>{64});
  EXPECT_EQ(p.main.ops[4].val.numbers, std::vector<double>{1});
  EXPECT_EQ(p.main.ops[5].val.numbers, std::vector<double>{0});
  EXPECT_TRUE(p.main.ops[7].val.is_blob);
  EXPECT_EQ(p.main.ops[7].val.blob_offset, 64u);
  check_program(p, "old.mil");
  // It prints in the current dialect, which reads back to the same text.
  const std::string printed = print_program(p);
  EXPECT_NE(printed.find("val = fp16(0.5)"), std::string::npos) << printed;
  EXPECT_NE(printed.find("func main<ios16>(tensor<fp32, [1, 4]> x)"), std::string::npos) << printed;
  EXPECT_EQ(print_program(parse_program(printed, "again.mil")), printed);
}

TEST(MilParser, RealisticConvKernel) {
  // The shape of the seed's kernels (ane.md "MIL text"): a 1x1 conv on [1, C, 1, S] with a
  // BLOBFILE weight, conv parameters as named constants, then an RMSNorm-style tail.
  const std::string source = R"(program(1.3)
[buildInfo = dict<string, string>({{"coremlc-component-MIL", "3510.2.1"}, {"coremlc-version", "3505.4.1"}, {"coremltools-component-milinternal", ""}, {"coremltools-version", "9.0"}})]
{
    func main<ios18>(tensor<fp16, [1, 768, 1, 256]> x) {
        string pt = const()[name = string("pt"), val = string("valid")];
        tensor<int32, [2]> st = const()[name = string("st"), val = tensor<int32, [2]>([1, 1])];
        tensor<int32, [4]> pd = const()[name = string("pd"), val = tensor<int32, [4]>([0, 0, 0, 0])];
        tensor<int32, [2]> dl = const()[name = string("dl"), val = tensor<int32, [2]>([1, 1])];
        int32 gr = const()[name = string("gr"), val = int32(1)];
        tensor<fp16, [2304, 768, 1, 1]> W = const()[name = string("W"), val = tensor<fp16, [2304, 768, 1, 1]>(BLOBFILE(path = string("@model_path/weights/weight.bin"), offset = uint64(64)))];
        tensor<fp16, [1, 2304, 1, 256]> qkv = conv(dilations = dl, groups = gr, pad = pd, pad_type = pt, strides = st, weight = W, x = x)[name = string("qkv")];
        tensor<fp16, [1, 2304, 1, 256]> sq = mul(x = qkv, y = qkv)[name = string("sq")];
        tensor<int32, [1]> ax = const()[name = string("ax"), val = tensor<int32, [1]>([1])];
        bool kd = const()[name = string("kd"), val = bool(true)];
        tensor<fp16, [1, 1, 1, 256]> ss = reduce_sum(axes = ax, keep_dims = kd, x = sq)[name = string("ss")];
        fp16 invd = const()[name = string("invd"), val = fp16(0.000434)];
        tensor<fp16, [1, 1, 1, 256]> ms = mul(x = ss, y = invd)[name = string("ms")];
        fp16 eps = const()[name = string("eps"), val = fp16(1e-05)];
        tensor<fp16, [1, 1, 1, 256]> me = add(x = ms, y = eps)[name = string("me")];
        fp16 nhalf = const()[name = string("nhalf"), val = fp16(-0.5)];
        tensor<fp16, [1, 1, 1, 256]> rr = pow(x = me, y = nhalf)[name = string("rr")];
        tensor<fp16, [1, 2304, 1, 256]> y = mul(x = qkv, y = rr)[name = string("y")];
    } -> (y);
}
)";
  const Program p = parse_program(source, "kernel.mil");
  ASSERT_EQ(p.main.ops.size(), 18u);
  EXPECT_EQ(p.main.ops[6].op, "conv");
  EXPECT_EQ(p.main.ops[6].line, 11);
  EXPECT_EQ(p.build_info.size(), 4u);
  EXPECT_EQ(p.build_info[2].second, "");
  check_program(p, "kernel.mil");
  const std::string printed = print_program(p);
  EXPECT_EQ(print_program(parse_program(printed, "again.mil")), printed);
}

TEST(MilParser, NumberForms) {
  const std::string body =
      "        tensor<fp32, [7]> c = const()[name = string(\"c\"), val = tensor<fp32, [7]>("
      "[1, -2.5, +3e2, .5, 0x1.8p1, -inf, 1E-3])];\n"
      "        tensor<int32, [3]> i = const()[name = string(\"i\"), val = tensor<int32, "
      "[3]>([2147483647, -2147483648, +7])];\n";
  const Program p = parse_program(program_text("tensor<fp16, [1]> x", body, "x"), "n.mil");
  EXPECT_EQ(p.main.ops[0].val.numbers,
            (std::vector<double>{1, -2.5, 300, 0.5, 3, -INFINITY, 1e-3}));
  EXPECT_EQ(p.main.ops[1].val.numbers, (std::vector<double>{2147483647.0, -2147483648.0, 7}));
  const Program q = parse_program(
      program_text("", "        fp16 n = const()[name = string(\"n\"), val = fp16(nan)];\n", "n"),
      "nan.mil");
  EXPECT_TRUE(std::isnan(q.main.ops[0].val.numbers.at(0)));
}

TEST(MilParser, NameAttributeMayDifferFromResult) {
  // coremltools names ops independently of their results ("cast_1" above); the IR keeps the
  // result name, which is what the printer writes back.
  const Program p = parse_program(
      program_text("tensor<fp16, [2]> x",
                   "        tensor<fp16, [2]> y = sigmoid(x = x)[name = string(\"op_7\")];\n", "y"),
      "t.mil");
  EXPECT_EQ(p.main.ops.at(0).result, "y");
}

// ---- located errors ----

TEST(MilParserErrors, UnknownValueNamesOpAndValue) {
  const std::string source =
      program_text("tensor<fp16, [1, 4]> x",
                   "        tensor<fp16, [1, 4]> n = sigmoid(x = x)[name = string(\"n\")];\n"
                   "        tensor<fp16, [1, 4]> q = mul(x = n, y = xn)[name = string(\"q\")];\n",
                   "q");
  expect_error(source, 5, 49, "op 'q': unknown value 'xn' (not defined before use)");
  EXPECT_EQ(error_of(source).detail(), "op 'q': unknown value 'xn' (not defined before use)");
  EXPECT_EQ(std::string(error_of(source).what()),
            "model.mil:5:49: op 'q': unknown value 'xn' (not defined before use)");
}

TEST(MilParserErrors, UseBeforeDefinition) {
  expect_error(
      program_text("tensor<fp16, [4]> x",
                   "        tensor<fp16, [4]> a = add(x = x, y = b)[name = string(\"a\")];\n"
                   "        tensor<fp16, [4]> b = exp(x = x)[name = string(\"b\")];\n",
                   "a"),
      4, 46, "unknown value 'b'");
  // A list argument is checked too.
  expect_error(program_text("tensor<fp16, [4]> x",
                            "        tensor<fp16, [8]> c = concat(axis = int32(0), values = (x, "
                            "ghost))[name = string(\"c\")];\n",
                            "c"),
               4, 68, "op 'c': unknown value 'ghost'");
}

TEST(MilParserErrors, DuplicateName) {
  expect_error(program_text("tensor<fp16, [4]> x",
                            "        tensor<fp16, [4]> a = exp(x = x)[name = string(\"a\")];\n"
                            "        tensor<fp16, [4]> a = exp(x = a)[name = string(\"a\")];\n",
                            "a"),
               5, 27, "op 'a': value 'a' is already defined (line 4)");
  expect_error(program_text("tensor<fp16, [4]> x, tensor<fp16, [4]> x", "", "x"), 3, 61,
               "input 'x' is already defined");
  expect_error(
      program_text("tensor<fp16, [4]> x",
                   "        tensor<fp16, [4]> x = exp(x = x)[name = string(\"x\")];\n", "x"),
      4, 27, "value 'x' is already defined (line 3)");
}

TEST(MilParserErrors, UnknownOpIsLocatedByTheChecker) {
  const std::string source =
      program_text("tensor<fp16, [4]> x",
                   "        tensor<fp16, [4]> a = exp(x = x)[name = string(\"a\")];\n"
                   "        tensor<fp16, [4]> b = frobnicate(x = a)[name = string(\"b\")];\n",
                   "b");
  parse_program(source, "model.mil");  // syntactically fine
  expect_error(source, 5, 9, "op 'b' (frobnicate): unknown op 'frobnicate'", true);
}

TEST(MilParserErrors, TypeMismatchIsLocatedByTheChecker) {
  const std::string source =
      program_text("tensor<fp16, [2, 3]> x, tensor<fp16, [3, 4]> w",
                   "        tensor<fp16, [2, 4]> a = matmul(x = x, y = w)[name = string(\"a\")];\n"
                   "        tensor<fp16, [2, 5]> b = exp(x = a)[name = string(\"b\")];\n",
                   "b");
  expect_error(
      source, 5, 9,
      "op 'b' (exp): declared type tensor<fp16, [2, 5]> but the inputs give tensor<fp16, [2, 4]>",
      true);
  // A const whose val disagrees with its declared type.
  expect_error(program_text("",
                            "\n        tensor<int32, [2]> c = const()[name = string(\"c\"), val = "
                            "tensor<int32, [3]>([1, 2, 3])];\n",
                            "c"),
               5, 9, "declared type tensor<int32, [2]> but the inputs give tensor<int32, [3]>",
               true);
}

TEST(MilParserErrors, UnterminatedString) {
  expect_error(program_text("tensor<fp16, [4]> x",
                            "        tensor<fp16, [4]> a = exp(x = x)[name = string(\"a)];\n", "a"),
               4, 56, "unterminated string");
  expect_error("program(1.3)\n[buildInfo = dict<string, string>({{\"k\", \"v", 2, 42,
               "unterminated string");
}

TEST(MilParserErrors, BadNumbers) {
  const auto with_val = [](const std::string& val) {
    return program_text("", "        fp16 c = const()[name = string(\"c\"), val = " + val + "];\n",
                        "c");
  };
  expect_error(with_val("fp16(1.2.3)"), 4, 57, "bad number '1.2.3'");
  expect_error(with_val("fp16(1e)"), 4, 57, "bad number '1e'");
  expect_error(with_val("fp16(0x1.8)"), 4, 57, "bad number '0x1.8'");
  expect_error(with_val("fp16(1e999)"), 4, 57, "out of range");
  expect_error(with_val("fp16(abc)"), 4, 57, "expected a fp16 number, found 'abc'");
  expect_error(with_val("int32(1.5)"), 4, 58, "bad number '1.5': int32 needs an integer");
  expect_error(with_val("int32(2147483648)"), 4, 58, "int32 value '2147483648' is out of range");
  expect_error(with_val("uint64(-1)"), 4, 59, "uint64 value '-1' is negative");
  expect_error(with_val("uint64(9007199254740993)"), 4, 59, "exceeds 2^53");
  expect_error(with_val("bool(1)"), 4, 57, "expected true or false");
  expect_error(program_text("tensor<fp16, [1.5]> x", "", "x"), 3, 36, "bad dimension '1.5'");
  expect_error(program_text("tensor<fp16, [4294967296]> x", "", "x"), 3, 36, "bad dimension");
  expect_error("program(1.x)\n{}", 1, 9, "program version");
}

TEST(MilParserErrors, MissingSemicolon) {
  // Reported where the ';' belongs: the end of the statement's line, not the next statement.
  expect_error(program_text("tensor<fp16, [4]> x",
                            "        tensor<fp16, [4]> a = exp(x = x)[name = string(\"a\")]\n"
                            "        tensor<fp16, [4]> b = exp(x = a)[name = string(\"b\")];\n",
                            "b"),
               4, 61, "op 'a': expected ';' to end the statement, found 'tensor'");
  // On one line the error points at what came instead.
  expect_error(
      program_text("tensor<fp16, [4]> x",
                   "tensor<fp16, [4]> a = exp(x = x) tensor<fp16, [4]> b = exp(x = a);\n", "b"),
      4, 34, "expected ';' to end the statement");
  expect_error("program(1.3)\n{\n    func main<ios18>(tensor<fp16, [4]> x) {\n    } -> (x)\n}\n", 4,
               13, "expected ';' after the output list");
}

TEST(MilParserErrors, MissingOutputs) {
  expect_error("program(1.3)\n{\n    func main<ios18>(tensor<fp16, [4]> x) {\n    }\n}\n", 4, 6,
               "function 'main': expected '-> (outputs)' after the function body");
  expect_error(program_text("tensor<fp16, [4]> x", "", "y"), 4, 11,
               "function 'main': output 'y' is not defined");
}

TEST(MilParserErrors, OtherSyntaxErrors) {
  const std::string in = "tensor<fp16, [4]> x";
  const std::string ok_stmt = "        tensor<fp16, [4]> a = exp(x = x)[name = string(\"a\")];\n";
  expect_error(program_text("tensor<fp16, [?, 4]> x", "", "x"), 3, 36, "unexpected character '?'");
  expect_error(program_text("tensor<fp16, [n, 4]> x", "", "x"), 3, 36, "dynamic dimension 'n'");
  expect_error(program_text("tensor<int8, [4]> x", "", "x"), 3, 29,
               "dtype 'int8' is not supported");
  expect_error(
      program_text(in, "        tensor<fp16, [4]> a = exp(x = 0.5)[name = string(\"a\")];\n", "a"),
      4, 39, "untyped literal number '0.5'");
  expect_error(
      program_text(
          in, "        tensor<fp16, [4]> a = exp(x = x)[name = string(\"a\"), val = fp16(1.0)];\n",
          "a"),
      4, 62, "attribute 'val' is only valid on const");
  expect_error(program_text(in, "        fp16 a = const()[name = string(\"a\")];\n", "a"), 4, 9,
               "const needs a val attribute");
  expect_error(program_text(in, "        fp16 a = exp(x = x, x = x);\n", "a"), 4, 29,
               "argument 'x' given twice");
  expect_error(program_text(in, "        fp16 a = exp(x = x)[colour = string(\"red\")];\n", "a"), 4,
               29, "unknown attribute 'colour'");
  expect_error(program_text(in,
                            "        tensor<fp16, [2, 2]> c = const()[name = string(\"c\"), val = "
                            "tensor<fp16, [2, 2]>([[1.0, 2.0], [3.0]])];\n",
                            "c"),
               4, 102, "axis 1 of the tensor literal has 1 entries, its type says 2");
  expect_error(program_text(in,
                            "        tensor<fp16, [2]> c = const()[name = string(\"c\"), val = "
                            "tensor<fp16, [2]>([1.0, 2.0, 3.0])];\n",
                            "c"),
               4, 94, "too many entries along axis 0");
  expect_error(
      program_text(
          in, "        string s = const()[name = string(\"s\"), val = string(\"a\\nb\")];\n", "s"),
      4, 63, "unsupported escape");
  expect_error(program_text(in, ok_stmt, "a") + "x", 7, 1,
               "unexpected 'x' after the end of the program");
  expect_error(program_text(in, ok_stmt, "a, a"), 5, 14, "output 'a' is listed twice");
  expect_error(program_text(in, "        fp16 a, fp16 b = split(x = x);\n", "a"), 4, 15,
               "several results are not supported");
  std::string two_funcs = program_text(in, ok_stmt, "a");
  two_funcs.insert(two_funcs.size() - 2, "    func other<ios18>() {\n    } -> ();\n");
  expect_error(two_funcs, 6, 5, "only one function per program");
  expect_error("", 1, 1, "expected 'program' at the start of a MIL program, found end of input");
  expect_error("program(1.3)\n{\n    func main<ios18>(tensor<fp16, [4]> x) {\n" + ok_stmt, 4, 62,
               "expected '}' to close the function body, found end of input");
  expect_error(std::string("program(1.3)\n{\x01}"), 2, 2, "unexpected byte 0x01 outside a string");
}

// ---- robustness ----

void expect_parses_or_mil_error(const std::string& source) {
  try {
    const Program p = parse_program(source, "cut.mil");
    check_program(p, "cut.mil");
  } catch (const MilError&) {
  } catch (const std::exception& e) {
    ADD_FAILURE() << "unexpected exception " << e.what() << " for:\n" << source;
  }
}

TEST(MilParserRobustness, EveryTruncationParsesOrThrowsMilError) {
  for (const std::string& full :
       {print_program(sample_program()),
        program_text("tensor<fp16, [2]> x",
                     "        tensor<fp16, [2]> y = sigmoid(x = x)[name = string(\"y\")];\n",
                     "y")}) {
    int parsed = 0;
    for (size_t n = 0; n <= full.size(); ++n) {
      const std::string cut = full.substr(0, n);
      try {
        parse_program(cut, "cut.mil");
        ++parsed;
      } catch (const MilError& e) {
        EXPECT_GT(e.line(), 0) << e.what();
      }
      expect_parses_or_mil_error(cut);
    }
    EXPECT_GE(parsed, 1);  // at least the complete text (and the one without its final newline)
  }
}

TEST(MilParserRobustness, SingleByteCorruptionsParseOrThrowMilError) {
  const std::string full = print_program(sample_program());
  for (size_t i = 0; i < full.size(); ++i) {
    for (char c : {'\0', '"', '[', '(', '-', '9', 'x', '\xff'}) {
      std::string bad = full;
      bad[i] = c;
      expect_parses_or_mil_error(bad);
    }
  }
}

}  // namespace
}  // namespace anetrain::mil
