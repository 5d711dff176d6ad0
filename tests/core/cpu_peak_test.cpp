// The measured peaks and bandwidth that `bench --measure-peak` sets a step against: each unit
// the CPU has is measured, the figure is physically plausible for that unit (FLOPs counted per
// instruction correctly: a double count would exceed any core's limit), and the fastest unit is
// chosen from what the CPU reports at run time.
#include "core/cpu_peak.h"

#include <gtest/gtest.h>

#include "core/cpu_info.h"
#include "core/parallel.h"

namespace anetrain {
namespace {

constexpr double kMaxGhz = 6.0;

struct UnitBounds {
  PeakUnit unit;
  double max_flops_per_cycle;  // per core: no CPU with the unit does more
  double min_flops_per_cycle;  // per core: any CPU with the unit does at least this much
};

// AVX2: two 256-bit FMA pipes at most (32 FLOPs); AVX-512: two 512-bit (64); VDPBF16PS doubles
// that (128); an AMX tile multiply (16 x 16 x 32) every 16 cycles is 1024, with room for 2x.
// The lower bounds allow a single half-rate pipe at 0.5 GHz of the nominal clock.
constexpr UnitBounds kBounds[] = {
    {PeakUnit::kFmaAvx2, 32, 4},
    {PeakUnit::kFmaAvx512, 64, 8},
    {PeakUnit::kDpbf16, 128, 16},
    {PeakUnit::kAmxBf16, 2048, 64},
};

TEST(CpuPeak, EveryUnitTheCpuHasIsMeasuredAndPlausible) {
  init_thread_pool();
  int measured = 0;
  for (const UnitBounds& b : kBounds) {
    const double peak = measure_peak_gflops(b.unit);
    if (!cpu_can_run(b.unit)) {
      EXPECT_EQ(peak, 0.0) << unit_name(b.unit) << ": the CPU cannot run it, nothing measured";
      continue;
    }
    ++measured;
    EXPECT_GT(peak, num_threads() * b.min_flops_per_cycle * 0.5) << unit_name(b.unit);
    EXPECT_LT(peak, num_threads() * b.max_flops_per_cycle * kMaxGhz) << unit_name(b.unit);
  }
#if defined(__x86_64__)
  EXPECT_GT(measured, 0) << "every x86-64 CPU anetrain supports has AVX2 and FMA";
#endif
}

// The fastest unit follows CPUID: AMX tiles for bf16 where granted, else AVX512-BF16; 512-bit
// FMAs for fp32 where AVX-512 exists. A bf16 peak is never the slower VDPBF16PS loop on a CPU
// whose GEMMs run on tiles (the wrong "peak" an Intel Xeon once showed as 230%).
TEST(CpuPeak, TheFastestUnitIsChosenFromTheCpu) {
  const PeakUnit bf16 = fastest_unit(GemmPrecision::kBf16);
  if (cpu_can_run(PeakUnit::kAmxBf16))
    EXPECT_EQ(bf16, PeakUnit::kAmxBf16);
  else if (cpu_can_run(PeakUnit::kDpbf16))
    EXPECT_EQ(bf16, PeakUnit::kDpbf16);
  else
    EXPECT_EQ(bf16, PeakUnit::kNone);
  const PeakUnit fp32 = fastest_unit(GemmPrecision::kFp32);
  EXPECT_EQ(fp32, cpu_can_run(PeakUnit::kFmaAvx512) ? PeakUnit::kFmaAvx512 : PeakUnit::kFmaAvx2);
#if defined(__x86_64__)
  EXPECT_EQ(cpu_can_run(PeakUnit::kFmaAvx512), __builtin_cpu_supports("avx512f") != 0);
  EXPECT_EQ(cpu_can_run(PeakUnit::kDpbf16), __builtin_cpu_supports("avx512bf16") != 0);
  // AMX needs the kernel's grant too, so it is at most what CPUID says.
  if (!cpu_has_amx_bf16()) EXPECT_FALSE(cpu_can_run(PeakUnit::kAmxBf16));
#endif
}

TEST(CpuPeak, NamesTheUnitItMeasured) {
  EXPECT_EQ(peak_unit(GemmPrecision::kFp32), unit_name(fastest_unit(GemmPrecision::kFp32)));
  EXPECT_EQ(unit_name(PeakUnit::kFmaAvx512), "VFMADD (AVX-512)");
  EXPECT_EQ(unit_name(PeakUnit::kAmxBf16), "TDPBF16PS (AMX-BF16 tiles)");
  EXPECT_EQ(unit_name(PeakUnit::kNone), "");
  const std::string bf16 = peak_unit(GemmPrecision::kBf16);
  if (fastest_unit(GemmPrecision::kBf16) == PeakUnit::kNone) {
    EXPECT_EQ(bf16, "");
    return;
  }
  EXPECT_EQ(bf16.rfind(unit_name(fastest_unit(GemmPrecision::kBf16)), 0), 0u) << bf16;
  // Tiles present but not used are named, so nobody reads the slower loop as the bf16 peak.
  EXPECT_EQ(bf16.find("AMX") != std::string::npos, cpu_has_amx_bf16()) << bf16;
}

// 12 bytes per element at a rate no DRAM reaches (1 TB/s for two cores) would mean a miscount
// or a loop the compiler dropped; below 0.5 GB/s something else is wrong.
TEST(CpuPeak, BandwidthIsPlausible) {
  const double gbs = measure_bandwidth_gbs();
  EXPECT_GT(gbs, 0.5);
  EXPECT_LT(gbs, 1000.0);
}

}  // namespace
}  // namespace anetrain
