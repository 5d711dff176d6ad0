#include "core/cpu_peak.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <span>

#if defined(__x86_64__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "core/aligned_buffer.h"
#include "core/cpu_info.h"
#include "core/parallel.h"

namespace anetrain {
namespace {

// The loop's results, stored so that the compiler cannot drop the loop.
std::atomic<float> g_sink{0};

#if defined(__x86_64__)
// Independent accumulator chains per thread: enough to cover the FMA latency (4-6 cycles) on
// two pipes, so the loop is bound by throughput, not by dependencies, and few enough that the
// chains and the two operands stay in registers (32 with AVX-512, 16 with AVX2: 16 chains
// there spilled to memory and measured half the FMA rate, 102 against GEMMs at 135 GFLOPS).
constexpr int kChains512 = 16;
constexpr int kChains256 = 12;

// Each loop below is compiled for its own extension (target attributes) and only called after
// CPUID says the CPU has it: the build's -march does not decide what is measured.
template <typename Vec, int kChains>
float sum_lanes(const Vec (&acc)[kChains]) {
  float sum = 0;
  for (const Vec& chain : acc) {
    float lanes[sizeof(Vec) / sizeof(float)];
    std::memcpy(lanes, &chain, sizeof(Vec));
    for (float v : lanes) sum += v;
  }
  return sum;
}

__attribute__((target("avx512f"))) double fma512_loop(long iterations, float* sink) {
  __m512 acc[kChains512];
  for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  *sink += sum_lanes(acc);
  return iterations * kChains512 * 16.0 * 2;
}

__attribute__((target("avx2,fma"))) double fma256_loop(long iterations, float* sink) {
  __m256 acc[kChains256];
  for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains256; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  *sink += sum_lanes(acc);
  return iterations * kChains256 * 8.0 * 2;
}

__attribute__((target("avx512f,avx512bf16"))) double dpbf16_loop(long iterations, float* sink) {
  __m512 acc[kChains512];
  for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_set1_ps(0.0f);
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(2e-3f));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(3e-3f), _mm512_set1_ps(1e-3f));
  for (long it = 0; it < iterations; ++it)
    for (int i = 0; i < kChains512; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  *sink += sum_lanes(acc);
  return iterations * kChains512 * 16.0 * 2 * 2;  // 16 lanes, 2 products each, 2 FLOPs
}

// AMX: Linux hands out the 8 KB tile register state only on request (arch_prctl
// ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, kernel 5.16+); without it the first tile
// instruction kills the process. The grant is per process, asked for once.
constexpr int kArchReqXcompPerm = 0x1023;
constexpr int kXfeatureXtiledata = 18;

bool amx_tiles_granted() {
  static const bool granted =
      cpu_has_amx_bf16() && syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return granted;
}

// The 64-byte tile configuration (palette 1): bytes per row and rows of each of the 16 tiles.
struct alignas(64) TileConfig {
  uint8_t palette;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t bytes_per_row[16];
  uint8_t rows[16];
};
static_assert(sizeof(TileConfig) == 64);

// Tiles 0-3 accumulate fp32 16 x 16 blocks from two A tiles (4, 5: 16 rows of 32 bf16) and two
// B tiles (6, 7: 16 rows of 16 bf16 pairs): four independent TDPBF16PS per round, each 16 x 16 x
// 32 multiply-adds, enough to keep the unit busy through its latency.
__attribute__((target("amx-tile,amx-bf16"))) double amx_loop(long iterations, float* sink) {
  TileConfig config{};
  config.palette = 1;
  for (int t = 0; t < 8; ++t) {
    config.rows[t] = 16;
    config.bytes_per_row[t] = 64;
  }
  alignas(64) uint16_t a[16 * 32], b[16 * 32];
  alignas(64) float c[16 * 16];
  std::fill(a, a + 16 * 32, uint16_t{0x3A83});  // bf16 1.0e-3
  std::fill(b, b + 16 * 32, uint16_t{0x3B44});  // bf16 3.0e-3
  _tile_loadconfig(&config);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, a, 64);
  _tile_loadd(5, a, 64);
  _tile_loadd(6, b, 64);
  _tile_loadd(7, b, 64);
  for (long it = 0; it < iterations; ++it) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  float sum = 0;
  _tile_stored(0, c, 64);
  for (float v : c) sum += v;
  _tile_stored(3, c, 64);
  for (float v : c) sum += v;
  _tile_release();
  *sink += sum;
  return iterations * 4 * (16.0 * 16 * 32) * 2;
}
#endif

using Loop = double (*)(long iterations, float* sink);

struct UnitLoop {
  Loop loop;
  long iterations;  // per thread per trial: tens of ms on any core that has the unit
};

UnitLoop loop_of(PeakUnit unit) {
#if defined(__x86_64__)
  switch (unit) {
    case PeakUnit::kFmaAvx2:
      return {fma256_loop, 16'000'000};
    case PeakUnit::kFmaAvx512:
      return {fma512_loop, 16'000'000};
    case PeakUnit::kDpbf16:
      return {dpbf16_loop, 16'000'000};
    case PeakUnit::kAmxBf16:
      return {amx_loop, 1'000'000};  // ~64 cycles per round
    case PeakUnit::kNone:
      break;
  }
#endif
  (void)unit;
  return {nullptr, 0};
}

}  // namespace

bool cpu_can_run(PeakUnit unit) {
#if defined(__x86_64__)
  switch (unit) {
    case PeakUnit::kFmaAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case PeakUnit::kFmaAvx512:
      return __builtin_cpu_supports("avx512f");
    case PeakUnit::kDpbf16:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
    case PeakUnit::kAmxBf16:
      return amx_tiles_granted();
    case PeakUnit::kNone:
      break;
  }
#endif
  (void)unit;
  return false;
}

PeakUnit fastest_unit(GemmPrecision precision) {
  const PeakUnit bf16[] = {PeakUnit::kAmxBf16, PeakUnit::kDpbf16};
  const PeakUnit fp32[] = {PeakUnit::kFmaAvx512, PeakUnit::kFmaAvx2};
  for (PeakUnit unit : precision == GemmPrecision::kBf16 ? std::span<const PeakUnit>(bf16)
                                                         : std::span<const PeakUnit>(fp32))
    if (cpu_can_run(unit)) return unit;
  return PeakUnit::kNone;
}

std::string unit_name(PeakUnit unit) {
  switch (unit) {
    case PeakUnit::kFmaAvx2:
      return "VFMADD (AVX2)";
    case PeakUnit::kFmaAvx512:
      return "VFMADD (AVX-512)";
    case PeakUnit::kDpbf16:
      return "VDPBF16PS (AVX512-BF16)";
    case PeakUnit::kAmxBf16:
      return "TDPBF16PS (AMX-BF16 tiles)";
    case PeakUnit::kNone:
      break;
  }
  return "";
}

double measure_peak_gflops(PeakUnit unit) {
  if (!cpu_can_run(unit)) return 0;
  const UnitLoop unit_loop = loop_of(unit);
  if (unit_loop.loop == nullptr) return 0;
  init_thread_pool();
  const int threads = num_threads();
  double best = 0;
  for (int trial = 0; trial < 3; ++trial) {
    double flops = 0;
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
    {
      float local = 0;
      flops += unit_loop.loop(unit_loop.iterations, &local);
      g_sink.store(local, std::memory_order_relaxed);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, flops / seconds / 1e9);
  }
  return best;
}

double measure_peak_gflops(GemmPrecision precision) {
  return measure_peak_gflops(fastest_unit(precision));
}

std::string peak_unit(GemmPrecision precision) {
  std::string name = unit_name(fastest_unit(precision));
  if (precision == GemmPrecision::kBf16 && cpu_has_amx_bf16() && !cpu_can_run(PeakUnit::kAmxBf16) &&
      !name.empty())
    name += "; AMX-BF16 tiles present but the kernel did not grant their state";
  return name;
}

double measure_bandwidth_gbs() {
  init_thread_pool();
  const int64_t n = 64ll << 20;  // 64 Mi floats = 256 MB per array
  // Uninitialized (not FloatBuffer, which zero-fills on this thread): the first touch is by
  // the thread that will stream each part, so its pages sit near it.
  struct Array {
    float* p;
    explicit Array(int64_t count)
        : p(static_cast<float*>(
              ::operator new (count * sizeof(float), std::align_val_t{kCacheLine}))) {}
    ~Array() { ::operator delete (p, std::align_val_t{kCacheLine}); }
    float& operator[](int64_t i) { return p[i]; }
    float* data() { return p; }
  } a(n), b(n);
  const auto each_part = [&](const std::function<void(int64_t, int64_t)>& fn) {
    parallel_for(n, fn, 1 << 16);
  };
  each_part([&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) a[i] = 0.0f, b[i] = 1.0f;
  });
  double best = 0;
  for (int trial = 0; trial < 5; ++trial) {
    const auto start = std::chrono::steady_clock::now();
    each_part([&](int64_t i0, int64_t i1) {
      float* __restrict out = a.data();
      const float* __restrict x = b.data();
      for (int64_t i = i0; i < i1; ++i) out[i] += 0.5f * x[i];
    });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 12.0 * static_cast<double>(n) / seconds / 1e9);
  }
  g_sink.store(a[n / 2], std::memory_order_relaxed);
  return best;
}

}  // namespace anetrain
