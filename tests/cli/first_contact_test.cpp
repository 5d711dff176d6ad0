// scripts/mac-first-contact.sh, the one command a first Mac user runs: on Linux every step runs
// over the framework mock, each one holds, and the report says that no ANE was involved.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "support/test_util.h"

namespace anetrain::testing {
namespace {
namespace fs = std::filesystem;

TEST(MacFirstContact, EveryStepHoldsOverTheMockAndTheReportSaysSo) {
  const std::string build = fs::path(ANETRAIN_BINARY).parent_path().string();
  if (!fs::exists(build + "/libane_framework_mock.so"))
    GTEST_SKIP() << "the framework mock is built on x86-64 Linux only";
  TempDir dir;
  const std::string command = "cd '" + source_dir() + "' && SKIP_SETUP=1 STEPS=10 BUILD_DIR='" +
                              build + "' scripts/mac-first-contact.sh '" + dir.file("fc") +
                              "' > '" + dir.file("log") + "' 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << read_bytes(dir.file("log"));
  const std::string report = read_bytes(dir.file("fc/report.md"));
  EXPECT_NE(report.find("No ANE was involved"), std::string::npos) << report;
  for (const char* step :
       {"probe", "kernels tiny proven static", "kernels tiny proven dynamic",
        "kernels tiny fused static", "kernels tiny fused dynamic", "kernels layer768 proven static",
        "kernels layer768 proven dynamic", "kernels layer768 fused static",
        "kernels layer768 fused dynamic", "train tiny on the CPU", "train tiny on the ANE"})
    EXPECT_NE(report.find(std::string("| ") + step + " | held |"), std::string::npos)
        << step << "\n"
        << report;
  EXPECT_EQ(report.find("failed"), std::string::npos) << report;
  EXPECT_NE(report.find("vs CPU backend: all within tolerance"), std::string::npos);
  EXPECT_NE(report.find("largest relative difference of the ANE loss"), std::string::npos);
}

}  // namespace
}  // namespace anetrain::testing
