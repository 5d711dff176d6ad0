#include "core/cpu_peak.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/cpu_info.h"
#include "core/parallel.h"

namespace anetrain {
namespace {

// Independent accumulator chains per thread: enough to cover the FMA latency (4-6 cycles) on
// two pipes, so the loop is bound by throughput, not by dependencies.
constexpr int kChains = 16;

// Sum of every lane of the chains (Vec: __m512 or __m256), to keep the loop's results alive.
template <typename Vec>
float sum_lanes(const Vec (&acc)[kChains]) {
  float sum = 0;
  for (const Vec& chain : acc) {
    float lanes[sizeof(Vec) / sizeof(float)];
    std::memcpy(lanes, &chain, sizeof(Vec));
    for (float v : lanes) sum += v;
  }
  return sum;
}

// The loop's results, stored so that the compiler cannot drop the loop.
std::atomic<float> g_sink{0};

// Runs `iterations` rounds of kChains multiply-adds; returns FLOPs done, or 0 if unsupported.
double fma_loop(GemmPrecision precision, long iterations, float* sink) {
#if defined(__AVX512BF16__)
  if (precision == GemmPrecision::kBf16) {
    __m512 acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.0f);
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
    const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(3e-3f), _mm512_set1_ps(1e-3f));
    for (long it = 0; it < iterations; ++it)
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    *sink += sum_lanes(acc);
    return iterations * kChains * 16.0 * 2 * 2;  // 16 lanes, 2 products each, 2 FLOPs
  }
#endif
  if (precision == GemmPrecision::kBf16) return 0;
#if defined(__AVX512F__)
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  *sink += sum_lanes(acc);
  return iterations * kChains * 16.0 * 2;
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  *sink += sum_lanes(acc);
  return iterations * kChains * 8.0 * 2;
#else
  (void)iterations, (void)sink;
  return 0;
#endif
}

}  // namespace

double measure_peak_gflops(GemmPrecision precision) {
  init_thread_pool();
  const int threads = num_threads();
  float probe = 0;
  if (fma_loop(precision, 1, &probe) == 0) return 0;
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    const long iterations = 16'000'000;  // 256M FMAs: ~30 ms on a 4 GHz core with two pipes
    double flops = 0;
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    {
      float local = 0;
      flops += fma_loop(precision, iterations, &local);
      g_sink.store(local, std::memory_order_relaxed);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, flops / seconds / 1e9);
  }
  return best;
}

std::string peak_unit(GemmPrecision precision) {
  float probe = 0;
  if (fma_loop(precision, 1, &probe) == 0) return "";
  std::string unit;
  if (precision == GemmPrecision::kBf16) {
    unit = "VDPBF16PS (AVX512-BF16)";
    if (cpu_has_amx_bf16()) unit += "; AMX-BF16 tiles present, not measured";
    return unit;
  }
#if defined(__AVX512F__)
  return "VFMADD (AVX-512)";
#else
  return "VFMADD (AVX2)";
#endif
}

}  // namespace anetrain
