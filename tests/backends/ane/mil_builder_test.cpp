// The MIL builder: every op it offers yields the declared type the checker infers, prints to
// text that parses back identically, and computes what the op means in the interpreter
// (here an RMSNorm written two ways, one with rsqrt and real_div, one accumulating in fp32).
#include <gtest/gtest.h>

#include <cmath>

#include "backends/ane/mil/builder.h"
#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/interpreter.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/printer.h"

namespace anetrain::mil {
namespace {

TEST(MilBuilder, EveryOpChecksPrintsParsesAndRuns) {
  std::vector<std::vector<float>> blobs;
  Builder b([&](const std::string&, const std::vector<float>& v) {
    blobs.push_back(v);
    return std::make_pair(std::string("@model_path/weights/weight.bin"),
                          static_cast<uint64_t>(64 * blobs.size()));
  });
  const int64_t C = 4, S = 32;
  Value x = b.input("x", {1, C, 1, S});
  Value w = b.weight("w", {C, C, 1, 1}, std::vector<float>(C * C, 0.25f));
  Value y = b.conv1x1("y", x, w);
  // RMSNorm with rsqrt and real_div.
  Value ss = b.reduce_sum("ss", b.mul("sq", y, y), {1}, true);
  Value ms = b.real_div("ms", ss, b.scalar("c", static_cast<float>(C)));
  Value n1 = b.mul("n1", y, b.rsqrt("r", ms, 1e-5f));
  // The same in fp32 (cast, then back), with pow -0.5.
  Value y32 = b.cast("y32", y, DType::kFp32);
  Value ss32 = b.reduce_sum("ss32", b.mul("sq32", y32, y32), {1}, true);
  Value n2 = b.cast(
      "n2",
      b.mul("n2_32", y32,
            b.cast("p32",
                   b.pow("p",
                         b.cast("ms16",
                                b.real_div("ms32", ss32,
                                           b.cast("c32", b.scalar("c2", static_cast<float>(C)),
                                                  DType::kFp32)),
                                DType::kFp16),
                         b.scalar("mh", -0.5f)),
                   DType::kFp32)),
      DType::kFp16);
  Value t = b.transpose("t", b.reshape("r4", b.sub("d", n1, n2), {1, 1, C, S}), {0, 1, 3, 2});
  Value m = b.matmul("m", t, b.reshape("r5", n1, {1, 1, C, S}), false, false);  // [1,1,S,S]
  Value sm = b.softmax("sm", b.slice_by_size("sl", m, {0, 0, 0, 0}, {1, 1, S, S}), -1);
  b.output(
      b.concat("out", {b.reshape("f", sm, {1, S, 1, S}), b.add("e", b.sigmoid("g", n1), n2)}, 1));
  Program p = b.finish();

  EXPECT_NO_THROW(check_program(p));
  const std::string text = print_program(p);
  EXPECT_EQ(print_program(parse_program(text, "built")), text);

  Interpreter run(p, [&](const std::string&, uint64_t offset, const Type& type) {
    return HostTensor{type, blobs.at(offset / 64 - 1)};
  });
  HostTensor in{{DType::kFp16, {1, C, 1, S}}, std::vector<float>(C * S)};
  for (int64_t i = 0; i < C * S; ++i) in.data[i] = std::sin(0.37 * i);
  const HostTensor out = run.run({{"x", in}})[0];
  ASSERT_EQ(out.type.shape, (std::vector<int64_t>{1, S + C, 1, S}));
  // The two RMSNorms agree to fp16 accuracy, so their difference (t) is ~0 and every softmax
  // row is close to uniform: 1/S.
  for (int64_t i = 0; i < S; ++i) EXPECT_NEAR(out.data[i], 1.0 / S, 2e-3);
}

// Non-tensor operands become named const() values shared between ops, never inline literals
// (the form of every program seen to run on hardware).
TEST(MilBuilder, NamesEveryNonTensorOperandOnce) {
  Builder b([](const std::string&, const std::vector<float>&) {
    return std::make_pair(std::string("@model_path/weights/weight.bin"), uint64_t{64});
  });
  Value x = b.input("x", {1, 4, 1, 32});
  Value s1 = b.reduce_sum("s1", x, {1}, true);
  Value s2 = b.reduce_sum("s2", b.mul("sq", x, x), {1}, true);
  b.output(b.add("out", s1, s2));
  const Program p = b.finish();
  int axes_consts = 0;
  for (const Operation& op : p.main.ops) {
    for (const auto& [name, arg] : op.args)
      EXPECT_NE(arg.kind, Arg::Kind::kLiteral) << op.result << " argument " << name;
    axes_consts += op.op == "const" && op.result.rfind("c_axes", 0) == 0;
  }
  EXPECT_EQ(axes_consts, 1);
  EXPECT_NO_THROW(check_program(p));
}

}  // namespace
}  // namespace anetrain::mil
