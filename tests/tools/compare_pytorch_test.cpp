// bench/compare_pytorch.py as a user runs it, on the tiny workload: both sides run, the table
// carries a ratio and names the wait policy both sides ran with, and the saved rounds hold
// both sides' timings, "% peak" is against the peak measured in the same run unless one is
// given. An unknown workload gets a one-line error and exit status 2.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/test_util.h"

namespace anetrain {
namespace {

int compare(const std::string& args, const std::string& out, const std::string& err) {
  const std::string cmd = "/usr/bin/python3 " + testing::source_dir() +
                          "/bench/compare_pytorch.py --anetrain " ANETRAIN_BINARY " " + args +
                          " > " + out + " 2> " + err;
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ComparePytorch, RunsBothSidesAndPrintsTheRatio) {
  testing::TempDir dir;
  const std::string out = dir.file("out"), err = dir.file("err"), saved = dir.file("runs.json");
  ASSERT_EQ(compare("--configs tiny --steps 2 --warmup 1 --rounds 1 --wait-idle 0 "
                    "--omp-wait-policy active --save " +
                        saved,
                    out, err),
            0)
      << testing::read_bytes(err);
  const std::string table = testing::read_bytes(out);
  EXPECT_NE(table.find("anetrain"), std::string::npos) << table;
  EXPECT_NE(table.find("pytorch"), std::string::npos) << table;
  EXPECT_NE(table.find("x\n"), std::string::npos) << "no ratio column filled:\n" << table;
  EXPECT_NE(table.find("OMP_WAIT_POLICY=active for both"), std::string::npos) << table;

  const nlohmann::json j = nlohmann::json::parse(std::ifstream(saved));
  ASSERT_EQ(j["runs"].size(), 2u);
  for (const auto& run : j["runs"]) {
    EXPECT_GT(run["ms_per_step"].get<double>(), 0.0) << run.dump();
    EXPECT_EQ(run["config"], "tiny");
  }
  double ratio = 0;
  for (const auto& row : j["rows"])
    if (row["impl"] == "anetrain") ratio = row.value("ratio", 0.0);
  EXPECT_GT(ratio, 0.0);
  // "% peak" is taken against the peak anetrain measured in the same round.
  EXPECT_GT(j["runs"][0].value("measured_peak_gflops", 0.0) +
                j["runs"][1].value("measured_peak_gflops", 0.0),
            0.0);
  for (const auto& row : j["rows"]) {
    EXPECT_EQ(row["peak_source"], "measured") << row.dump();
    EXPECT_NEAR(row["pct_peak"].get<double>(),
                100.0 * row["gflops"].get<double>() / row["peak_gflops"].get<double>(), 1e-6);
  }
  EXPECT_NE(table.find("(measured)"), std::string::npos) << table;
  // The notes name what the peak loop ran on.
  EXPECT_NE(table.find("peak loops: fp32 on VFMADD"), std::string::npos) << table;
  // And the memory bandwidth measured with it (bench --measure-peak).
  EXPECT_NE(table.find("memory bandwidth (in place) "), std::string::npos) << table;
}

TEST(ComparePytorch, TakesAGivenPeakAndRejectsANonPositiveOne) {
  testing::TempDir dir;
  const std::string out = dir.file("out"), err = dir.file("err"), saved = dir.file("runs.json");
  ASSERT_EQ(compare("--configs tiny --steps 1 --warmup 0 --rounds 1 --wait-idle 0 "
                    "--peak-fp32 400 --precision fp32 --save " +
                        saved,
                    out, err),
            0)
      << testing::read_bytes(err);
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(saved));
  for (const auto& row : j["rows"]) {
    EXPECT_EQ(row["peak_source"], "given") << row.dump();
    EXPECT_EQ(row["peak_gflops"].get<double>(), 400.0);
  }
  EXPECT_NE(testing::read_bytes(out).find("fp32 400 (given)"), std::string::npos)
      << testing::read_bytes(out);
  EXPECT_EQ(compare("--configs tiny --peak-bf16 0 --wait-idle 0", out, err), 2);
  EXPECT_NE(testing::read_bytes(err).find("--peak-bf16 must be positive"), std::string::npos)
      << testing::read_bytes(err);
}

TEST(ComparePytorch, RejectsAnUnknownWorkload) {
  testing::TempDir dir;
  const std::string out = dir.file("out"), err = dir.file("err");
  EXPECT_EQ(compare("--configs nonsense --wait-idle 0", out, err), 2);
  EXPECT_NE(testing::read_bytes(err).find("unknown config(s) nonsense"), std::string::npos)
      << testing::read_bytes(err);
}

// A peak below what a step achieved (here one given absurdly low) is a wrong peak: the table
// says "over peak" and says why, never a percentage above 100. PyTorch runs with --malloc heap
// by default, and the notes say so.
TEST(ComparePytorch, NeverPrintsAPercentageAbovePeak) {
  testing::TempDir dir;
  const std::string out = dir.file("out"), err = dir.file("err"), saved = dir.file("runs.json");
  ASSERT_EQ(compare("--configs tiny --steps 2 --warmup 1 --rounds 1 --wait-idle 0 "
                    "--peak-fp32 0.001 --peak-bf16 0.001 --save " +
                        saved,
                    out, err),
            0)
      << testing::read_bytes(err);
  const std::string table = testing::read_bytes(out);
  EXPECT_NE(table.find("over peak"), std::string::npos) << table;
  EXPECT_NE(table.find("not the machine's fastest unit"), std::string::npos) << table;
  EXPECT_NE(table.find("malloc heap"), std::string::npos) << table;
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(saved));
  for (const auto& row : j["rows"]) EXPECT_GT(row["pct_peak"].get<double>(), 100.0) << row.dump();
  // No cell of the table holds a number above 100 followed by nothing but a "% peak" column.
  for (const auto& row : j["rows"]) {
    char shown[32];
    std::snprintf(shown, sizeof shown, " %.1f ", row["pct_peak"].get<double>());
    EXPECT_EQ(table.find(shown), std::string::npos) << shown << " in\n" << table;
  }
}

}  // namespace
}  // namespace anetrain
