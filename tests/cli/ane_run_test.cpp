// `anetrain ane run` as a user runs it on a program written elsewhere: an emitted kernel with
// random inputs writes its outputs as .npy, the same run compared with those outputs agrees
// exactly, a perturbed reference is reported above tolerance (exit 1), and a missing input is
// a one-line error naming it. Weights may come from several files, as fp16 or fp32 records.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "backends/ane/blob/milblob.h"
#include "core/fp16.h"
#include "io/npy.h"
#include "support/test_util.h"

namespace anetrain::testing {
namespace {

TEST(AneRun, RunsAProgramWritesNpyAndCompares) {
  TempDir dir;
  ASSERT_EQ(run_anetrain({"ane", "emit", "--config", "tiny", "--form", "fused", "--out",
                          dir.file("emit")})
                .exit_code,
            0);
  const std::string program = dir.file("emit/ffn_forward/model.mil");  // the fused form's
  CommandResult r =
      run_anetrain({"ane", "run", program, "--input", "x=random:3", "--out", dir.file("out")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // "output NAME TYPE" names the program's output.
  const size_t at = r.out.find("output ");
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string name = r.out.substr(at + 7, r.out.find(' ', at + 7) - at - 7);
  const std::string written = dir.file("out/" + name + ".npy");
  const NpyArray out = read_npy(written);
  ASSERT_EQ(out.shape.size(), 4u);
  EXPECT_EQ(out.shape[0], 1);

  r = run_anetrain(
      {"ane", "run", program, "--input", "x=random:3", "--compare", name + "=" + written});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("max rel err 0.000e+00"), std::string::npos) << r.out;

  std::vector<float> off = out.values;
  for (float& v : off) v *= 1.5f;
  write_npy(dir.file("off.npy"), out.shape, off, false);
  r = run_anetrain({"ane", "run", program, "--input", "x=random:3", "--compare",
                    name + "=" + dir.file("off.npy")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("ABOVE TOLERANCE"), std::string::npos) << r.out;

  r = run_anetrain({"ane", "run", program});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("input 'x'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // An input array of the wrong shape names the file and the input.
  write_npy(dir.file("small.npy"), {1, 2}, {1, 2}, false);
  r = run_anetrain({"ane", "run", program, "--input", "x=" + dir.file("small.npy")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("small.npy"), std::string::npos) << r.err;
}

// One weight file per tensor, and fp32 records for fp32 constants: each BLOBFILE path is its own
// file under weights/ (ane run used to accept only weights/weight.bin, and only fp16 records).
TEST(AneRun, ReadsSeveralWeightFilesAndFp32Records) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("weights"));
  ane::MilBlobWriter halves, singles;
  const std::vector<uint16_t> scale = {fp32_to_fp16(2.0f), fp32_to_fp16(-0.5f)};
  ASSERT_EQ(halves.add_fp16(scale.data(), 2), 64u);
  const std::vector<float> unused = {9.0f}, shift = {0.25f, 1.5f};
  ASSERT_EQ(singles.add(ane::BlobDType::kFp32, unused.data(), 4), 64u);
  ASSERT_EQ(singles.add(ane::BlobDType::kFp32, shift.data(), 8), 192u);
  halves.write(dir.file("weights/scale.bin"));
  singles.write(dir.file("weights/shift.bin"));
  std::ofstream(dir.file("model.mil")) << R"(program(1.3)
{
    func main<ios18>(tensor<fp32, [1, 2]> x) {
        tensor<fp16, [2]> scale = const()[name = string("scale"), val = tensor<fp16, [2]>(BLOBFILE(path = string("@model_path/weights/scale.bin"), offset = uint64(64)))];
        tensor<fp32, [2]> shift = const()[name = string("shift"), val = tensor<fp32, [2]>(BLOBFILE(path = string("@model_path/weights/shift.bin"), offset = uint64(192)))];
        string to_fp16 = const()[name = string("to_fp16"), val = string("fp16")];
        tensor<fp32, [1, 2]> shifted = add(x = x, y = shift)[name = string("shifted")];
        tensor<fp16, [1, 2]> half = cast(x = x, dtype = to_fp16)[name = string("half")];
        tensor<fp16, [1, 2]> scaled = mul(x = half, y = scale)[name = string("scaled")];
    } -> (shifted, scaled);
}
)";
  write_npy(dir.file("x.npy"), {1, 2}, {1.0f, 3.0f}, false);
  const CommandResult r = run_anetrain({"ane", "run", dir.file("model.mil"), "--input",
                                        "x=" + dir.file("x.npy"), "--out", dir.file("out")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_npy(dir.file("out/shifted.npy")).values, (std::vector<float>{1.25f, 4.5f}));
  EXPECT_EQ(read_npy(dir.file("out/scaled.npy")).values, (std::vector<float>{2.0f, -1.5f}));
}

}  // namespace
}  // namespace anetrain::testing
