// `anetrain ane lint FILE --surface-budget-mb N` overrides the profile's surface budget: a
// 16.25 MB surface is warned at the default (16 MB), not at 32, not at 0 (rule off), and a
// negative budget is a one-line error.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "support/test_util.h"

namespace anetrain::testing {
namespace {

TEST(AneLintCli, SurfaceBudgetOverride) {
  TempDir dir;
  const std::string program = dir.file("big.mil");
  std::ofstream(program)
      << "program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1, 4096, 1, 2080]> "
         "x) {\n        tensor<fp16, [1, 4096, 1, 2080]> y = sigmoid(x = "
         "x)[name = string(\"y\")];\n    } -> (y);\n}\n";
  CommandResult r = run_anetrain({"ane", "lint", program});
  EXPECT_EQ(r.exit_code, 0) << r.err;  // warnings only
  EXPECT_NE(r.out.find("warning: [surface-budget] input 'x' tensor<fp16, [1, 4096, 1, 2080]> is "
                       "16.25 MB (17039360 bytes), above the surface budget of 16 MB"),
            std::string::npos)
      << r.out;
  for (const std::string budget : {"32", "0"}) {
    r = run_anetrain({"ane", "lint", program, "--surface-budget-mb", budget});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("surface-budget"), std::string::npos) << budget << "\n" << r.out;
  }
  r = run_anetrain({"ane", "lint", program, "--surface-budget-mb", "8", "--profile", "m1-macos15"});
  EXPECT_NE(r.out.find("above the surface budget of 8 MB"), std::string::npos) << r.out;
  r = run_anetrain({"ane", "lint", program, "--surface-budget-mb", "-1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--surface-budget-mb must be 0 (off) or a size in MB"), std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

}  // namespace
}  // namespace anetrain::testing
