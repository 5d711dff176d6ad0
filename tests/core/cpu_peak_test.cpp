// The measured arithmetic peak that `bench --measure-peak` sets a step's GFLOPS against: it
// exists where the build has the vector code, and it is physically plausible (FLOPs counted
// per instruction correctly: a double count would exceed any x86 core's limit).
#include "core/cpu_peak.h"

#include <gtest/gtest.h>

#include "core/cpu_info.h"
#include "core/parallel.h"

namespace anetrain {
namespace {

// No x86 core does more than 64 fp32 FLOPs per cycle (two 512-bit FMA pipes) or 128 in bf16
// dot products, or runs above 6 GHz.
constexpr double kMaxGhz = 6.0;

TEST(CpuPeak, Fp32IsMeasuredAndPlausible) {
#if !(defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__)))
  GTEST_SKIP() << "this build has no FMA loop";
#endif
  init_thread_pool();
  const double peak = measure_peak_gflops(GemmPrecision::kFp32);
  EXPECT_GT(peak, num_threads() * 16 * 0.5);  // a 0.5 GHz AVX2 core would manage this
  EXPECT_LT(peak, num_threads() * 64 * kMaxGhz);
}

TEST(CpuPeak, Bf16OnlyWithDotProductInstructions) {
  init_thread_pool();
  const double peak = measure_peak_gflops(GemmPrecision::kBf16);
#if defined(__AVX512BF16__)
  EXPECT_GT(peak, num_threads() * 32 * 0.5);
  EXPECT_LT(peak, num_threads() * 128 * kMaxGhz);
#else
  EXPECT_EQ(peak, 0.0) << "no AVX512-BF16 in this build: nothing to measure";
#endif
}

// The reports name the unit the loop ran on, and say when the CPU has a faster one the loop
// does not measure (AMX tiles for bf16).
TEST(CpuPeak, NamesTheUnitItMeasured) {
  const std::string fp32 = peak_unit(GemmPrecision::kFp32);
  EXPECT_EQ(fp32.rfind("VFMADD (AVX", 0), 0u) << fp32;
  const std::string bf16 = peak_unit(GemmPrecision::kBf16);
  if (measure_peak_gflops(GemmPrecision::kBf16) == 0) {
    EXPECT_EQ(bf16, "");
    return;
  }
  EXPECT_EQ(bf16.rfind("VDPBF16PS (AVX512-BF16)", 0), 0u) << bf16;
  EXPECT_EQ(bf16.find("AMX") != std::string::npos, cpu_has_amx_bf16()) << bf16;
}

}  // namespace
}  // namespace anetrain
