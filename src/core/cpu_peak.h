// The CPU's arithmetic peak, measured rather than assumed: a dependency-free loop of fused
// multiply-adds (fp32) or bf16 dot products (fp32 accumulation) on every pool thread. On a
// shared VM the clock, and with it the peak, drifts between runs (`anetrain bench --measure-peak`
// read 525-576 GFLOPS fp32 on the same 2-core Zen 5 within an hour, several configs), so `bench
// --measure-peak` sets a step's GFLOPS against the peak measured in the same run.
#pragma once

#include <string>

#include "core/gemm.h"

namespace anetrain {

// GFLOPS of the loop for this precision on all pool threads (2 FLOPs per multiply-add), best
// of three ~30 ms trials; 0 when this build has no vector code for it (a CPU without AVX2/FMA,
// or bf16 without AVX512-BF16).
double measure_peak_gflops(GemmPrecision precision);

// What that loop runs on, for the reports: "VDPBF16PS (AVX512-BF16)", "VFMADD (AVX-512)",
// "VFMADD (AVX2)", or "" when it cannot run. When the CPU has a faster unit for the precision
// that the loop does not measure (AMX tiles for bf16), the name says so, since a step whose
// GEMMs run there can be faster than this "peak".
std::string peak_unit(GemmPrecision precision);

}  // namespace anetrain
