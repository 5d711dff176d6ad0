// The CPU's arithmetic peak and memory bandwidth, measured rather than assumed: a
// dependency-free loop on the fastest matrix unit the CPU has for the precision (AMX-BF16 tiles,
// AVX512-BF16 dot products, 512- or 256-bit FMAs), on every pool thread, and an in-place
// update over arrays far larger than any cache. The unit is chosen at run time from CPUID (and, for
// AMX, the kernel's grant of the tile state), not from the build's compiler flags, so one binary
// measures each machine it meets. On a shared VM the clock drifts between runs (`anetrain bench
// --measure-peak` read 525-576 GFLOPS fp32 on the same 2-core Zen 5 within an hour), so `bench
// --measure-peak` sets a step against the peak measured in the same run.
#pragma once

#include <string>

#include "core/gemm.h"

namespace anetrain {

enum class PeakUnit {
  kNone,       // no vector loop for this precision on this CPU
  kFmaAvx2,    // VFMADD on 256-bit registers
  kFmaAvx512,  // VFMADD on 512-bit registers
  kDpbf16,     // VDPBF16PS (AVX512-BF16): bf16 pairs, fp32 accumulation
  kAmxBf16,    // TDPBF16PS on AMX tiles
};

// The fastest unit for the precision's multiply-adds here: what oneDNN's GEMMs use too.
PeakUnit fastest_unit(GemmPrecision precision);
// e.g. "TDPBF16PS (AMX-BF16 tiles)", "VFMADD (AVX-512)"; "" for kNone.
std::string unit_name(PeakUnit unit);
// This CPU (and, for AMX, its kernel) can run the unit's loop.
bool cpu_can_run(PeakUnit unit);

// GFLOPS of the unit's loop on all pool threads (2 FLOPs per multiply-add), best of three
// ~30 ms trials; 0 when the CPU cannot run it.
double measure_peak_gflops(PeakUnit unit);
double measure_peak_gflops(GemmPrecision precision);  // on fastest_unit(precision)

// For the reports: unit_name(fastest_unit(precision)), with a note when the CPU has AMX tiles
// the kernel would not grant (then the bf16 loop, and oneDNN, fall back to AVX512-BF16).
std::string peak_unit(GemmPrecision precision);

// Memory bandwidth in GB/s: a += s * b over two 256 MB arrays on all pool threads, each thread
// on the part it first touched, best of five passes. In place, as the optimizer and gradient
// accumulation update their arrays, so every byte moved is counted (12 per element): a
// STREAM-style triad into a third array also reads each line of it before writing, which
// STREAM does not count, and so reads about three quarters of what the memory delivers.
double measure_bandwidth_gbs();

}  // namespace anetrain
