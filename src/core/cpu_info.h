// What this build targets and what the CPU it runs on offers, for `anetrain --version`: the
// vector extensions the compiler was allowed to use everywhere (the build's floor, x86-64-v3 by
// default: CMakeLists.txt), the versions chosen at run time (core/vector_clones.h), and what
// the CPU reports.
#pragma once

#include <string>

namespace anetrain {

// e.g. "x86-64: AVX2, FMA, AVX-512F, AVX-512 BF16" (the compiler's target macros).
std::string build_isa();
// e.g. "x86-64: AVX2 yes, FMA yes, AVX-512F yes, AVX-512 BF16 yes, AMX-BF16 no" (CPUID).
std::string runtime_isa();
// The CPU runs the x86-64-v4 (AVX-512) clones of ANETRAIN_AVX512_CLONES functions.
bool cpu_runs_avx512_clones();
// The CPU has AMX tiles with bf16 dot products (CPUID; false off x86-64).
bool cpu_has_amx_bf16();

}  // namespace anetrain
