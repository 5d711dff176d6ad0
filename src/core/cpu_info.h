// What this build targets and what the CPU it runs on offers, for `anetrain --version`: the
// vector extensions the compiler was allowed to use (-march=native at build time) and those
// the CPU reports at run time. The two differ when a binary moves to another machine.
#pragma once

#include <string>

namespace anetrain {

// e.g. "x86-64: AVX2, FMA, AVX-512F, AVX-512 BF16" (the compiler's target macros).
std::string build_isa();
// e.g. "x86-64: AVX2 yes, FMA yes, AVX-512F yes, AVX-512 BF16 yes, AMX-BF16 no" (CPUID).
std::string runtime_isa();
// The CPU has AMX tiles with bf16 dot products (CPUID; false off x86-64).
bool cpu_has_amx_bf16();

}  // namespace anetrain
