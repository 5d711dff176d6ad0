#include "backends/cpu/softmax_rows.h"

#include <cmath>

#include "backends/cpu/vec_math.h"
#include "core/vector_clones.h"

namespace anetrain::cpu {
namespace {

void zero_masked(float* row, int64_t i, int64_t i1) { std::fill(row + i + 1, row + i1, 0.0f); }

}  // namespace

ANETRAIN_AVX512_CLONES void causal_softmax_rows(float* scores, int64_t ld, int64_t i0, int64_t i1,
                                                float* lse) {
  for (int64_t i = i0; i < i1; ++i) {
    float* row = scores + (i - i0) * ld;
    const int64_t n = i + 1;
    const float max = max_of(row, n);
    const float sum = exp_shifted_sum(row, n, max);
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) row[j] *= inv;
    zero_masked(row, i, i1);
    lse[i - i0] = max + std::log(sum);
  }
}

ANETRAIN_AVX512_CLONES void causal_probs_from_lse(float* scores, int64_t ld, int64_t i0, int64_t i1,
                                                  const float* lse) {
  for (int64_t i = i0; i < i1; ++i) {
    float* row = scores + (i - i0) * ld;
    const float shift = lse[i - i0];
#pragma omp simd
    for (int64_t j = 0; j <= i; ++j) row[j] = exp_vectorizable(row[j] - shift);
    zero_masked(row, i, i1);
  }
}

ANETRAIN_AVX512_CLONES void causal_softmax_backward_rows(const float* P, int64_t ldp, float* dP,
                                                         int64_t ldd, int64_t i0, int64_t i1,
                                                         float scale) {
  for (int64_t i = i0; i < i1; ++i) {
    const float* p = P + (i - i0) * ldp;
    float* ds = dP + (i - i0) * ldd;
    const float pd = dot(p, ds, i + 1);
#pragma omp simd
    for (int64_t j = 0; j <= i; ++j) ds[j] = p[j] * (ds[j] - pd) * scale;
    zero_masked(ds, i, i1);
  }
}

}  // namespace anetrain::cpu
