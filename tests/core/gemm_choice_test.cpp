// The per-product library choice (core/gemm_choice.h): the faster candidate is chosen by
// timing, stored, and a stored choice is used as it is by later callers, so every process of a
// machine multiplies a product with the same library (bit-exact resume, identical replicas).
#include "core/gemm_choice.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

constexpr const char* kCandidates[] = {"slow", "fast"};

// Candidate 0 takes 3 ms, candidate 1 0.3 ms; both write a mark into C.
std::function<void(int, float*)> timed_candidates(std::atomic<int>* runs) {
  return [runs](int i, float* c) {
    ++*runs;
    std::this_thread::sleep_for(std::chrono::microseconds(i == 0 ? 3000 : 300));
    c[0] = static_cast<float>(i);
  };
}

GemmCall call_with_m(int64_t m) { return {.m = m, .n = 4, .k = 4, .ldc = 4}; }

std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

TEST(GemmChoice, TheFasterCandidateIsChosenAndStored) {
  testing::TempDir dir;
  std::vector<float> c(16, 0.0f);
  std::atomic<int> runs{0};
  const GemmCall call = call_with_m(4);
  EXPECT_EQ(choose_gemm(dir.path(), call, kCandidates, timed_candidates(&runs), c.data()), 1);
  EXPECT_GT(runs.load(), 2);
  EXPECT_EQ(c[0], 0.0f) << "the measurement wrote into the caller's C";
  EXPECT_EQ(first_line(dir.path() + "/" + call.key()), "fast");
  // Known now: no more runs.
  const int before = runs.load();
  EXPECT_EQ(choose_gemm(dir.path(), call, kCandidates, timed_candidates(&runs), c.data()), 1);
  EXPECT_EQ(runs.load(), before);
}

// A choice another process stored is used as it is, even if it measured otherwise here.
TEST(GemmChoice, AStoredChoiceIsUsedWithoutMeasuring) {
  testing::TempDir dir;
  const GemmCall call = call_with_m(5);
  std::ofstream(dir.path() + "/" + call.key()) << "slow\nslow 1 GFLOPS\nfast 10 GFLOPS\n";
  std::vector<float> c(20, 0.0f);
  std::atomic<int> runs{0};
  EXPECT_EQ(choose_gemm(dir.path(), call, kCandidates, timed_candidates(&runs), c.data()), 0);
  EXPECT_EQ(runs.load(), 0);
}

TEST(GemmChoice, AStoredChoiceOfAnotherBuildIsAOneLineError) {
  testing::TempDir dir;
  const GemmCall call = call_with_m(6);
  const std::string path = dir.path() + "/" + call.key();
  std::ofstream(path) << "cublas\n";
  std::vector<float> c(24, 0.0f);
  std::atomic<int> runs{0};
  const std::string error = testing::user_error_of(
      [&] { choose_gemm(dir.path(), call, kCandidates, timed_candidates(&runs), c.data()); });
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("delete it"), std::string::npos) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
}

TEST(GemmChoice, AStoreThatCannotBeWrittenIsAOneLineError) {
  std::vector<float> c(28, 0.0f);
  std::atomic<int> runs{0};
  const std::string error = testing::user_error_of([&] {
    choose_gemm("/proc/anetrain-cannot-write-here", call_with_m(7), kCandidates,
                timed_candidates(&runs), c.data());
  });
  EXPECT_NE(error.find("ANETRAIN_GEMM_CHOICES"), std::string::npos) << error;
}

// The key names the transposes and the shape, and nothing about the layout: a product keeps
// its library whatever its strides, beta or buffers (recomputation must not change a bit).
TEST(GemmChoice, TheKeyNamesTransposesAndShapeOnly) {
  GemmCall a = call_with_m(8), b = a;
  b.trans_a = 'T';
  EXPECT_NE(a.key(), b.key());
  b = call_with_m(9);
  EXPECT_NE(a.key(), b.key());
  b = a;
  b.ldc = 5;
  EXPECT_EQ(a.key(), b.key());
}

// Two processes meeting the same products at once with an empty store end up using the same
// library for each (the first stored choice wins; the other process adopts it).
TEST(GemmChoice, ConcurrentProcessesAgreeOnEveryProduct) {
  testing::TempDir dir;
  setenv("ANETRAIN_GEMM_CHOICES", dir.path().c_str(), 1);
  const std::vector<std::string> args = {"bench", "--config", "tiny", "--steps", "2", "--profile"};
  testing::CommandResult first, second;
  std::thread other([&] { second = testing::run_anetrain(args); });
  first = testing::run_anetrain(args);
  other.join();
  unsetenv("ANETRAIN_GEMM_CHOICES");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto gemm_table = [](const std::string& out) {
    std::vector<std::string> rows;
    std::istringstream in(out.substr(out.find("GEMMs by shape")));
    std::string line;
    while (std::getline(in, line) && line.rfind("(all gemm", 0) != 0)
      rows.push_back(line.substr(0, 40) + line.substr(line.rfind(' ')));
    return rows;
  };
  EXPECT_EQ(gemm_table(first.out), gemm_table(second.out)) << first.out << second.out;
  EXPECT_FALSE(std::filesystem::is_empty(dir.path()));
}

}  // namespace
}  // namespace anetrain
