// The attention products (scores, P·V and their gradients) in the process's GEMM precision.
// fp32: gemm_fp32() on the activations. bf16 (as PyTorch autocast and FlashAttention do): the
// operands are rounded to bfloat16, q, k, v and dattn once per kernel and P and dS once per
// tile, and multiplied with fp32 accumulation (gemm_bf16()); softmax, its max and log-sum-exp,
// and dS = P * (dP - rowsum(P * dP)) stay fp32. Rounding once per kernel rather than per call
// keeps the per-head, per-tile products (inside parallel regions) free of conversion work.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "core/gemm.h"

namespace anetrain::cpu {

// An operand of the attention products: the fp32 values and, in bf16 mode, their rounded copy
// in the same layout (nullptr in fp32 mode), so one offset addresses both.
struct AttnOperand {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
  AttnOperand operator+(int64_t offset) const {
    return {f32 ? f32 + offset : nullptr, bf16 ? bf16 + offset : nullptr};
  }
};

// One activation the kernel reads: n floats from x (x may be nullptr: an unused operand).
struct AttnActivation {
  const float* x;
  int64_t n;
};

// The kernel's activations as operands, in order (at most kMaxAttnActivations). bf16 mode
// rounds them all on the pool in one parallel region, into buffers that live until the next
// kernel calls this (kernels run one at a time, from one thread).
constexpr int kMaxAttnActivations = 4;
struct AttnOperands {
  AttnOperand op[kMaxAttnActivations];
};
AttnOperands attention_operands(std::initializer_list<AttnActivation> activations);

// A tile computed inside the kernel (rows x cols, leading dimension ld) as an operand: in bf16
// mode rounded into this thread's buffer `slot` (0 or 1, same layout), valid until the thread
// rounds the next tile into that slot.
AttnOperand tile_operand(const float* x, int64_t rows, int64_t cols, int64_t ld, int slot);

// C = alpha * op(A) op(B) + beta * C in the precision the operands carry (gemm.h semantics).
void attention_gemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    AttnOperand a, int64_t lda, AttnOperand b, int64_t ldb, float beta, float* c,
                    int64_t ldc);

}  // namespace anetrain::cpu
