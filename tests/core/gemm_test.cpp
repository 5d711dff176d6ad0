// The GEMM entry point against a plain double loop, for every transpose combination and
// leading dimensions wider than the matrices, in fp32 and in bf16 (inputs rounded to bf16,
// fp32 accumulation: about 3 significant digits).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace anetrain {
namespace {

double max_relative_error(GemmPrecision precision, Trans ta, Trans tb) {
  const int64_t m = 37, n = 29, k = 45, lda = 50, ldb = 52, ldc = 31;
  Rng rng(3);
  std::vector<float> a(64 * lda), b(64 * ldb), c(m * ldc);
  for (auto& v : a) v = static_cast<float>(rng.normal());
  for (auto& v : b) v = static_cast<float>(rng.normal());
  for (auto& v : c) v = static_cast<float>(rng.normal());
  const std::vector<float> c0 = c;
  set_gemm_precision(precision);
  gemm(ta, tb, m, n, k, 0.5f, a.data(), lda, b.data(), ldb, 1.0f, c.data(), ldc);
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
      const double expected = 0.5 * sum + c0[i * ldc + j];
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
      }
    }
  EXPECT_THROW(parse_gemm_precision("fp8"), UserError);
}

}  // namespace
}  // namespace anetrain
