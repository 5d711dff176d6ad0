// `anetrain ane run` as a user runs it on a program written elsewhere: an emitted kernel with
// random inputs writes its outputs as .npy, the same run compared with those outputs agrees
// exactly, a perturbed reference is reported above tolerance (exit 1), and a missing input is
// a one-line error naming it.
#include <gtest/gtest.h>

#include <filesystem>

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

}  // namespace
}  // namespace anetrain::testing
