// Per-thread scratch memory for the CPU kernels and host work. Grows to the largest size asked
// for and is then reused, so steady-state training steps do not allocate. Each slot has one
// owner, so nested users never hand out the same buffer twice:
//   0, 1  attention score / probability tiles (backends/cpu)
//   2     rmsnorm_forward's per-token sums (backends/cpu/rmsnorm)
//   3     rmsnorm_backward's per-token means (backends/cpu/rmsnorm)
#pragma once

#include <cstdint>

#include "core/aligned_buffer.h"

namespace anetrain {

inline float* thread_scratch(int64_t floats, int slot = 0) {
  thread_local FloatBuffer buffers[4];
  auto& buffer = buffers[slot];
  if (static_cast<int64_t>(buffer.size()) < floats) buffer.resize(floats);
  return buffer.data();
}

}  // namespace anetrain
