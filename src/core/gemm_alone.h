// Times one GEMM shape on its own, for `bench --profile`: set beside the time the same shape
// took inside the training step, it shows how much of a step's GEMM time is the library's own
// speed and how much is the step around it (cold operands, cache contention).
#pragma once

#include "core/profiler.h"

namespace anetrain {

// Median seconds of `repeats` back-to-back calls of gemm() with this shape on dense random
// operands (warm after the first call, which is not counted). Operands the step read from a
// Bf16ReadOnlyRegion are read from one here too, so bf16 rounding is counted alike.
double time_gemm_alone(const GemmShape& shape, int repeats = 5);

}  // namespace anetrain
