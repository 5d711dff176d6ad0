// libFuzzer target for the MIL text parser, checker and linter (src/backends/ane/mil/). Any input
// must either parse or throw MilError/UserError; anything else (a crash, a sanitizer report,
// another exception) is a bug. Invariants on accepted input:
//  - the printed program parses back and prints identically (print(parse(print(p))) ==
//    print(p)), which the builder's output relies on;
//  - check_program either passes or throws MilError;
//  - lint_program never throws, under every profile, whether or not the checker passed.
// Seeds (written when ANETRAIN_FUZZ_WRITE_SEEDS is set, see fuzz/README.md): both dialects, every
// literal form and every op the checker knows, so mutations start from deep inside the grammar.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>
#include <string_view>

#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/mil/profiles.h"
#include "core/error.h"

using namespace anetrain;

namespace {

const char* const kSeeds[] = {
    // ios18: the seed's 1x1 conv kernel with an RMSNorm tail.
    R"(program(1.3)
[buildInfo = dict<string, string>({{"coremlc-component-MIL", "3510.2.1"}, {"coremltools-version", "9.0"}})]
{
    func main<ios18>(tensor<fp16, [1, 64, 1, 32]> x) {
        string pt = const()[name = string("pt"), val = string("valid")];
        tensor<int32, [2]> st = const()[name = string("st"), val = tensor<int32, [2]>([1, 1])];
        tensor<int32, [4]> pd = const()[name = string("pd"), val = tensor<int32, [4]>([0, 0, 0, 0])];
        int32 gr = const()[name = string("gr"), val = int32(1)];
        tensor<fp16, [128, 64, 1, 1]> W = const()[name = string("W"), val = tensor<fp16, [128, 64, 1, 1]>(BLOBFILE(path = string("@model_path/weights/weight.bin"), offset = uint64(64)))];
        tensor<fp16, [1, 128, 1, 32]> y = conv(dilations = st, groups = gr, pad = pd, pad_type = pt, strides = st, weight = W, x = x)[name = string("y")];
        tensor<fp16, [1, 128, 1, 32]> sq = mul(x = y, y = y)[name = string("sq")];
        tensor<fp16, [1, 1, 1, 32]> ss = reduce_sum(axes = tensor<int32, [1]>([1]), keep_dims = bool(true), x = sq)[name = string("ss")];
        tensor<fp16, [1, 1, 1, 32]> me = add(x = ss, y = fp16(1e-05))[name = string("me")];
        tensor<fp16, [1, 1, 1, 32]> rr = pow(x = me, y = fp16(-0.5))[name = string("rr")];
        tensor<fp16, [1, 128, 1, 32]> z = mul(x = y, y = rr)[name = string("z")];
    } -> (z);
}
)",
    // ios16: every scalar a rank-0 tensor, string arguments through consts.
    R"(program(1.0)
[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{"coremlc-component-MIL", "3304.5.2"}})]
{
    func main<ios16>(tensor<fp32, [1, 4]> x) {
            tensor<string, []> dt = const()[name = tensor<string, []>("dt"), val = tensor<string, []>("fp16")];
            tensor<fp16, [1, 4]> xh = cast(dtype = dt, x = x)[name = tensor<string, []>("cast_1")];
            tensor<fp16, []> half = const()[name = tensor<string, []>("half"), val = tensor<fp16, []>(0.5)];
            tensor<bool, []> no = const()[name = tensor<string, []>("no"), val = tensor<bool, []>(false)];
            tensor<fp16, [4, 4]> w = const()[name = tensor<string, []>("w"), val = tensor<fp16, [4, 4]>(BLOBFILE(path = tensor<string, []>("@model_path/weights/weight.bin"), offset = tensor<uint64, []>(128)))];
            tensor<fp16, [1, 4]> y = mul(x = xh, y = half)[name = tensor<string, []>("y")];
            tensor<fp16, [1, 4]> z = matmul(transpose_x = no, transpose_y = no, x = y, y = w)[name = tensor<string, []>("z")];
    } -> (z);
}
)",
    // Every literal form.
    R"(program(1.3)
{
    func main<ios18>() {
        tensor<fp16, [2, 3]> g = const()[name = string("g"), val = tensor<fp16, [2, 3]>([[1.5, -2.0, 1e-07], [65504.0, -inf, nan]])];
        tensor<fp32, [3]> h = const()[name = string("h"), val = tensor<fp32, [3]>([0x1.8p1, +3e2, .5])];
        tensor<bool, [2]> f = const()[name = string("f"), val = tensor<bool, [2]>([true, false])];
        uint64 u = const()[name = string("u"), val = uint64(9007199254740992)];
        tensor<fp32, [0]> e = const()[name = string("e"), val = tensor<fp32, [0]>([])];
        tensor<int32, [2, 0]> e2 = const()[name = string("e2"), val = tensor<int32, [2, 0]>([[], []])];
        string s = const()[name = string("s"), val = string("a \"quoted\" \\ name")];  // comment
    } -> (g, h, f, u, e, e2, s);
}
)",
    // Every other op the checker knows.
    R"(program(1.3)
{
    func main<ios18>(tensor<fp16, [1, 64, 1, 32]> a, tensor<fp16, [1, 64, 1, 64]> b) {
        tensor<fp16, [1, 64, 1, 96]> c = concat(axis = int32(3), interleave = bool(false), values = (a, b))[name = string("c")];
        tensor<fp16, [1, 1, 64, 96]> t = transpose(perm = tensor<int32, [4]>([0, 2, 1, 3]), x = c)[name = string("t")];
        tensor<fp16, [1, 1, 96, 96]> m = matmul(transpose_x = bool(true), transpose_y = bool(false), x = t, y = t)[name = string("m")];
        tensor<fp16, [1, 1, 96, 96]> s = softmax(axis = int32(-1), x = m)[name = string("s")];
        tensor<fp16, [1, 1, 96, 1]> r = reduce_max(axes = tensor<int32, [1]>([-1]), keep_dims = bool(true), x = s)[name = string("r")];
        tensor<fp16, [1, 1, 96, 1]> q = rsqrt(epsilon = fp16(1e-05), x = r)[name = string("q")];
        tensor<fp16, [96]> f = reshape(shape = tensor<int32, [1]>([-1]), x = q)[name = string("f")];
        tensor<fp16, [96, 1]> ex = expand_dims(axes = tensor<int32, [1]>([1]), x = f)[name = string("ex")];
        tensor<fp16, [96]> sq = squeeze(axes = tensor<int32, [1]>([1]), x = ex)[name = string("sq")];
        tensor<fp16, [1, 64, 1, 16]> sl = slice_by_size(begin = tensor<int32, [4]>([0, 0, 0, 16]), size = tensor<int32, [4]>([1, 64, 1, -1]), x = a)[name = string("sl")];
        tensor<fp32, [1, 64, 1, 16]> cc = cast(dtype = string("fp32"), x = sl)[name = string("cc")];
        tensor<fp16, [64, 8]> si = slice_by_index(begin = tensor<int32, [4]>([0, 0, 0, 0]), end = tensor<int32, [4]>([1, 64, 1, 16]), stride = tensor<int32, [4]>([1, 1, 1, 2]), squeeze_mask = tensor<bool, [4]>([true, false, true, false]), x = sl)[name = string("si")];
        tensor<fp16, [64, 8]> mx = maximum(x = si, y = fp16(0.0))[name = string("mx")];
        tensor<fp16, [64, 8]> sg = silu(x = mx)[name = string("sg")];
        tensor<fp16, [8, 8]> lw = const()[name = string("lw"), val = tensor<fp16, [8, 8]>(BLOBFILE(path = string("@model_path/weights/weight.bin"), offset = uint64(64)))];
        tensor<fp16, [64, 8]> ln = linear(weight = lw, x = sg)[name = string("ln")];
        tensor<fp16, [64, 16]> tl = tile(reps = tensor<int32, [2]>([1, 2]), x = ln)[name = string("tl")];
    } -> (f, ln, sq, cc, tl);
}
)",
};

void write_seeds(const std::string& dir) {
  int i = 0;
  for (const char* seed : kSeeds) {
    std::ofstream out(dir + "/seed_" + std::to_string(i++) + ".mil", std::ios::binary);
    out << seed;
  }
}

void fuzz_one(std::string_view text) {
  mil::Program program;
  try {
    program = mil::parse_program(text, "fuzz.mil");
  } catch (const UserError&) {
    return;  // rejecting malformed text is the expected outcome
  }
  const std::string printed = mil::print_program(program);
  try {
    const std::string again = mil::print_program(mil::parse_program(printed, "printed.mil"));
    if (again != printed) {
      std::fprintf(stderr, "mil_parser_fuzz: round trip differs:\n%s\n---\n%s\n", printed.c_str(),
                   again.c_str());
      std::abort();
    }
  } catch (const UserError& e) {
    std::fprintf(stderr, "mil_parser_fuzz: printed program does not parse: %s\n%s\n", e.what(),
                 printed.c_str());
    std::abort();
  }
  for (const std::string& name : mil::lint_profile_names())
    (void)mil::lint_program(program, mil::lint_profile(name));
  try {
    mil::check_program(program, "fuzz.mil");
  } catch (const mil::MilError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("ANETRAIN_FUZZ_WRITE_SEEDS")) {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    fuzz_one(std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mil_parser_fuzz: unexpected exception: %s\n", e.what());
    std::abort();
  }
  return 0;
}
