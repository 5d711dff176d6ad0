// What `bench --profile` builds its GEMM table from: gemm() records each call under its shape
// while the profiler is on (and only then), with bf16 pre-rounding noted per operand, and
// time_gemm_alone replays a recorded shape.
#include <gtest/gtest.h>

#include <vector>

#include "core/gemm.h"
#include "core/gemm_alone.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace anetrain {
namespace {

TEST(GemmProfile, RecordsEachShapeWhileEnabled) {
  init_thread_pool();
  std::vector<float> a(6 * 4, 1.0f), b(4 * 5, 1.0f), c(6 * 5, 0.0f);
  Profiler& profiler = Profiler::get();
  profiler.reset();
  gemm(Trans::kNo, Trans::kNo, 6, 5, 4, 1.0f, a.data(), 4, b.data(), 5, 0.0f, c.data(), 5);
  EXPECT_TRUE(profiler.gemms().empty()) << "disabled: nothing recorded";
  profiler.enable(true);
  gemm(Trans::kNo, Trans::kNo, 6, 5, 4, 1.0f, a.data(), 4, b.data(), 5, 0.0f, c.data(), 5);
  gemm(Trans::kNo, Trans::kNo, 6, 5, 4, 1.0f, a.data(), 4, b.data(), 5, 1.0f, c.data(), 5);
  gemm(Trans::kNo, Trans::kNo, 6, 5, 4, 1.0f, a.data(), 4, b.data(), 5, 1.0f, c.data(), 5);
  gemm(Trans::kYes, Trans::kNo, 4, 5, 6, 1.0f, a.data(), 4, c.data(), 5, 0.0f, b.data(), 5);
  profiler.enable(false);
  EXPECT_EQ(c[0], 12.0f);
  ASSERT_EQ(profiler.gemms().size(), 3u);
  GemmShape plain{'N', 'N', 6, 5, 4, false, false, false};
  GemmShape accumulate = plain;
  accumulate.accumulate = true;
  const GemmShape transposed{'T', 'N', 4, 5, 6, false, false, false};
  EXPECT_EQ(profiler.gemms().at(plain).calls, 1);
  EXPECT_EQ(profiler.gemms().at(accumulate).calls, 2);
  EXPECT_EQ(profiler.gemms().at(accumulate).flops, 2 * gemm_flops(6, 5, 4));
  EXPECT_EQ(profiler.gemms().at(transposed).calls, 1);
  EXPECT_GT(profiler.gemms().at(transposed).seconds, 0.0);
  profiler.reset();
  EXPECT_TRUE(profiler.gemms().empty());
}

TEST(GemmProfile, NotesOperandsReadFromABf16Region) {
  if (!__builtin_cpu_supports("avx512bf16")) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  init_thread_pool();
  std::vector<float> w(8 * 8, 1.0f), x(8 * 4, 2.0f), y(8 * 4, 0.0f);
  Profiler& profiler = Profiler::get();
  profiler.reset();
  profiler.enable(true);
  set_gemm_precision(GemmPrecision::kBf16);
  {
    Bf16ReadOnlyRegion region(w.data(), static_cast<int64_t>(w.size()));
    gemm(Trans::kNo, Trans::kNo, 8, 4, 8, 1.0f, w.data(), 8, x.data(), 4, 0.0f, y.data(), 4);
  }
  gemm(Trans::kNo, Trans::kNo, 8, 4, 8, 1.0f, w.data(), 8, x.data(), 4, 0.0f, y.data(), 4);
  profiler.enable(false);
  ASSERT_EQ(profiler.gemms().size(), 2u);
  EXPECT_EQ(profiler.gemms().count({'N', 'N', 8, 4, 8, false, true, false}), 1u);
  EXPECT_EQ(profiler.gemms().count({'N', 'N', 8, 4, 8, false, false, false}), 1u);
  // The replay builds a region over the operand the step had pre-rounded.
  EXPECT_GT(time_gemm_alone({'N', 'T', 64, 32, 48, true, true, false}), 0.0);
  EXPECT_GT(time_gemm_alone({'T', 'N', 64, 32, 48, false, false, true}), 0.0);
  set_gemm_precision(GemmPrecision::kFp32);
  EXPECT_EQ(profiler.gemms().size(), 2u) << "replays are not recorded while disabled";
  profiler.reset();
}

TEST(GemmProfile, TimesAShapeAlone) {
  init_thread_pool();
  const double seconds = time_gemm_alone({'N', 'N', 128, 96, 64, false, false, false}, 3);
  EXPECT_GT(seconds, 0.0);
  EXPECT_LT(seconds, 1.0);
}

}  // namespace
}  // namespace anetrain
