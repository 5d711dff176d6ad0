// Pieces shared by the per-platform GEMM files (gemm_onednn.cpp, gemm_accelerate.cpp).
#pragma once

#include <cstdint>

#include "core/gemm.h"

namespace anetrain::detail {

// gemm_bf16() in software: the bf16 operands widened to fp32 (exactly), then gemm_fp32().
void gemm_bf16_software(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta,
                        float* c, int64_t ldc);

}  // namespace anetrain::detail
