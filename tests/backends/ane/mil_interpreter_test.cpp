// Tests of the MIL interpreter (src/backends/ane/mil/interpreter.h): programs are built
// directly as IR, run, and checked op by op against double-precision references within fp16
// tolerance, plus the rounding model's observable consequences, BLOBFILE constants, an
// RMSNorm chain written the way ANE programs write it, error reporting, and speed at
// dim 768 x seq 512.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/ane/mil/fp16_math.h"
#include "backends/ane/mil/interpreter.h"
#include "core/error.h"

namespace anetrain::mil {
namespace {

using Shape = std::vector<int64_t>;

Type f16(Shape shape) { return Type{DType::kFp16, std::move(shape)}; }
Type f32(Shape shape) { return Type{DType::kFp32, std::move(shape)}; }

Literal number_literal(Type type, std::vector<double> values) {
  Literal l;
  l.type = std::move(type);
  l.numbers = std::move(values);
  return l;
}
Arg ints(std::vector<double> values) {
  const auto n = static_cast<int64_t>(values.size());
  return Arg::lit(number_literal(Type{DType::kInt32, {n}}, std::move(values)));
}
Arg int_scalar(int64_t v) { return Arg::lit(number_literal(Type{DType::kInt32, {}}, {double(v)})); }
Arg boolean(bool v) { return Arg::lit(number_literal(Type{DType::kBool, {}}, {v ? 1.0 : 0.0})); }
Arg fp16_scalar(double v) { return Arg::lit(number_literal(f16({}), {v})); }
Arg fp32_scalar(double v) { return Arg::lit(number_literal(f32({}), {v})); }
Arg text(const std::string& s) {
  Literal l;
  l.type = Type{DType::kString, {}};
  l.strings = {s};
  return Arg::lit(l);
}
Arg ref(const std::string& name) { return Arg::value(name); }

// A program under construction; ops are appended in order.
struct Prog {
  Program program;
  Prog& input(const std::string& name, Type type) {
    program.main.inputs.emplace_back(name, std::move(type));
    return *this;
  }
  Prog& op(Type type, const std::string& result, const std::string& name,
           std::vector<std::pair<std::string, Arg>> args) {
    Operation o;
    o.type = std::move(type);
    o.result = result;
    o.op = name;
    o.args = std::move(args);
    program.main.ops.push_back(std::move(o));
    return *this;
  }
  Prog& constant(const std::string& result, Literal val) {
    Operation o;
    o.type = val.type;
    o.result = result;
    o.op = "const";
    o.val = std::move(val);
    program.main.ops.push_back(std::move(o));
    return *this;
  }
  Prog& output(const std::string& name) {
    program.main.outputs.push_back(name);
    return *this;
  }
};

BlobLoader no_blobs() {
  return [](const std::string& path, uint64_t, const Type&) -> HostTensor {
    throw UserError("unexpected blob " + path);
  };
}

HostTensor tensor(Type type, std::vector<float> data) {
  return HostTensor{std::move(type), std::move(data)};
}

// Random fp16 values uniform in [lo, hi].
std::vector<float> random_fp16(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> out(static_cast<size_t>(n));
  for (float& v : out) v = round_fp16(dist(rng));
  return out;
}

std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// One output of a single-output program.
HostTensor run1(const Program& p, std::vector<std::pair<std::string, HostTensor>> inputs,
                BlobLoader blobs = no_blobs()) {
  Interpreter interpreter(p, std::move(blobs));
  std::vector<HostTensor> out = interpreter.run(inputs);
  EXPECT_EQ(out.size(), 1u);
  return out.at(0);
}

// |got - want| within a relative fp16 rounding budget (`ulps` half-ulps of the result) plus
// an absolute floor for accumulated terms near zero.
void expect_close(const std::vector<float>& got, const std::vector<double>& want, double ulps = 1.0,
                  double abs_floor = 1e-6, const std::string& what = "") {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tolerance = ulps * std::ldexp(std::fabs(want[i]), -11) + abs_floor;
    EXPECT_NEAR(got[i], want[i], tolerance) << what << " element " << i;
  }
}

void expect_fp16_values(const std::vector<float>& v) {
  for (float x : v)
    if (!std::isnan(x)) {
      ASSERT_EQ(x, round_fp16(x)) << "value not representable in fp16";
    }
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "(no UserError)";
}

// ---- fp16 conversion -----------------------------------------------------------------------

TEST(MilInterpreterFp16, EveryBitPatternRoundTrips) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = from_fp16_bits(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(from_fp16_bits(to_fp16_bits(f)))) << h;
      continue;
    }
    ASSERT_EQ(to_fp16_bits(f), h) << "bits " << h << " value " << f;
  }
  EXPECT_EQ(from_fp16_bits(0x3c00), 1.0f);
  EXPECT_EQ(from_fp16_bits(0x7bff), 65504.0f);
  EXPECT_EQ(from_fp16_bits(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(from_fp16_bits(0x0400), std::ldexp(1.0f, -14));
  EXPECT_TRUE(std::isinf(from_fp16_bits(0xfc00)) && from_fp16_bits(0xfc00) < 0);
}

TEST(MilInterpreterFp16, RoundsToNearestEvenWithOverflowAndSubnormals) {
  EXPECT_EQ(round_fp16(2049.0f), 2048.0f);  // tie, 2048 has the even mantissa
  EXPECT_EQ(round_fp16(2051.0f), 2052.0f);  // tie, 2052 is even
  EXPECT_EQ(round_fp16(2049.5f), 2050.0f);
  EXPECT_EQ(round_fp16(1.0f + std::ldexp(1.0f, -11)), 1.0f);
  EXPECT_EQ(round_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(round_fp16(65519.0f), 65504.0f);
  EXPECT_TRUE(std::isinf(round_fp16(65520.0f)));
  EXPECT_TRUE(std::isinf(round_fp16(1e5f)));
  EXPECT_EQ(round_fp16(-1e5f), -std::numeric_limits<float>::infinity());
  const float tiny = std::ldexp(1.0f, -24);
  EXPECT_EQ(round_fp16(std::ldexp(1.0f, -25)), 0.0f);  // tie to the even zero
  EXPECT_EQ(round_fp16(std::ldexp(1.0f, -25) * 1.0001f), tiny);
  EXPECT_EQ(round_fp16(1.5f * tiny), 2 * tiny);  // tie to even 2
  EXPECT_EQ(round_fp16(2.5f * tiny), 2 * tiny);
  EXPECT_EQ(round_fp16(0.75f * tiny), tiny);
  EXPECT_EQ(round_fp16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), std::ldexp(1.0f, -14));
  EXPECT_EQ(round_fp16(1e-10f), 0.0f);
  EXPECT_TRUE(std::signbit(round_fp16(-1e-10f)));
  EXPECT_TRUE(std::isnan(round_fp16(std::numeric_limits<float>::quiet_NaN())));
  // Literals arrive as doubles; a plain double->float->fp16 path would round twice here.
  EXPECT_EQ(round_fp16_from_double(2049.0 + std::ldexp(1.0, -20)), 2050.0f);
  EXPECT_EQ(round_fp16_from_double(-2049.0 - std::ldexp(1.0, -20)), -2050.0f);
  EXPECT_EQ(round_fp16_from_double(2049.0), 2048.0f);
  EXPECT_EQ(round_fp16_from_double(0.1), round_fp16(0.1f));
  EXPECT_TRUE(std::isinf(round_fp16_from_double(1e300)));
}

// ---- element-wise ops ----------------------------------------------------------------------

TEST(MilInterpreter, BinaryOpsMatchDoubleReference) {
  struct Case {
    const char* op;
    double (*f)(double, double);
  };
  const Case cases[] = {
      {"add", [](double a, double b) { return a + b; }},
      {"sub", [](double a, double b) { return a - b; }},
      {"mul", [](double a, double b) { return a * b; }},
      {"real_div", [](double a, double b) { return a / b; }},
      {"pow", [](double a, double b) { return std::pow(a, b); }},
      {"maximum", [](double a, double b) { return std::max(a, b); }},
      {"minimum", [](double a, double b) { return std::min(a, b); }},
  };
  const Shape shape{2, 3, 4};
  const std::vector<float> x = random_fp16(24, 1, 0.25f, 4.0f);  // positive: pow stays real
  const std::vector<float> y = random_fp16(24, 2, -2.0f, 2.0f);
  for (const Case& c : cases) {
    Prog p;
    p.input("x", f16(shape))
        .input("y", f16(shape))
        .op(f16(shape), "z", c.op, {{"x", ref("x")}, {"y", ref("y")}})
        .output("z");
    const HostTensor z =
        run1(p.program, {{"x", tensor(f16(shape), x)}, {"y", tensor(f16(shape), y)}});
    EXPECT_EQ(z.type, f16(shape)) << c.op;
    std::vector<double> want;
    for (size_t i = 0; i < x.size(); ++i) want.push_back(c.f(x[i], y[i]));
    expect_close(z.data, want, 1.0, 1e-7, c.op);
    expect_fp16_values(z.data);
  }
}

TEST(MilInterpreter, BroadcastingFollowsNumpy) {
  // [2, 3, 1] + [1, 4] -> [2, 3, 4]
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  const std::vector<float> y = {0.5f, 0.25f, -1, 10};
  Prog p;
  p.input("x", f16({2, 3, 1})).input("y", f16({1, 4}));
  p.op(f16({2, 3, 4}), "z", "add", {{"x", ref("x")}, {"y", ref("y")}});
  // A scalar literal on either side.
  p.op(f16({2, 3, 4}), "h", "mul", {{"x", ref("z")}, {"y", fp16_scalar(0.5)}});
  p.op(f16({2, 3, 4}), "r", "sub", {{"x", fp16_scalar(100)}, {"y", ref("h")}});
  p.output("z").output("r");
  Interpreter interpreter(p.program, no_blobs());
  const auto out =
      interpreter.run({{"x", tensor(f16({2, 3, 1}), x)}, {"y", tensor(f16({1, 4}), y)}});
  ASSERT_EQ(out.size(), 2u);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 4; ++j) {
      EXPECT_EQ(out[0].data[i * 4 + j], x[i] + y[j]);
      EXPECT_EQ(out[1].data[i * 4 + j], round_fp16(100.0f - (x[i] + y[j]) * 0.5f));
    }
  // Middle-axis broadcast against a full tensor: [2, 1, 3] * [2, 4, 3].
  Prog q;
  q.input("a", f16({2, 1, 3})).input("b", f16({2, 4, 3}));
  q.op(f16({2, 4, 3}), "c", "mul", {{"x", ref("a")}, {"y", ref("b")}}).output("c");
  const std::vector<float> a = random_fp16(6, 3), b = random_fp16(24, 4);
  const HostTensor c =
      run1(q.program, {{"a", tensor(f16({2, 1, 3}), a)}, {"b", tensor(f16({2, 4, 3}), b)}});
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k)
        EXPECT_EQ(c.data[(i * 4 + j) * 3 + k], round_fp16(a[i * 3 + k] * b[(i * 4 + j) * 3 + k]));
}

TEST(MilInterpreter, IncompatibleBroadcastIsUserError) {
  Prog p;
  p.input("x", f16({2, 3})).input("y", f16({4}));
  p.op(f16({2, 3}), "z", "add", {{"x", ref("x")}, {"y", ref("y")}}).output("z");
  Interpreter interpreter(p.program, no_blobs());
  const std::string message = error_of([&] {
    interpreter.run({{"x", tensor(f16({2, 3}), std::vector<float>(6))},
                     {"y", tensor(f16({4}), std::vector<float>(4))}});
  });
  EXPECT_NE(message.find("add 'z'"), std::string::npos) << message;
  EXPECT_NE(message.find("broadcast"), std::string::npos) << message;
}

TEST(MilInterpreter, UnaryOpsMatchDoubleReference) {
  const Shape shape{3, 5};
  const std::vector<float> x = random_fp16(15, 5, 0.05f, 6.0f);
  Prog p;
  p.input("x", f16(shape));
  p.op(f16(shape), "rs", "rsqrt", {{"x", ref("x")}, {"epsilon", fp16_scalar(0.5)}});
  p.op(f16(shape), "sq", "sqrt", {{"x", ref("x")}});
  p.op(f16(shape), "ex", "exp", {{"x", ref("x")}});
  p.op(f16(shape), "lg", "log", {{"x", ref("x")}});
  p.op(f16(shape), "sg", "sigmoid", {{"x", ref("x")}});
  p.op(f16(shape), "sgn", "sigmoid", {{"x", ref("lg")}});  // negative inputs too
  p.output("rs").output("sq").output("ex").output("lg").output("sg").output("sgn");
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16(shape), x)}});
  std::vector<double> rs, sq, ex, lg, sg, sgn;
  for (float v : x) {
    rs.push_back(1.0 / std::sqrt(v + 0.5));
    sq.push_back(std::sqrt(v));
    ex.push_back(std::exp(v));
    lg.push_back(std::log(v));
    sg.push_back(1.0 / (1.0 + std::exp(-double(v))));
  }
  for (float v : out[3].data) sgn.push_back(1.0 / (1.0 + std::exp(-double(v))));
  expect_close(out[0].data, rs, 1.0, 1e-7, "rsqrt");
  expect_close(out[1].data, sq, 1.0, 1e-7, "sqrt");
  expect_close(out[2].data, ex, 1.0, 1e-7, "exp");
  expect_close(out[3].data, lg, 1.0, 1e-7, "log");
  expect_close(out[4].data, sg, 1.0, 1e-7, "sigmoid");
  expect_close(out[5].data, sgn, 1.0, 1e-7, "sigmoid of negatives");
}

TEST(MilInterpreter, ActivationsMatchDoubleReference) {
  const Shape shape{4, 8};
  const std::vector<float> x = random_fp16(32, 6, -4.0f, 4.0f);
  Prog p;
  p.input("x", f16(shape));
  for (const char* op : {"tanh", "relu", "silu", "abs", "square"})
    p.op(f16(shape), op, op, {{"x", ref("x")}});
  p.op(f16(shape), "g_default", "gelu", {{"x", ref("x")}});
  for (const char* mode : {"EXACT", "TANH_APPROXIMATION", "SIGMOID_APPROXIMATION"})
    p.op(f16(shape), std::string("g_") + mode, "gelu", {{"x", ref("x")}, {"mode", text(mode)}});
  for (const auto& op : p.program.main.ops) p.output(op.result);
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16(shape), x)}});
  const std::vector<std::function<double(double)>> want = {
      [](double v) { return std::tanh(v); },
      [](double v) { return std::max(v, 0.0); },
      [](double v) { return v / (1.0 + std::exp(-v)); },
      [](double v) { return std::fabs(v); },
      [](double v) { return v * v; },
      [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); },
      [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); },
      [](double v) {
        return 0.5 * v * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
      },
      [](double v) { return v / (1.0 + std::exp(-1.702 * v)); }};
  ASSERT_EQ(out.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    std::vector<double> w;
    for (float v : x) w.push_back(want[i](v));
    expect_close(out[i].data, w, 1.0, 1e-7, p.program.main.ops[i].result);
  }
}

// ---- the rounding model --------------------------------------------------------------------

TEST(MilInterpreter, RoundsEveryFp16ResultAndKeepsFp32AfterCast) {
  Prog p;
  p.input("x", f16({3}));
  // fp16: every add is rounded, so 2048 + 1 ties back to 2048 each time.
  p.op(f16({3}), "a1", "add", {{"x", ref("x")}, {"y", fp16_scalar(1)}});
  p.op(f16({3}), "a2", "add", {{"x", ref("a1")}, {"y", fp16_scalar(1)}});
  // fp32 after cast: no rounding until cast back.
  p.op(f32({3}), "c", "cast", {{"x", ref("x")}, {"dtype", text("fp32")}});
  p.op(f32({3}), "c1", "add", {{"x", ref("c")}, {"y", fp32_scalar(1)}});
  p.op(f32({3}), "c2", "add", {{"x", ref("c1")}, {"y", fp32_scalar(1)}});
  p.op(f32({3}), "c3", "add", {{"x", ref("c2")}, {"y", fp32_scalar(0.25)}});
  p.op(f16({3}), "back", "cast", {{"x", ref("c3")}, {"dtype", text("fp16")}});
  p.output("a1").output("a2").output("c3").output("back");
  Interpreter interpreter(p.program, no_blobs());
  // 2049 is not an fp16 value: the input itself rounds to 2048.
  const auto out = interpreter.run({{"x", tensor(f16({3}), {2048, 2050, 2049})}});
  EXPECT_EQ(out[0].data, (std::vector<float>{2048, 2052, 2048}));  // 2049 -> 2048, 2051 -> 2052
  EXPECT_EQ(out[1].data, (std::vector<float>{2048, 2052, 2048}));  // 2053 -> 2052
  EXPECT_EQ(out[2].type, f32({3}));
  EXPECT_EQ(out[2].data, (std::vector<float>{2050.25f, 2052.25f, 2050.25f}));
  EXPECT_EQ(out[3].data, (std::vector<float>{2050, 2052, 2050}));
}

TEST(MilInterpreter, OverflowBecomesInfWithoutTrapping) {
  Prog p;
  p.input("x", f16({4}));
  p.op(f16({4}), "big", "mul", {{"x", ref("x")}, {"y", fp16_scalar(1000)}});
  p.op(f16({4}), "e", "exp", {{"x", ref("x")}});
  p.op(f16({4}), "nan", "sub", {{"x", ref("big")}, {"y", ref("big")}});
  p.op(f16({4}), "s", "softmax", {{"x", ref("big")}, {"axis", int_scalar(0)}});
  p.op(f16({}), "r", "reduce_sum", {{"x", ref("x")}});
  p.output("big").output("e").output("nan").output("s").output("r");
  Interpreter interpreter(p.program, no_blobs());
  const float inf = std::numeric_limits<float>::infinity();
  const auto out = interpreter.run({{"x", tensor(f16({4}), {100, 12, -100, 1e5f})}});
  EXPECT_EQ(out[0].data[0], inf);  // 100000 > 65504
  EXPECT_EQ(out[0].data[1], 12000.0f);
  EXPECT_EQ(out[0].data[2], -inf);
  EXPECT_EQ(out[0].data[3], inf);  // the input 1e5 was already inf
  EXPECT_EQ(out[1].data[1], inf);  // e^12 = 162755
  EXPECT_EQ(out[1].data[2], 0.0f);
  EXPECT_TRUE(std::isnan(out[2].data[0]));  // inf - inf
  for (float v : out[3].data) EXPECT_TRUE(std::isnan(v) || (v >= 0 && v <= 1));
  EXPECT_EQ(out[4].data[0], inf);
  // Accumulations overflow only in the final rounding: 256*256 + 256*256 = 131072 -> inf.
  Prog q;
  q.input("a", f16({1, 2})).input("b", f16({2, 1}));
  q.op(f16({1, 1}), "m", "matmul", {{"x", ref("a")}, {"y", ref("b")}}).output("m");
  const HostTensor m = run1(
      q.program, {{"a", tensor(f16({1, 2}), {256, 256})}, {"b", tensor(f16({2, 1}), {256, 256})}});
  EXPECT_EQ(m.data[0], inf);
}

TEST(MilInterpreter, ReductionsAndMatmulAccumulateInFp32) {
  // Summing 4096 ones one fp16 rounding at a time would stall at 2048; the model rounds once.
  Prog p;
  p.input("x", f16({1, 4096})).input("w", f16({4096, 1}));
  p.op(f16({1}), "s", "reduce_sum",
       {{"x", ref("x")}, {"axes", ints({1})}, {"keep_dims", boolean(false)}});
  p.op(f16({1, 1}), "m", "matmul", {{"x", ref("x")}, {"y", ref("w")}});
  p.output("s").output("m");
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16({1, 4096}), std::vector<float>(4096, 1.0f))},
                                    {"w", tensor(f16({4096, 1}), std::vector<float>(4096, 1.0f))}});
  EXPECT_EQ(out[0].data[0], 4096.0f);
  EXPECT_EQ(out[1].data[0], 4096.0f);
}

// ---- conv ----------------------------------------------------------------------------------

// Naive double-precision NCHW convolution.
std::vector<double> conv_reference(const std::vector<float>& x, const Shape& xs,
                                   const std::vector<float>& w, const Shape& ws,
                                   const std::vector<float>& bias, int64_t stride, int64_t pad_top,
                                   int64_t pad_left, int64_t groups, const Shape& os) {
  std::vector<double> out(static_cast<size_t>(os[0] * os[1] * os[2] * os[3]), 0.0);
  const int64_t gin = ws[1], gout = ws[0] / groups;
  for (int64_t n = 0; n < os[0]; ++n)
    for (int64_t oc = 0; oc < os[1]; ++oc)
      for (int64_t oh = 0; oh < os[2]; ++oh)
        for (int64_t ow = 0; ow < os[3]; ++ow) {
          double acc = bias.empty() ? 0.0 : bias[oc];
          for (int64_t icl = 0; icl < gin; ++icl)
            for (int64_t kh = 0; kh < ws[2]; ++kh)
              for (int64_t kw = 0; kw < ws[3]; ++kw) {
                const int64_t ih = oh * stride - pad_top + kh, iw = ow * stride - pad_left + kw;
                if (ih < 0 || ih >= xs[2] || iw < 0 || iw >= xs[3]) continue;
                const int64_t ic = (oc / gout) * gin + icl;
                acc += double(w[((oc * gin + icl) * ws[2] + kh) * ws[3] + kw]) *
                       x[((n * xs[1] + ic) * xs[2] + ih) * xs[3] + iw];
              }
          out[((n * os[1] + oc) * os[2] + oh) * os[3] + ow] = acc;
        }
  return out;
}

TEST(MilInterpreter, Conv1x1MatchesDoubleReference) {
  const Shape xs{2, 8, 1, 37}, ws{6, 8, 1, 1}, os{2, 6, 1, 37};
  const std::vector<float> x = random_fp16(2 * 8 * 37, 10), w = random_fp16(48, 11);
  Prog p;
  p.input("x", f16(xs));
  p.constant("w", number_literal(f16(ws), to_double(w)));
  p.op(f16(os), "y", "conv",
       {{"x", ref("x")},
        {"weight", ref("w")},
        {"strides", ints({1, 1})},
        {"pad_type", text("valid")},
        {"pad", ints({0, 0, 0, 0})},
        {"dilations", ints({1, 1})},
        {"groups", int_scalar(1)}});
  p.output("y");
  const HostTensor y = run1(p.program, {{"x", tensor(f16(xs), x)}});
  EXPECT_EQ(y.type, f16(os));
  expect_close(y.data, conv_reference(x, xs, w, ws, {}, 1, 0, 0, 1, os), 1.0, 1e-5);
  expect_fp16_values(y.data);
}

TEST(MilInterpreter, ConvHandlesGroupsStridesPaddingAndBias) {
  const Shape xs{1, 4, 7, 6}, ws{6, 2, 3, 3};
  const std::vector<float> x = random_fp16(4 * 7 * 6, 12), w = random_fp16(6 * 2 * 9, 13);
  const std::vector<float> bias = random_fp16(6, 14);
  // custom pad (top 1, bottom 0, left 2, right 1), stride 2: H (7+1-3)/2+1 = 3, W (6+3-3)/2+1 = 4.
  const Shape os{1, 6, 3, 4};
  Prog p;
  p.input("x", f16(xs));
  p.constant("w", number_literal(f16(ws), to_double(w)));
  p.constant("b", number_literal(f16({6}), to_double(bias)));
  p.op(f16(os), "y", "conv",
       {{"x", ref("x")},
        {"weight", ref("w")},
        {"bias", ref("b")},
        {"strides", ints({2, 2})},
        {"pad_type", text("custom")},
        {"pad", ints({1, 0, 2, 1})},
        {"dilations", ints({1, 1})},
        {"groups", int_scalar(2)}});
  // "same" with stride 1 keeps H x W and pads 1 on each side for a 3x3 kernel.
  p.op(f16({1, 6, 7, 6}), "same", "conv",
       {{"x", ref("x")},
        {"weight", ref("w")},
        {"pad_type", text("same")},
        {"groups", int_scalar(2)}});
  p.output("y").output("same");
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16(xs), x)}});
  expect_close(out[0].data, conv_reference(x, xs, w, ws, bias, 2, 1, 2, 2, os), 1.0, 1e-5,
               "custom");
  expect_close(out[1].data, conv_reference(x, xs, w, ws, {}, 1, 1, 1, 2, {1, 6, 7, 6}), 1.0, 1e-5,
               "same");
}

// ---- matmul --------------------------------------------------------------------------------

std::vector<double> matmul_reference(const std::vector<float>& a, const std::vector<float>& b,
                                     int64_t m, int64_t k, int64_t n, bool ta, bool tb) {
  std::vector<double> out(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t q = 0; q < k; ++q)
        out[i * n + j] +=
            double(ta ? a[q * m + i] : a[i * k + q]) * (tb ? b[j * k + q] : b[q * n + j]);
  return out;
}

TEST(MilInterpreter, MatmulTransposesMatchDoubleReference) {
  const int64_t m = 3, k = 5, n = 4;
  const std::vector<float> a = random_fp16(m * k, 20), b = random_fp16(k * n, 21);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const Shape as = ta ? Shape{k, m} : Shape{m, k};
      const Shape bs = tb ? Shape{n, k} : Shape{k, n};
      Prog p;
      p.input("a", f16(as)).input("b", f16(bs));
      p.op(f16({m, n}), "c", "matmul",
           {{"x", ref("a")},
            {"y", ref("b")},
            {"transpose_x", boolean(ta)},
            {"transpose_y", boolean(tb)}});
      p.output("c");
      const HostTensor c = run1(p.program, {{"a", tensor(f16(as), a)}, {"b", tensor(f16(bs), b)}});
      expect_close(c.data, matmul_reference(a, b, m, k, n, ta, tb), 1.0, 1e-5,
                   "ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
    }
}

TEST(MilInterpreter, MatmulBroadcastsBatchDims) {
  // x [2, 1, 3, 5] @ y^T with y [3, 4, 5] -> [2, 3, 3, 4]
  const std::vector<float> a = random_fp16(2 * 3 * 5, 22), b = random_fp16(3 * 4 * 5, 23);
  Prog p;
  p.input("a", f16({2, 1, 3, 5})).input("b", f16({3, 4, 5}));
  p.op(f16({2, 3, 3, 4}), "c", "matmul",
       {{"x", ref("a")},
        {"y", ref("b")},
        {"transpose_x", boolean(false)},
        {"transpose_y", boolean(true)}});
  p.output("c");
  const HostTensor c =
      run1(p.program, {{"a", tensor(f16({2, 1, 3, 5}), a)}, {"b", tensor(f16({3, 4, 5}), b)}});
  ASSERT_EQ(c.type, f16({2, 3, 3, 4}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      const std::vector<float> ai(a.begin() + i * 15, a.begin() + (i + 1) * 15);
      const std::vector<float> bj(b.begin() + j * 20, b.begin() + (j + 1) * 20);
      const std::vector<double> want = matmul_reference(ai, bj, 3, 5, 4, false, true);
      const std::vector<float> got(c.data.begin() + (i * 3 + j) * 12,
                                   c.data.begin() + (i * 3 + j + 1) * 12);
      expect_close(got, want, 1.0, 1e-5, "batch " + std::to_string(i) + "," + std::to_string(j));
    }
  // A rank-1 y is a column vector whose axis is dropped: [2, 3, 5] @ [5] -> [2, 3].
  Prog q;
  q.input("a", f16({2, 3, 5})).input("v", f16({5}));
  q.op(f16({2, 3}), "c", "matmul", {{"x", ref("a")}, {"y", ref("v")}}).output("c");
  const std::vector<float> v = random_fp16(5, 24);
  const HostTensor cv =
      run1(q.program, {{"a", tensor(f16({2, 3, 5}), a)}, {"v", tensor(f16({5}), v)}});
  ASSERT_EQ(cv.type, f16({2, 3}));
  expect_close(cv.data, matmul_reference(a, v, 6, 5, 1, false, false), 1.0, 1e-5, "rank-1 y");
}

// ---- softmax and reductions ----------------------------------------------------------------

TEST(MilInterpreter, SoftmaxWithCausalMaskRow) {
  const int64_t s = 4;
  const Shape shape{1, 2, s, s};
  const std::vector<float> scores = random_fp16(2 * s * s, 30, -3.0f, 3.0f);
  std::vector<double> mask(static_cast<size_t>(s * s));
  for (int64_t i = 0; i < s; ++i)
    for (int64_t j = 0; j < s; ++j) mask[i * s + j] = j > i ? -65504.0 : 0.0;
  Prog p;
  p.input("x", f16(shape));
  p.constant("mask", number_literal(f16({1, 1, s, s}), mask));
  p.op(f16(shape), "masked", "add", {{"x", ref("x")}, {"y", ref("mask")}});
  p.op(f16(shape), "p", "softmax", {{"x", ref("masked")}, {"axis", int_scalar(-1)}});
  p.output("p");
  const HostTensor probs = run1(p.program, {{"x", tensor(f16(shape), scores)}});
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < s; ++i) {
      const float* row = probs.data.data() + (h * s + i) * s;
      const float* in = scores.data() + (h * s + i) * s;
      double peak = -1e300, total = 0;
      for (int64_t j = 0; j <= i; ++j) peak = std::max(peak, double(in[j]));
      for (int64_t j = 0; j <= i; ++j) total += std::exp(in[j] - peak);
      double row_sum = 0;
      for (int64_t j = 0; j < s; ++j) {
        if (j > i) {
          EXPECT_EQ(row[j], 0.0f) << "masked entry " << i << "," << j;
        } else {
          const double want = std::exp(in[j] - peak) / total;
          EXPECT_NEAR(row[j], want, std::ldexp(want, -11) + 1e-7) << i << "," << j;
        }
        row_sum += row[j];
      }
      EXPECT_NEAR(row_sum, 1.0, 2e-3);
    }
  // A fully masked row is uniform, not NaN.
  Prog q;
  q.input("x", f16({1, 4}));
  q.op(f16({1, 4}), "p", "softmax", {{"x", ref("x")}, {"axis", int_scalar(1)}}).output("p");
  const HostTensor uniform =
      run1(q.program, {{"x", tensor(f16({1, 4}), std::vector<float>(4, -65504.0f))}});
  EXPECT_EQ(uniform.data, std::vector<float>(4, 0.25f));
}

TEST(MilInterpreter, SoftmaxOverChannelsMatchesReference) {
  // [1, C, 1, S] softmax over C (axis 1, i.e. -3): the axis is not innermost.
  const int64_t c = 5, s = 7;
  const std::vector<float> x = random_fp16(c * s, 31, -4.0f, 4.0f);
  Prog p;
  p.input("x", f16({1, c, 1, s}));
  p.op(f16({1, c, 1, s}), "p", "softmax", {{"x", ref("x")}, {"axis", int_scalar(-3)}}).output("p");
  const HostTensor probs = run1(p.program, {{"x", tensor(f16({1, c, 1, s}), x)}});
  std::vector<double> want(x.size());
  for (int64_t j = 0; j < s; ++j) {
    double peak = -1e300, total = 0;
    for (int64_t i = 0; i < c; ++i) peak = std::max(peak, double(x[i * s + j]));
    for (int64_t i = 0; i < c; ++i) total += std::exp(x[i * s + j] - peak);
    for (int64_t i = 0; i < c; ++i) want[i * s + j] = std::exp(x[i * s + j] - peak) / total;
  }
  expect_close(probs.data, want, 1.0, 1e-7);
}

TEST(MilInterpreter, ReduceSumAndMaxWithAxesAndKeepDims) {
  const Shape shape{2, 3, 4};
  const std::vector<float> x = random_fp16(24, 40, -2.0f, 2.0f);
  Prog p;
  p.input("x", f16(shape));
  p.op(f16({2, 1, 4}), "s1", "reduce_sum",
       {{"x", ref("x")}, {"axes", ints({1})}, {"keep_dims", boolean(true)}});
  p.op(f16({3}), "m", "reduce_max",
       {{"x", ref("x")}, {"axes", ints({-1, 0})}, {"keep_dims", boolean(false)}});
  p.op(f16({}), "all", "reduce_sum", {{"x", ref("x")}});
  p.output("s1").output("m").output("all");
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16(shape), x)}});
  auto at = [&](int i, int j, int k) { return double(x[(i * 3 + j) * 4 + k]); };
  std::vector<double> s1, m(3, -1e300);
  double all = 0;
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) s1.push_back(at(i, 0, k) + at(i, 1, k) + at(i, 2, k));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) {
        m[j] = std::max(m[j], at(i, j, k));
        all += at(i, j, k);
      }
  expect_close(out[0].data, s1, 1.0, 1e-6, "reduce_sum keep_dims");
  EXPECT_EQ(out[1].data, std::vector<float>(m.begin(), m.end()));  // max is exact
  expect_close(out[2].data, {all}, 1.0, 1e-5, "reduce_sum all");
}

TEST(MilInterpreter, ReduceMeanAndMinWithAxesAndKeepDims) {
  const Shape shape{2, 3, 4};
  const std::vector<float> x = random_fp16(24, 41, -2.0f, 2.0f);
  Prog p;
  p.input("x", f16(shape));
  p.op(f16({2, 4}), "mean", "reduce_mean",
       {{"x", ref("x")}, {"axes", ints({1})}, {"keep_dims", boolean(false)}});
  p.op(f16({1, 3, 1}), "min", "reduce_min",
       {{"x", ref("x")}, {"axes", ints({0, -1})}, {"keep_dims", boolean(true)}});
  p.op(f16({}), "mean_all", "reduce_mean", {{"x", ref("x")}});
  p.output("mean").output("min").output("mean_all");
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16(shape), x)}});
  auto at = [&](int i, int j, int k) { return double(x[(i * 3 + j) * 4 + k]); };
  std::vector<double> mean, min(3, 1e300);
  double all = 0;
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) mean.push_back((at(i, 0, k) + at(i, 1, k) + at(i, 2, k)) / 3);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) {
        min[j] = std::min(min[j], at(i, j, k));
        all += at(i, j, k) / 24;
      }
  expect_close(out[0].data, mean, 1.0, 1e-6, "reduce_mean");
  EXPECT_EQ(out[1].data, std::vector<float>(min.begin(), min.end()));  // min is exact
  expect_close(out[2].data, {all}, 1.0, 1e-6, "reduce_mean all");
}

TEST(MilInterpreter, LinearAddsBiasBeforeTheOneRounding) {
  const std::vector<float> x = random_fp16(2 * 3 * 4, 42), w = random_fp16(5 * 4, 43),
                           b = random_fp16(5, 44);
  Prog p;
  p.input("x", f16({2, 3, 4}));
  p.constant("w", number_literal(f16({5, 4}), to_double(w)));
  p.constant("b", number_literal(f16({5}), to_double(b)));
  p.op(f16({2, 3, 5}), "y", "linear", {{"x", ref("x")}, {"weight", ref("w")}, {"bias", ref("b")}});
  p.op(f16({2, 3, 5}), "y0", "linear", {{"x", ref("x")}, {"weight", ref("w")}});
  p.output("y").output("y0");
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16({2, 3, 4}), x)}});
  std::vector<double> y, y0;
  for (int r = 0; r < 6; ++r)
    for (int o = 0; o < 5; ++o) {
      double sum = 0;
      for (int i = 0; i < 4; ++i) sum += double(x[r * 4 + i]) * w[o * 4 + i];
      y0.push_back(sum);
      y.push_back(sum + b[o]);
    }
  expect_close(out[0].data, y, 1.0, 1e-6, "linear with bias");
  expect_close(out[1].data, y0, 1.0, 1e-6, "linear without bias");
}

// ---- data movement -------------------------------------------------------------------------

std::vector<float> iota(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = float(i);
  return v;
}

TEST(MilInterpreter, ReshapeTransposeSliceConcat) {
  const std::vector<float> x = iota(24);  // [2, 3, 4]
  Prog p;
  p.input("x", f16({2, 3, 4}));
  p.op(f16({6, 4}), "r", "reshape", {{"x", ref("x")}, {"shape", ints({-1, 4})}});
  p.op(f16({4, 2, 3}), "t", "transpose", {{"x", ref("x")}, {"perm", ints({2, 0, 1})}});
  p.op(f16({1, 2, 3}), "s", "slice_by_size",
       {{"x", ref("x")}, {"begin", ints({1, 1, 1})}, {"size", ints({1, -1, 3})}});
  p.op(f16({2, 2, 2}), "si", "slice_by_index",
       {{"x", ref("x")},
        {"begin", ints({0, 0, 3})},
        {"end", ints({2, 3, 0})},
        {"stride", ints({1, 2, -2})},
        {"squeeze_mask", Arg::lit(number_literal(Type{DType::kBool, {3}}, {0, 0, 0}))},
        {"end_mask", Arg::lit(number_literal(Type{DType::kBool, {3}}, {0, 0, 1}))}});
  p.op(f16({2, 6, 4}), "c", "concat", {{"values", Arg::refs({"x", "x"})}, {"axis", int_scalar(1)}});
  p.op(
      f16({2, 3, 8}), "ci", "concat",
      {{"values", Arg::refs({"x", "x"})}, {"axis", int_scalar(-1)}, {"interleave", boolean(true)}});
  p.output("r").output("t").output("s").output("si").output("c").output("ci");
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16({2, 3, 4}), x)}});
  auto at = [&](int i, int j, int k) { return x[(i * 3 + j) * 4 + k]; };
  EXPECT_EQ(out[0].data, x);
  EXPECT_EQ(out[0].type, f16({6, 4}));
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_EQ(out[1].data[(k * 2 + i) * 3 + j], at(i, j, k));
  EXPECT_EQ(out[2].data, (std::vector<float>{at(1, 1, 1), at(1, 1, 2), at(1, 1, 3), at(1, 2, 1),
                                             at(1, 2, 2), at(1, 2, 3)}));
  // rows j = 0, 2; columns k = 3, 1 (stride -2 from 3 to the start)
  EXPECT_EQ(out[3].data, (std::vector<float>{at(0, 0, 3), at(0, 0, 1), at(0, 2, 3), at(0, 2, 1),
                                             at(1, 0, 3), at(1, 0, 1), at(1, 2, 3), at(1, 2, 1)}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 6; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(out[4].data[(i * 6 + j) * 4 + k], at(i, j % 3, k));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 8; ++k) EXPECT_EQ(out[5].data[(i * 3 + j) * 8 + k], at(i, j, k / 2));
}

// reshape's 0 copies x's axis, as the checker allows; expand_dims and squeeze only change shape.
TEST(MilInterpreter, ReshapeZeroExpandDimsAndSqueeze) {
  const std::vector<float> x = iota(24);  // [2, 3, 4]
  Prog p;
  p.input("x", f16({2, 3, 4}));
  p.op(f16({2, 12}), "r", "reshape", {{"x", ref("x")}, {"shape", ints({0, -1})}});
  p.op(f16({2, 3, 2, 2}), "r4", "reshape", {{"x", ref("x")}, {"shape", ints({0, 0, 2, 2})}});
  p.op(f16({1, 2, 3, 1, 4}), "e", "expand_dims", {{"x", ref("x")}, {"axes", ints({0, -2})}});
  p.op(f16({2, 3, 4}), "s", "squeeze", {{"x", ref("e")}});
  p.op(f16({2, 3, 1, 4}), "s0", "squeeze", {{"x", ref("e")}, {"axes", ints({0})}});
  p.output("r").output("r4").output("e").output("s").output("s0");
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16({2, 3, 4}), x)}});
  const std::vector<Shape> shapes = {
      {2, 12}, {2, 3, 2, 2}, {1, 2, 3, 1, 4}, {2, 3, 4}, {2, 3, 1, 4}};
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].type, f16(shapes[i])) << i;
    EXPECT_EQ(out[i].data, x) << i;
  }
  Prog bad;
  bad.input("x", f16({2, 3, 4}));
  bad.op(f16({2, 3, 4}), "q", "squeeze", {{"x", ref("x")}, {"axes", ints({1})}});
  bad.output("q");
  Interpreter bad_interpreter(bad.program, no_blobs());
  EXPECT_NE(error_of([&] {
              bad_interpreter.run({{"x", tensor(f16({2, 3, 4}), x)}});
            }).find("axis 1 has size 3, not 1"),
            std::string::npos);
}

TEST(MilInterpreter, TileRepeatsAlongEachAxis) {
  Prog p;
  p.input("x", f16({2, 3})).input("z", f16({2, 1, 2}));
  p.op(f16({4, 6}), "t", "tile", {{"x", ref("x")}, {"reps", ints({2, 2})}});
  p.op(f16({2, 3, 4}), "u", "tile", {{"x", ref("z")}, {"reps", ints({1, 3, 2})}});
  p.op(f16({2, 3}), "same", "tile", {{"x", ref("x")}, {"reps", ints({1, 1})}});
  p.output("t").output("u").output("same");
  Interpreter interpreter(p.program, no_blobs());
  const auto out = interpreter.run({{"x", tensor(f16({2, 3}), {1, 2, 3, 4, 5, 6})},
                                    {"z", tensor(f16({2, 1, 2}), {1, 2, 3, 4})}});
  EXPECT_EQ(out[0].type, f16({4, 6}));
  EXPECT_EQ(out[0].data, (std::vector<float>{1, 2, 3, 1, 2, 3,  //
                                             4, 5, 6, 4, 5, 6,  //
                                             1, 2, 3, 1, 2, 3,  //
                                             4, 5, 6, 4, 5, 6}));
  EXPECT_EQ(out[1].type, f16({2, 3, 4}));
  EXPECT_EQ(out[1].data, (std::vector<float>{1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2,  //
                                             3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4}));
  EXPECT_EQ(out[2].data, (std::vector<float>{1, 2, 3, 4, 5, 6}));

  Prog bad;
  bad.input("x", f16({2, 3}));
  bad.op(f16({2, 3}), "t", "tile", {{"x", ref("x")}, {"reps", ints({1, 0})}}).output("t");
  Interpreter bad_reps(bad.program, no_blobs());
  const std::string message = error_of([&] {
    bad_reps.run({{"x", tensor(f16({2, 3}), std::vector<float>(6))}});
  });
  EXPECT_NE(message.find("tile 't'"), std::string::npos) << message;
  EXPECT_NE(message.find("reps [1, 0] has an entry below 1"), std::string::npos) << message;
}

// ---- BLOBFILE constants --------------------------------------------------------------------

TEST(MilInterpreter, BlobfileConstantComesFromLoaderOnce) {
  const Shape ws{3, 2, 1, 1};
  Literal blob;
  blob.type = f16(ws);
  blob.is_blob = true;
  blob.blob_path = "@model_path/weights/weight.bin";
  blob.blob_offset = 64;
  Prog p;
  p.input("x", f16({1, 2, 1, 2}));
  p.constant("w", blob);
  p.op(f16({1, 3, 1, 2}), "y", "conv", {{"x", ref("x")}, {"weight", ref("w")}});
  p.output("y");
  int calls = 0;
  BlobLoader loader = [&](const std::string& path, uint64_t offset, const Type& type) {
    ++calls;
    EXPECT_EQ(path, "@model_path/weights/weight.bin");
    EXPECT_EQ(offset, 64u);
    EXPECT_EQ(type, f16(ws));
    // 0.1 is not an fp16 value: the interpreter rounds what the loader hands over.
    return HostTensor{type, {1, 2, 0.1f, -1, 0.5f, 0.25f}};
  };
  Interpreter interpreter(p.program, loader);
  EXPECT_EQ(calls, 1);
  for (int run = 0; run < 2; ++run) {
    const auto out = interpreter.run({{"x", tensor(f16({1, 2, 1, 2}), {1, 2, 3, 4})}});
    // y[oc, s] = w[oc, 0] * x[0, s] + w[oc, 1] * x[1, s]
    const float w01 = round_fp16(0.1f);
    EXPECT_EQ(out[0].data,
              (std::vector<float>{1 * 1 + 2 * 3, 1 * 2 + 2 * 4, round_fp16(w01 * 1 - 3),
                                  round_fp16(w01 * 2 - 4), 0.5f + 0.75f, 1.0f + 1.0f}));
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(interpreter.ops_executed(), 1 + 2);  // the const once, the conv per run

  // A loader that returns the wrong shape is reported at construction, naming the blob.
  BlobLoader wrong = [](const std::string&, uint64_t, const Type&) {
    return HostTensor{f16({6}), std::vector<float>(6)};
  };
  const std::string message = error_of([&] { Interpreter bad(p.program, wrong); });
  EXPECT_NE(message.find("weight.bin"), std::string::npos) << message;
}

// ---- RMSNorm as ANE programs write it ------------------------------------------------------

TEST(MilInterpreter, RmsNormChainMatchesDoubleReference) {
  const int64_t c = 64, s = 32;
  const Shape shape{1, c, 1, s};
  const std::vector<float> x = random_fp16(c * s, 50, -2.0f, 2.0f);
  const std::vector<float> g = random_fp16(c, 51, 0.5f, 1.5f);
  const double eps = 1e-5;
  Prog p;
  p.input("x", f16(shape));
  p.constant("g", number_literal(f16({1, c, 1, 1}), to_double(g)));
  p.op(f16(shape), "sq", "mul", {{"x", ref("x")}, {"y", ref("x")}});
  p.op(f16({1, 1, 1, s}), "ss", "reduce_sum",
       {{"x", ref("sq")}, {"axes", ints({1})}, {"keep_dims", boolean(true)}});
  p.op(f16({1, 1, 1, s}), "ms", "mul", {{"x", ref("ss")}, {"y", fp16_scalar(1.0 / c)}});
  p.op(f16({1, 1, 1, s}), "mse", "add", {{"x", ref("ms")}, {"y", fp16_scalar(eps)}});
  p.op(f16({1, 1, 1, s}), "r", "pow", {{"x", ref("mse")}, {"y", fp16_scalar(-0.5)}});
  p.op(f16(shape), "xn", "mul", {{"x", ref("x")}, {"y", ref("r")}});
  p.op(f16(shape), "y", "mul", {{"x", ref("xn")}, {"y", ref("g")}});
  p.output("y");
  const HostTensor y = run1(p.program, {{"x", tensor(f16(shape), x)}});
  std::vector<double> want(x.size());
  for (int64_t j = 0; j < s; ++j) {
    double mean_square = 0;
    for (int64_t i = 0; i < c; ++i) mean_square += double(x[i * s + j]) * x[i * s + j];
    mean_square /= c;
    const double scale = 1.0 / std::sqrt(mean_square + eps);
    for (int64_t i = 0; i < c; ++i) want[i * s + j] = x[i * s + j] * scale * g[i];
  }
  // Six roundings along the chain (sq, sum, mean, +eps, pow, two muls) of half an ulp each.
  expect_close(y.data, want, 8.0, 1e-4);
}

// ---- errors --------------------------------------------------------------------------------

TEST(MilInterpreter, BadInputsAreUserErrorsNamingTheInput) {
  Prog p;
  p.input("x", f16({1, 4, 1, 8}));
  p.op(f16({1, 4, 1, 8}), "y", "exp", {{"x", ref("x")}}).output("y");
  Interpreter interpreter(p.program, no_blobs());
  std::string message = error_of([&] {
    interpreter.run({{"x", tensor(f16({1, 4, 1, 4}), std::vector<float>(16))}});
  });
  EXPECT_NE(message.find("'x'"), std::string::npos) << message;
  EXPECT_NE(message.find("[1, 4, 1, 8]"), std::string::npos) << message;
  EXPECT_NE(message.find("[1, 4, 1, 4]"), std::string::npos) << message;
  message = error_of([&] {
    interpreter.run({{"x", tensor(f32({1, 4, 1, 8}), std::vector<float>(32))}});
  });
  EXPECT_NE(message.find("'x'"), std::string::npos) << message;
  EXPECT_NE(message.find("fp32"), std::string::npos) << message;
  message = error_of([&] {
    interpreter.run({{"x", tensor(f16({1, 4, 1, 8}), std::vector<float>(5))}});
  });
  EXPECT_NE(message.find("'x'"), std::string::npos) << message;
  message = error_of([&] { interpreter.run({}); });
  EXPECT_NE(message.find("'x'"), std::string::npos) << message;
  message = error_of([&] {
    interpreter.run(
        {{"x", tensor(f16({1, 4, 1, 8}), std::vector<float>(32))}, {"z", tensor(f16({1}), {0})}});
  });
  EXPECT_NE(message.find("'z'"), std::string::npos) << message;
  EXPECT_EQ(interpreter.ops_executed(), 0);
}

TEST(MilInterpreter, BadProgramsAreUserErrors) {
  {  // unknown op: named with its line
    Prog p;
    p.input("x", f16({2}));
    p.op(f16({2}), "y", "gelu_tanh", {{"x", ref("x")}}).output("y");
    p.program.main.ops[0].line = 7;
    const std::string message = error_of([&] { Interpreter i(p.program, no_blobs()); });
    EXPECT_NE(message.find("gelu_tanh"), std::string::npos) << message;
    EXPECT_NE(message.find("line 7"), std::string::npos) << message;
  }
  {  // a reference to a value not yet defined
    Prog p;
    p.input("x", f16({2}));
    p.op(f16({2}), "y", "add", {{"x", ref("x")}, {"y", ref("later")}}).output("y");
    const std::string message = error_of([&] { Interpreter i(p.program, no_blobs()); });
    EXPECT_NE(message.find("'later'"), std::string::npos) << message;
  }
  {  // declared type disagrees with what the op computes
    Prog p;
    p.input("x", f16({2, 3}));
    p.op(f16({3, 2}), "y", "sigmoid", {{"x", ref("x")}}).output("y");
    Interpreter interpreter(p.program, no_blobs());
    const std::string message = error_of([&] {
      interpreter.run({{"x", tensor(f16({2, 3}), std::vector<float>(6))}});
    });
    EXPECT_NE(message.find("sigmoid 'y'"), std::string::npos) << message;
    EXPECT_NE(message.find("tensor<fp16, [3, 2]>"), std::string::npos) << message;
  }
  {  // undefined output
    Prog p;
    p.input("x", f16({2}));
    p.output("nope");
    EXPECT_NE(error_of([&] { Interpreter i(p.program, no_blobs()); }).find("'nope'"),
              std::string::npos);
  }
  {  // matmul inner dimension mismatch
    Prog p;
    p.input("a", f16({2, 3})).input("b", f16({4, 2}));
    p.op(f16({2, 2}), "c", "matmul", {{"x", ref("a")}, {"y", ref("b")}}).output("c");
    Interpreter interpreter(p.program, no_blobs());
    const std::string message = error_of([&] {
      interpreter.run({{"a", tensor(f16({2, 3}), std::vector<float>(6))},
                       {"b", tensor(f16({4, 2}), std::vector<float>(8))}});
    });
    EXPECT_NE(message.find("inner dimensions"), std::string::npos) << message;
  }
}

// ---- speed at transformer shapes -----------------------------------------------------------

// At the seed layer's size (the fake driver runs these shapes in every ANE test). Its speed is
// a benchmark's business, not a unit test's: only the numbers are checked here.
TEST(MilInterpreterAtScale, Conv768x768Over512PositionsMatchesDouble) {
  const int64_t c = 768, s = 512;
  const Shape xs{1, c, 1, s}, ws{c, c, 1, 1};
  const std::vector<float> x = random_fp16(c * s, 60), w = random_fp16(c * c, 61, -0.05f, 0.05f);
  Literal blob;
  blob.type = f16(ws);
  blob.is_blob = true;
  blob.blob_path = "@model_path/weights/wq.bin";
  blob.blob_offset = 64;
  Prog p;
  p.input("x", f16(xs));
  p.constant("w", blob);
  p.op(f16(xs), "y", "conv", {{"x", ref("x")}, {"weight", ref("w")}, {"pad_type", text("valid")}});
  p.output("y");
  Interpreter interpreter(p.program, [&](const std::string&, uint64_t, const Type& type) {
    return HostTensor{type, w};
  });
  const std::vector<std::pair<std::string, HostTensor>> inputs = {{"x", tensor(f16(xs), x)}};
  const HostTensor y = interpreter.run(inputs).at(0);
  // Spot-check some outputs against double.
  for (int64_t oc : {0, 1, 383, 767})
    for (int64_t pos : {0, 17, 511}) {
      double want = 0, magnitude = 0;
      for (int64_t ic = 0; ic < c; ++ic) {
        want += double(w[oc * c + ic]) * x[ic * s + pos];
        magnitude += std::fabs(double(w[oc * c + ic]) * x[ic * s + pos]);
      }
      EXPECT_NEAR(y.data[oc * s + pos], want, std::ldexp(std::fabs(want), -11) + 1e-6 * magnitude);
    }
}

TEST(MilInterpreterAtScale, AttentionScoresAndSoftmaxRowsSumToOne) {
  // 12 heads: [1, 12, 512, 64] @ [1, 12, 512, 64]^T -> [1, 12, 512, 512]
  const Shape qs{1, 12, 512, 64}, os{1, 12, 512, 512};
  const std::vector<float> q = random_fp16(12 * 512 * 64, 62), k = random_fp16(12 * 512 * 64, 63);
  Prog p;
  p.input("q", f16(qs)).input("k", f16(qs));
  p.op(f16(os), "s", "matmul", {{"x", ref("q")}, {"y", ref("k")}, {"transpose_y", boolean(true)}});
  p.op(f16(os), "p", "softmax", {{"x", ref("s")}, {"axis", int_scalar(-1)}});
  p.output("p");
  Interpreter interpreter(p.program, no_blobs());
  const HostTensor probs =
      interpreter.run({{"q", tensor(f16(qs), q)}, {"k", tensor(f16(qs), k)}}).at(0);
  double row_sum = 0;
  for (int64_t j = 0; j < 512; ++j) row_sum += probs.data[j];
  EXPECT_NEAR(row_sum, 1.0, 0.02);
}

}  // namespace
}  // namespace anetrain::mil
