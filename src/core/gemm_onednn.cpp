// GEMM on Linux through oneDNN's row-major sgemm. oneDNN threads with OpenMP, the same
// runtime as anetrain's own parallel loops (core/parallel.h), so the two never fight over cores.
#include <dnnl.h>

#include "core/error.h"
#include "core/gemm.h"

namespace anetrain {

void gemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc) {
  if (m == 0 || n == 0) return;
  dnnl_status_t status = dnnl_sgemm(static_cast<char>(trans_a), static_cast<char>(trans_b), m, n,
                                    k, alpha, a, lda, b, ldb, beta, c, ldc);
  ANETRAIN_CHECK(status == dnnl_success, "dnnl_sgemm returned " + std::to_string(status));
}

}  // namespace anetrain
