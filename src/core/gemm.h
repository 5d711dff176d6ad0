// The one GEMM entry point of anetrain. Every matrix product on the hot path goes through
// here, so swapping or tuning the BLAS touches one file per platform:
//   gemm_onednn.cpp (Linux, oneDNN), gemm_accelerate.cpp (macOS, Accelerate).
// Row-major, BLAS semantics: C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
#pragma once

#include <cstdint>

namespace anetrain {

enum class Trans : char { kNo = 'N', kYes = 'T' };

void gemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc);

// FLOPs of one such product, as counted everywhere in anetrain (2 per multiply-add).
inline double gemm_flops(int64_t m, int64_t n, int64_t k) { return 2.0 * m * n * k; }

}  // namespace anetrain
