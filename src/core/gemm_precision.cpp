// Platform-independent part of core/gemm.h: naming the precision modes, rounding to bf16 and
// bf16 products in software.
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/gemm.h"
#include "core/gemm_internal.h"

namespace anetrain {

GemmPrecision parse_gemm_precision(const std::string& name) {
  if (name == "fp32") return GemmPrecision::kFp32;
  if (name == "bf16") return GemmPrecision::kBf16;
  throw UserError("precision '" + name + "' is unknown: use fp32 or bf16");
}

void round_to_bf16(const float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* out,
                   int64_t ld_out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * ld;
    uint16_t* dst = out + r * ld_out;
    for (int64_t c = 0; c < cols; ++c) {
      uint32_t bits;
      std::memcpy(&bits, in + c, sizeof bits);
      // Round to nearest even on the 16 dropped bits (inputs here are finite).
      dst[c] = static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
    }
  }
}

namespace detail {
namespace {

// A stored rows x cols block of bf16 values (leading dimension ld) as dense fp32.
void widen(const uint16_t* x, int64_t rows, int64_t cols, int64_t ld, float* out) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const uint32_t bits = static_cast<uint32_t>(x[r * ld + c]) << 16;
      std::memcpy(out + r * cols + c, &bits, sizeof bits);
    }
}

}  // namespace

void gemm_bf16_software(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta,
                        float* c, int64_t ldc) {
  const int64_t a_rows = trans_a == Trans::kYes ? k : m, a_cols = trans_a == Trans::kYes ? m : k;
  const int64_t b_rows = trans_b == Trans::kYes ? n : k, b_cols = trans_b == Trans::kYes ? k : n;
  thread_local std::vector<float> a32, b32;
  a32.resize(a_rows * a_cols);
  b32.resize(b_rows * b_cols);
  widen(a, a_rows, a_cols, lda, a32.data());
  widen(b, b_rows, b_cols, ldb, b32.data());
  gemm_fp32(trans_a, trans_b, m, n, k, alpha, a32.data(), a_cols, b32.data(), b_cols, beta, c,
            ldc);
}

}  // namespace detail
}  // namespace anetrain
