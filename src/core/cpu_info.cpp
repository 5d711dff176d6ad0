#include "core/cpu_info.h"

#include <vector>

#include "core/vector_clones.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace anetrain {
namespace {

struct Feature {
  const char* name;
  bool built;    // the compiler targets it
  bool present;  // the CPU reports it
};

#if defined(__x86_64__)
#if defined(__AVX2__)
constexpr bool kAvx2 = true;
#else
constexpr bool kAvx2 = false;
#endif
#if defined(__FMA__)
constexpr bool kFma = true;
#else
constexpr bool kFma = false;
#endif
#if defined(__AVX512F__)
constexpr bool kAvx512 = true;
#else
constexpr bool kAvx512 = false;
#endif
#if defined(__AVX512BF16__)
constexpr bool kAvx512Bf16 = true;
#else
constexpr bool kAvx512Bf16 = false;
#endif
#if defined(__AMX_BF16__)
constexpr bool kAmxBf16 = true;
#else
constexpr bool kAmxBf16 = false;
#endif

// The extensions anetrain's own loops (cpu_peak, the CPU backend) and oneDNN's kernels use.
std::vector<Feature> x86_features() {
  return {{"AVX2", kAvx2, __builtin_cpu_supports("avx2") != 0},
          {"FMA", kFma, __builtin_cpu_supports("fma") != 0},
          {"AVX-512F", kAvx512, __builtin_cpu_supports("avx512f") != 0},
          {"AVX-512 BF16", kAvx512Bf16, __builtin_cpu_supports("avx512bf16") != 0},
          {"AMX-BF16", kAmxBf16, cpu_has_amx_bf16()}};
}

std::string x86_list(bool runtime) {
  std::string out = "x86-64";
  const char* sep = ": ";
  for (const Feature& f : x86_features()) {
    if (!runtime && !f.built) continue;
    out += sep;
    out += f.name;
    if (runtime) out += f.present ? " yes" : " no";
    sep = ", ";
  }
  return out;
}
#endif

}  // namespace

std::string build_isa() {
#if defined(__x86_64__)
  std::string isa = x86_list(false);
  if (!std::string(ANETRAIN_AVX512_CLONES_NOTE).empty()) isa += ANETRAIN_AVX512_CLONES_NOTE;
  return isa;
#elif defined(__aarch64__)
  return "arm64 (NEON)";
#else
  return "generic (no vector extensions anetrain knows of)";
#endif
}

std::string runtime_isa() {
#if defined(__x86_64__)
  std::string isa = x86_list(true);
  if (!std::string(ANETRAIN_AVX512_CLONES_NOTE).empty())
    isa += cpu_runs_avx512_clones() ? "; the AVX-512 versions run" : "; the AVX2 versions run";
  return isa;
#elif defined(__aarch64__)
  return "arm64 (NEON)";
#else
  return "unknown";
#endif
}

// What the ifunc resolvers of ANETRAIN_AVX512_CLONES test for x86-64-v4 (GCC's arch level):
// AVX-512 F, BW, CD, DQ and VL.
bool cpu_runs_avx512_clones() {
#if defined(__x86_64__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

// CPUID leaf 7 EDX bit 22. Read directly: clang's __builtin_cpu_supports knows no "amx-bf16".
bool cpu_has_amx_bf16() {
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return (edx >> 22) & 1u;
#else
  return false;
#endif
}

}  // namespace anetrain
