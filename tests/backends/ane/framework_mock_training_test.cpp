// A user's commands over the framework driver on the mock (tests/ane_framework_mock): the 3-layer
// tiny training gives the fake driver's losses bit for bit on both pipelines (the static one
// exec()s itself along the way), and every process of the run ends with nothing alive in the
// framework, no compile directory left in $TMPDIR and the compile cache within its limit;
// `anetrain probe` runs through the same path.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/ane/tiny_ane_run.h"
#include "support/test_util.h"

namespace anetrain::testing {
namespace {
namespace fs = std::filesystem;

int64_t bytes_under(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& f : fs::recursive_directory_iterator(dir, ec))
    if (f.is_regular_file()) total += static_cast<int64_t>(f.file_size());
  return total;
}

// Runs anetrain with the framework driver on the mock; the mock reports every process's
// final counts into `dir`/reports, and the compile directories go to `dir`/tmp.
CommandResult run_over_mock(const TempDir& dir, const std::vector<std::string>& args) {
#ifdef ANETRAIN_FRAMEWORK_MOCK
  fs::create_directories(dir.file("tmp"));
  const char* saved = std::getenv("TMPDIR");
  const std::string saved_tmpdir = saved ? saved : "";
  unsetenv("ANETRAIN_ANE_DRIVER");
  setenv("ANETRAIN_TEST_ANE_FRAMEWORK", ANETRAIN_FRAMEWORK_MOCK, 1);
  setenv("ANEMOCK_REPORT_DIR", dir.file("reports").c_str(), 1);
  setenv("ANETRAIN_ANE_CACHE", dir.file("cache").c_str(), 1);
  setenv("ANETRAIN_ANE_CACHE_LIMIT_MB", "2", 1);
  setenv("TMPDIR", dir.file("tmp").c_str(), 1);
  fs::create_directories(dir.file("reports"));
  CommandResult r = run_anetrain(args);
  for (const char* v : {"ANETRAIN_TEST_ANE_FRAMEWORK", "ANEMOCK_REPORT_DIR", "ANETRAIN_ANE_CACHE",
                        "ANETRAIN_ANE_CACHE_LIMIT_MB"})
    unsetenv(v);
  if (saved_tmpdir.empty())
    unsetenv("TMPDIR");
  else
    setenv("TMPDIR", saved_tmpdir.c_str(), 1);
  return r;
#else
  (void)dir;
  (void)args;
  return {};
#endif
}

// Every process ended with nothing alive and nothing left on disk; returns how many there were.
int expect_clean_processes(const TempDir& dir) {
  int processes = 0;
  for (const auto& f : fs::directory_iterator(dir.file("reports"))) {
    ++processes;
    std::ifstream in(f.path());
    const nlohmann::json report = nlohmann::json::parse(in);
    for (const char* count : {"live_objects", "live_ane_objects", "live_surfaces", "pool_depth",
                              "pending_autoreleases", "loaded_models"})
      EXPECT_EQ(report.at(count).get<int64_t>(), 0) << count << " in " << report.dump();
  }
  EXPECT_TRUE(fs::is_empty(dir.file("tmp"))) << "compile directories left in $TMPDIR";
  return processes;
}

class TrainingOverTheMock : public ::testing::TestWithParam<std::string> {};

TEST_P(TrainingOverTheMock, GivesTheFakeDriversLossesAndLeavesNothing) {
#ifndef ANETRAIN_FRAMEWORK_MOCK
  GTEST_SKIP() << "the framework mock is built on x86-64 Linux only";
#endif
  TempDir dir;
  write_shard(dir.file("d.bin"), pattern_tokens(30000, 512, 3));
  auto args = [&](const std::string& out) {
    return tiny_ane_run(dir.file("d.bin"), GetParam(), out, "ane");
  };
  setenv("ANETRAIN_ANE_DRIVER", "fake", 1);
  setenv("ANETRAIN_ANE_CACHE", dir.file("fake-cache").c_str(), 1);
  const CommandResult fake = run_anetrain(args(dir.file("fake")));
  unsetenv("ANETRAIN_ANE_DRIVER");
  unsetenv("ANETRAIN_ANE_CACHE");
  ASSERT_EQ(fake.exit_code, 0) << fake.err;
  const CommandResult r = run_over_mock(dir, args(dir.file("mock")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("backend ane"), std::string::npos) << r.out;
  const std::vector<double> expected = metrics_losses(dir.file("fake/metrics.jsonl")),
                            got = metrics_losses(dir.file("mock/metrics.jsonl"));
  ASSERT_EQ(expected.size(), 50u);
  ASSERT_EQ(got.size(), 50u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << "step " << i + 1;
  int restarts = 0;
  for (size_t at = 0; (at = r.out.find("restarting (exec)", at)) != std::string::npos; ++at)
    ++restarts;
  if (GetParam() == "static") EXPECT_GT(restarts, 0) << r.out;
  EXPECT_EQ(expect_clean_processes(dir), restarts + 1);
  EXPECT_LE(bytes_under(dir.file("cache")), int64_t{2} << 20);
}

INSTANTIATE_TEST_SUITE_P(Pipelines, TrainingOverTheMock, ::testing::Values("dynamic", "static"));

TEST(ProbeOverTheMock, MeasuresThroughTheFrameworkDriver) {
#ifndef ANETRAIN_FRAMEWORK_MOCK
  GTEST_SKIP() << "the framework mock is built on x86-64 Linux only";
#endif
  TempDir dir;
  const CommandResult r = run_over_mock(dir, {"probe", "--runs", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ANE: available through the AppleNeuralEngine API in"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("chain of 16 convs"), std::string::npos) << r.out;
  EXPECT_EQ(expect_clean_processes(dir), 1);
}

}  // namespace
}  // namespace anetrain::testing
