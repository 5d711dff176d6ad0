// GEMM on macOS through Accelerate's CBLAS (runs on the CPU's AMX units on Apple Silicon).
#include <Accelerate/Accelerate.h>

#include "core/error.h"
#include "core/gemm.h"
#include "core/gemm_internal.h"
#include "core/profiler.h"

namespace anetrain {

// Accelerate has no bf16 GEMM entry point; the bf16 mode is refused on macOS (gemm() checks).
static GemmPrecision g_precision = GemmPrecision::kFp32;
void set_gemm_precision(GemmPrecision precision) {
  if (precision == GemmPrecision::kBf16)
    throw UserError("precision bf16 is not available with Accelerate: use --precision fp32");
  g_precision = precision;
}

GemmPrecision gemm_precision() { return g_precision; }

std::string gemm_choice_store() { return ""; }

void emulate_bf16_products(bool on) {
  if (on) throw UserError("bf16 products are not emulated with Accelerate (no bf16 mode here)");
}

// Unreachable while bf16 is refused; kept correct rather than trapping.
void gemm_bf16(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta,
               float* c, int64_t ldc) {
  detail::gemm_bf16_software(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// bf16 is refused here, so there is nothing to round ahead of time.
Bf16ReadOnlyRegion::Bf16ReadOnlyRegion(const float*, int64_t) {}
Bf16ReadOnlyRegion::~Bf16ReadOnlyRegion() {}

void gemm_fp32(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc) {
  gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);  // always fp32 here
}

void gemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  if (m == 0 || n == 0) return;
  GemmProfileScope profile({static_cast<char>(trans_a), static_cast<char>(trans_b), m, n, k,
                            beta != 0.0f, false, false});
  profile.ran_on("accelerate");
  cblas_sgemm(CblasRowMajor, trans_a == Trans::kYes ? CblasTrans : CblasNoTrans,
              trans_b == Trans::kYes ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b,
              static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

}  // namespace anetrain

namespace anetrain {

std::string gemm_library() { return "Apple Accelerate (cblas_sgemm)"; }

}  // namespace anetrain
