// See attention_products.h.
#include "backends/cpu/attention_products.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"

namespace anetrain::cpu {

AttnOperands attention_operands(std::initializer_list<AttnActivation> activations) {
  ANETRAIN_CHECK(activations.size() <= kMaxAttnActivations, "too many attention operands");
  AttnOperands out;
  const bool bf16 = gemm_precision() == GemmPrecision::kBf16;
  // Grown to the largest size met, then reused: steady-state steps do not allocate.
  static std::vector<uint16_t> rounded[kMaxAttnActivations];
  int64_t total = 0;
  int i = 0;
  for (const AttnActivation& act : activations) {
    out.op[i].f32 = act.x;
    if (bf16 && act.x) {
      if (static_cast<int64_t>(rounded[i].size()) < act.n) rounded[i].resize(act.n);
      out.op[i].bf16 = rounded[i].data();
      total += act.n;
    }
    ++i;
  }
  if (total == 0) return out;
  parallel_for(
      total,
      [&](int64_t i0, int64_t i1) {
        int64_t first = 0;  // index in the concatenation of this activation's element 0
        int j = 0;
        for (const AttnActivation& act : activations) {
          if (act.x) {
            const int64_t lo = std::max(i0, first), hi = std::min(i1, first + act.n);
            uint16_t* dst = const_cast<uint16_t*>(out.op[j].bf16);
            if (lo < hi) round_to_bf16(act.x + (lo - first), 1, hi - lo, 0, dst + (lo - first), 0);
            first += act.n;
          }
          ++j;
        }
      },
      1 << 14);
  return out;
}

AttnOperand tile_operand(const float* x, int64_t rows, int64_t cols, int64_t ld, int slot) {
  if (gemm_precision() != GemmPrecision::kBf16) return {x, nullptr};
  thread_local std::vector<uint16_t> buffers[2];
  std::vector<uint16_t>& buffer = buffers[slot];
  const int64_t size = (rows - 1) * ld + cols;
  if (static_cast<int64_t>(buffer.size()) < size) buffer.resize(size);
  round_to_bf16(x, rows, cols, ld, buffer.data(), ld);
  return {x, buffer.data()};
}

void attention_gemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    AttnOperand a, int64_t lda, AttnOperand b, int64_t ldb, float beta, float* c,
                    int64_t ldc) {
  if (a.bf16 && b.bf16)
    return gemm_bf16(trans_a, trans_b, m, n, k, alpha, a.bf16, lda, b.bf16, ldb, beta, c, ldc);
  gemm_fp32(trans_a, trans_b, m, n, k, alpha, a.f32, lda, b.f32, ldb, beta, c, ldc);
}

}  // namespace anetrain::cpu
