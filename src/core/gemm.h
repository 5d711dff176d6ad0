// The one GEMM entry point of anetrain. Every matrix product on the hot path goes through
// here, so swapping or tuning the BLAS touches one file per platform:
//   gemm_onednn.cpp (Linux, oneDNN), gemm_accelerate.cpp (macOS, Accelerate).
// Row-major, BLAS semantics: C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C.
#pragma once

#include <cstdint>
#include <string>

namespace anetrain {

enum class Trans : char { kNo = 'N', kYes = 'T' };

void gemm(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
          int64_t ldc);

// Always fp32, whatever the precision mode (the fp32 attention products use it).
void gemm_fp32(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
               int64_t ldc);

// Operands already rounded to bfloat16 (bit patterns, as round_to_bf16 writes them), read in
// place through lda/ldb; fp32 accumulation and output. For the attention products in bf16 mode,
// whose operands are rounded once per kernel rather than per call. Single-threaded and safe
// inside parallel regions (it is called per head and query tile).
void gemm_bf16(Trans trans_a, Trans trans_b, int64_t m, int64_t n, int64_t k, float alpha,
               const uint16_t* a, int64_t lda, const uint16_t* b, int64_t ldb, float beta,
               float* c, int64_t ldc);

// Rounds a stored rows x cols block (leading dimension ld) to bfloat16, nearest even, into out
// (leading dimension ld_out). Single-threaded: callers split big blocks across the pool.
void round_to_bf16(const float* x, int64_t rows, int64_t cols, int64_t ld, uint16_t* out,
                   int64_t ld_out);

// The directory where gemm() keeps which library runs each fp32 product on this machine
// (core/gemm_choice.h); "" where there is one library (Accelerate).
std::string gemm_choice_store();

// Compute precision of every gemm() in this process. kBf16 rounds both inputs to bfloat16
// and accumulates in fp32 (the machine's bf16 dot-product units); outputs stay fp32. Master
// weights, optimizer state and element-wise work stay fp32 either way.
enum class GemmPrecision { kFp32, kBf16 };
// Throws UserError for kBf16 where the CPU has no bf16 dot-product instructions (or on
// macOS): never a silent fallback to fp32.
void set_gemm_precision(GemmPrecision precision);
// Parses "fp32" / "bf16" (UserError otherwise).
GemmPrecision parse_gemm_precision(const std::string& name);
GemmPrecision gemm_precision();

// For tests: while on, kBf16 is accepted on any CPU and its products run in software with the
// same numerics (bf16 values and the products of two of them are exact in fp32, so fp32 GEMM on
// the rounded inputs is a bf16 product with fp32 accumulation, up to summation order), slower
// than fp32. Lets the bf16 numerics be tested on CPUs without bf16 units. Throws UserError
// where the GEMM library has no bf16 mode at all (Accelerate).
void emulate_bf16_products(bool on);

// bf16 mode only (a no-op in fp32): while this object lives, [base, base + n) is promised not
// to change, so it is rounded to bf16 once, up front, on the whole pool, and every gemm()
// operand inside it reads that copy instead of being rounded again. The trainer wraps one
// forward/backward over the weights in it: each weight is then rounded once per micro-batch
// instead of once per use (forward and backward). One region at a time.
class Bf16ReadOnlyRegion {
 public:
  Bf16ReadOnlyRegion(const float* base, int64_t n);
  ~Bf16ReadOnlyRegion();
  Bf16ReadOnlyRegion(const Bf16ReadOnlyRegion&) = delete;
  Bf16ReadOnlyRegion& operator=(const Bf16ReadOnlyRegion&) = delete;

 private:
  bool active_ = false;
};

// The library behind gemm() and its version, e.g. "oneDNN 2.7.3 (cpu runtime: OpenMP)".
std::string gemm_library();

// FLOPs of one such product, as counted everywhere in anetrain (2 per multiply-add).
inline double gemm_flops(int64_t m, int64_t n, int64_t k) { return 2.0 * m * n * k; }

}  // namespace anetrain
