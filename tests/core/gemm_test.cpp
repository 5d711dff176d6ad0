// The GEMM entry point against a plain double loop, for every transpose combination and
// leading dimensions wider than the matrices, in fp32 and in bf16 (inputs rounded to bf16,
// fp32 accumulation: about 3 significant digits).
#include "core/gemm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

// m > k with beta = 0 takes the matmul-primitive path for transposed A (gemm_onednn.cpp);
// region: the inputs sit inside a Bf16ReadOnlyRegion (bf16 reads the pre-rounded copy).
double max_relative_error(GemmPrecision precision, Trans ta, Trans tb, int64_t m = 37,
                          int64_t k = 45, float beta = 1.0f, bool region = false) {
  const int64_t n = 29, lda = 50, ldb = 52, ldc = 31;
  Rng rng(3);
  std::vector<float> ab(64 * lda + 64 * ldb), c(m * ldc);
  float *a = ab.data(), *b = ab.data() + 64 * lda;
  for (auto& v : ab) v = static_cast<float>(rng.normal());
  for (auto& v : c) v = static_cast<float>(rng.normal());
  const std::vector<float> c0 = c;
  set_gemm_precision(precision);
  {
    std::unique_ptr<Bf16ReadOnlyRegion> guard;
    if (region) guard = std::make_unique<Bf16ReadOnlyRegion>(ab.data(), ab.size());
    gemm(ta, tb, m, n, k, 0.5f, a, lda, b, ldb, beta, c.data(), ldc);
  }
  set_gemm_precision(GemmPrecision::kFp32);
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = ta == Trans::kYes ? a[p * lda + i] : a[i * lda + p];
        const double bv = tb == Trans::kYes ? b[j * ldb + p] : b[p * ldb + j];
        sum += av * bv;
      }
      const double expected = 0.5 * sum + beta * c0[i * ldc + j];
      worst = std::max(worst, std::fabs(c[i * ldc + j] - expected));
      scale = std::max(scale, std::fabs(expected));
    }
  return worst / scale;
}

TEST(Gemm, Fp32AndBf16MatchAPlainLoopForEveryTranspose) {
  init_thread_pool();
  for (Trans ta : {Trans::kNo, Trans::kYes})
    for (Trans tb : {Trans::kNo, Trans::kYes}) {
      EXPECT_LT(max_relative_error(GemmPrecision::kFp32, ta, tb), 1e-5);
      if (__builtin_cpu_supports("avx512bf16")) {
        const double e = max_relative_error(GemmPrecision::kBf16, ta, tb);
        EXPECT_LT(e, 2e-2);
        EXPECT_GT(e, 1e-5) << "bf16 mode must really round its inputs";
        // Inputs read from a read-only region's pre-rounded copy: the same rounding.
        const double r = max_relative_error(GemmPrecision::kBf16, ta, tb, 37, 45, 1.0f, true);
        EXPECT_LT(r, 2e-2);
        EXPECT_NEAR(r, e, 1e-6);
      }
      // More rows than depth, beta 0: the transposed-A case runs on the matmul primitive.
      EXPECT_LT(max_relative_error(GemmPrecision::kFp32, ta, tb, 45, 37, 0.0f), 1e-5);
    }
  EXPECT_THROW(parse_gemm_precision("fp8"), UserError);
}

// Rounds to bfloat16, nearest even, computed independently of gemm_onednn.cpp (via double).
float bf16_nearest(float x) {
  int exponent = 0;
  std::frexp(static_cast<double>(x), &exponent);
  const double ulp = std::ldexp(1.0, exponent - 8);  // bf16 keeps 8 significant bits
  return static_cast<float>(std::nearbyint(static_cast<double>(x) / ulp) * ulp);
}

TEST(Gemm, Bf16RoundsEveryElementOfLargeOperandsSplitAcrossThreads) {
  init_thread_pool();
  std::optional<testing::Bf16Scope> bf16(std::in_place);
  if (!bf16->available()) GTEST_SKIP() << "no bf16 mode with this GEMM library";
  // Big enough that both operands' rows are rounded in one region split across the pool,
  // with a chunk boundary inside A or B; lda > k so padding must be skipped.
  const int64_t m = 301, k = 257, n = 123, lda = 260;
  Rng rng(11);
  std::vector<float> a(m * lda), b(k * n), c(m * n);
  for (auto& v : a) v = static_cast<float>(rng.normal());
  for (auto& v : b) v = static_cast<float>(rng.normal());
  auto check = [&](const char* what) {
    double worst = 0;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0, magnitude = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double term =
              static_cast<double>(bf16_nearest(a[i * lda + p])) * bf16_nearest(b[p * n + j]);
          sum += term, magnitude += std::fabs(term);
        }
        worst = std::max(worst, std::fabs(c[i * n + j] - sum) / magnitude);
      }
    // fp32 accumulation of exactly rounded inputs; a wrong rounding of one element costs ~1e-3.
    EXPECT_LT(worst, 1e-5) << what << " (" << bf16->units() << ")";
  };
  gemm(Trans::kNo, Trans::kNo, m, n, k, 1.0f, a.data(), lda, b.data(), n, 0.0f, c.data(), n);
  check("both operands rounded per call");
  {
    Bf16ReadOnlyRegion region(b.data(), static_cast<int64_t>(b.size()));
    gemm(Trans::kNo, Trans::kNo, m, n, k, 1.0f, a.data(), lda, b.data(), n, 0.0f, c.data(), n);
  }
  check("B from a region, A rounded per call");
}

TEST(Gemm, Bf16ReadOnlyRegionRoundsOnceAtTheStart) {
  init_thread_pool();
  std::vector<float> w(8 * 8, 1.0f), x(8 * 4, 2.0f), y(8 * 4, 0.0f);
  std::optional<testing::Bf16Scope> bf16(std::in_place);
  if (!bf16->available()) GTEST_SKIP() << "no bf16 mode with this GEMM library";
  {
    Bf16ReadOnlyRegion region(w.data(), static_cast<int64_t>(w.size()));
    // Breaking the region's promise shows which copy gemm() reads: the one rounded when the
    // region began (all ones), not the current zeros.
    std::fill(w.begin(), w.end(), 0.0f);
    gemm(Trans::kNo, Trans::kNo, 8, 4, 8, 1.0f, w.data(), 8, x.data(), 4, 0.0f, y.data(), 4);
  }
  EXPECT_EQ(y[0], 16.0f);
  // Outside a region every call rounds what it is given.
  gemm(Trans::kNo, Trans::kNo, 8, 4, 8, 1.0f, w.data(), 8, x.data(), 4, 0.0f, y.data(), 4);
  bf16.reset();  // back to fp32
  EXPECT_EQ(y[0], 0.0f);
  // In fp32 a region does nothing.
  Bf16ReadOnlyRegion fp32_region(w.data(), static_cast<int64_t>(w.size()));
  std::fill(w.begin(), w.end(), 3.0f);
  gemm(Trans::kNo, Trans::kNo, 8, 4, 8, 1.0f, w.data(), 8, x.data(), 4, 0.0f, y.data(), 4);
  EXPECT_EQ(y[0], 48.0f);
}

// round_to_bf16 (the attention operands' rounding) against the independent rounding above,
// on random values and on exact ties (which go to the even neighbour).
TEST(Gemm, RoundToBf16IsNearestEven) {
  Rng rng(5);
  std::vector<float> x(1000);
  for (auto& v : x) v = static_cast<float>(rng.normal() * 100);
  x[0] = 1.0f + 1.0f / 256;  // halfway between 1 and 1 + 2^-7: goes down to 1 (even)
  x[1] = 1.0f + 3.0f / 256;  // halfway between 1 + 2^-7 and 1 + 2^-6: goes up
  std::vector<uint16_t> out(x.size());
  round_to_bf16(x.data(), 10, 100, 100, out.data(), 100);
  for (size_t i = 0; i < x.size(); ++i) {
    const uint32_t bits = static_cast<uint32_t>(out[i]) << 16;
    float widened;
    std::memcpy(&widened, &bits, sizeof widened);
    ASSERT_EQ(widened, bf16_nearest(x[i])) << "element " << i << " = " << x[i];
  }
  EXPECT_EQ(out[0], 0x3F80);
  EXPECT_EQ(out[1], 0x3F82);
}

// gemm_bf16 on operands rounded up front, read in place with leading dimensions wider than
// the matrices, beta = 1: fp32 accumulation of exact products, every transpose.
TEST(Gemm, Bf16OperandsReadInPlaceAccumulateInFp32) {
  init_thread_pool();
  testing::Bf16Scope bf16;
  if (!bf16.available()) GTEST_SKIP() << "no bf16 mode with this GEMM library";
  const int64_t m = 37, n = 29, k = 45, lda = 50, ldb = 52, ldc = 31;
  Rng rng(7);
  std::vector<float> a(64 * lda), b(64 * ldb), c(m * ldc);
  for (auto& v : a) v = static_cast<float>(rng.normal());
  for (auto& v : b) v = static_cast<float>(rng.normal());
  for (auto& v : c) v = static_cast<float>(rng.normal());
  std::vector<uint16_t> a16(a.size()), b16(b.size());
  round_to_bf16(a.data(), 64, lda, lda, a16.data(), lda);
  round_to_bf16(b.data(), 64, ldb, ldb, b16.data(), ldb);
  for (Trans ta : {Trans::kNo, Trans::kYes})
    for (Trans tb : {Trans::kNo, Trans::kYes}) {
      std::vector<float> out = c;
      gemm_bf16(ta, tb, m, n, k, 0.5f, a16.data(), lda, b16.data(), ldb, 1.0f, out.data(), ldc);
      double worst = 0;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double sum = 0, magnitude = std::fabs(c[i * ldc + j]);
          for (int64_t p = 0; p < k; ++p) {
            const double term = 0.5 *
                                bf16_nearest(ta == Trans::kYes ? a[p * lda + i] : a[i * lda + p]) *
                                bf16_nearest(tb == Trans::kYes ? b[j * ldb + p] : b[p * ldb + j]);
            sum += term, magnitude += std::fabs(term);
          }
          worst = std::max(worst, std::fabs(out[i * ldc + j] - c[i * ldc + j] - sum) / magnitude);
        }
      EXPECT_LT(worst, 1e-5) << bf16.units() << " " << static_cast<char>(ta)
                             << static_cast<char>(tb);
    }
}

// The attention kernels call gemm_bf16 from every pool thread at once, on primitives another
// thread created and cached (a primitive with a library-owned scratchpad may not do that).
// Every thread, repeatedly and concurrently on its own output, must get exactly the result of
// a lone call; also for a shape first met inside the parallel region.
TEST(Gemm, Bf16ProductsRunConcurrentlyFromEveryThread) {
  init_thread_pool();
  testing::Bf16Scope bf16;
  if (!bf16.available()) GTEST_SKIP() << "no bf16 mode with this GEMM library";
  const int64_t m = 128, n = 160, k = 64;
  Rng rng(11);
  std::vector<float> a(k * m), b(k * n);
  for (auto& v : a) v = static_cast<float>(rng.normal());
  for (auto& v : b) v = static_cast<float>(rng.normal());
  std::vector<uint16_t> a16(a.size()), b16(b.size());
  round_to_bf16(a.data(), k, m, m, a16.data(), m);
  round_to_bf16(b.data(), k, n, n, b16.data(), n);
  for (const bool met_before : {true, false}) {
    const int64_t rows = met_before ? m : m - 1;  // a shape this test has not run yet
    std::vector<float> alone(rows * n);
    if (met_before)
      gemm_bf16(Trans::kYes, Trans::kNo, rows, n, k, 0.125f, a16.data(), m, b16.data(), n, 0.0f,
                alone.data(), n);
    const int threads = num_threads();
    std::vector<std::vector<float>> outs(threads, std::vector<float>(rows * n));
#pragma omp parallel num_threads(threads)
    {
      std::vector<float>& out = outs[omp_get_thread_num()];
      for (int repeat = 0; repeat < 50; ++repeat)
        gemm_bf16(Trans::kYes, Trans::kNo, rows, n, k, 0.125f, a16.data(), m, b16.data(), n, 0.0f,
                  out.data(), n);
    }
    if (!met_before)
      gemm_bf16(Trans::kYes, Trans::kNo, rows, n, k, 0.125f, a16.data(), m, b16.data(), n, 0.0f,
                alone.data(), n);
    for (int t = 0; t < threads; ++t)
      EXPECT_EQ(outs[t], alone) << bf16.units() << ", thread " << t
                                << (met_before ? "" : ", shape first met in the region");
  }
}

}  // namespace
}  // namespace anetrain
