#include "backends/cpu/softmax_rows.h"

#include <bit>
#include <cmath>

namespace anetrain::cpu {
namespace {

// exp(x) for x <= 0-ish in float, written so the compiler vectorizes it (libm's expf is a
// scalar call per element). Range reduction x = n ln2 + r with ln2 split in two parts, a
// degree-6 polynomial for exp(r) on |r| <= ln2/2 (Cephes' coefficients), and 2^n built in
// the exponent bits. Relative error about 2 ulp; inputs below -87 give exp(-87) ~ 1.6e-38
// instead of a denormal, which no softmax sum can notice.
inline float exp_vectorizable(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

void zero_masked(float* row, int64_t i, int64_t i1) { std::fill(row + i + 1, row + i1, 0.0f); }

}  // namespace

void causal_softmax_rows(float* scores, int64_t ld, int64_t i0, int64_t i1, float* lse) {
  for (int64_t i = i0; i < i1; ++i) {
    float* row = scores + (i - i0) * ld;
    const int64_t n = i + 1;
    float max = row[0];
#pragma omp simd reduction(max : max)
    for (int64_t j = 0; j < n; ++j) max = std::max(max, row[j]);
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; ++j) {
      row[j] = exp_vectorizable(row[j] - max);
      sum += row[j];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) row[j] *= inv;
    zero_masked(row, i, i1);
    lse[i - i0] = max + std::log(sum);
  }
}

void causal_probs_from_lse(float* scores, int64_t ld, int64_t i0, int64_t i1, const float* lse) {
  for (int64_t i = i0; i < i1; ++i) {
    float* row = scores + (i - i0) * ld;
    const float shift = lse[i - i0];
#pragma omp simd
    for (int64_t j = 0; j <= i; ++j) row[j] = exp_vectorizable(row[j] - shift);
    zero_masked(row, i, i1);
  }
}

void causal_softmax_backward_rows(const float* P, int64_t ldp, float* dP, int64_t ldd,
                                  int64_t i0, int64_t i1, float scale) {
  for (int64_t i = i0; i < i1; ++i) {
    const float* p = P + (i - i0) * ldp;
    float* ds = dP + (i - i0) * ldd;
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j <= i; ++j) dot += p[j] * ds[j];
#pragma omp simd
    for (int64_t j = 0; j <= i; ++j) ds[j] = p[j] * (ds[j] - dot) * scale;
    zero_masked(ds, i, i1);
  }
}

}  // namespace anetrain::cpu
