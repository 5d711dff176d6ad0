// Scalar math written so the compiler vectorizes the loops that call it. libm's expf is an
// opaque call per element, which kept the softmax and SiLU loops scalar; these inline forms
// become a handful of AVX-512 instructions per 16 floats.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace anetrain::cpu {

// exp(x) in float. Range reduction x = n ln2 + r (n the nearest integer) with ln2 split in two
// parts, a degree-6 polynomial for exp(r) on |r| <= ln2/2 (Cephes' coefficients), and 2^n built in
// the exponent bits. Relative error about 2 ulp. Inputs are clamped to [-87, 88]: below, the result
// is exp(-87) ~ 1.6e-38 instead of a denormal or 0, which no softmax sum or sigmoid can notice.
inline float exp_vectorizable(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  // n = round(x / ln2) by the 1.5 * 2^23 trick: std::floor would not vectorize (GCC keeps it
  // scalar unless -fno-trapping-math), this is two additions.
  constexpr float kRound = 12582912.0f;
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
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

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_vectorizable(-x)); }

// Row reductions with 16 independent lanes (one 512-bit register): the compiler vectorizes
// them, and the summation order is fixed by the code, not by the machine or thread count.
constexpr int kLanes = 16;

inline float max_of(const float* x, int64_t n) {
  float lane[kLanes];
  for (int k = 0; k < kLanes; ++k) lane[k] = x[0];
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) lane[k] = std::max(lane[k], x[i + k]);
  for (; i < n; ++i) lane[0] = std::max(lane[0], x[i]);
  float m = lane[0];
  for (int k = 1; k < kLanes; ++k) m = std::max(m, lane[k]);
  return m;
}

// x[i] = exp(x[i] - shift) for i < n; returns the sum of the new values.
inline float exp_shifted_sum(float* x, int64_t n, float shift) {
  float lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      x[i + k] = exp_vectorizable(x[i + k] - shift);
      lane[k] += x[i + k];
    }
  for (; i < n; ++i) {
    x[i] = exp_vectorizable(x[i] - shift);
    lane[0] += x[i];
  }
  float sum = 0.0f;
  for (float l : lane) sum += l;
  return sum;
}

inline float dot(const float* a, const float* b, int64_t n) {
  float lane[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) lane[k] += a[i + k] * b[i + k];
  for (; i < n; ++i) lane[0] += a[i] * b[i];
  float sum = 0.0f;
  for (float l : lane) sum += l;
  return sum;
}

}  // namespace anetrain::cpu
