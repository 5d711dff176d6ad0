// Per-thread scratch memory for the CPU kernels. Grows to the largest size asked for and is
// then reused, so steady-state training steps do not allocate.
#pragma once

#include <cstdint>
#include <vector>

namespace anetrain::cpu {

inline float* thread_scratch(int64_t floats, int slot = 0) {
  thread_local std::vector<float> buffers[2];
  auto& buffer = buffers[slot];
  if (static_cast<int64_t>(buffer.size()) < floats) buffer.resize(floats);
  return buffer.data();
}

}  // namespace anetrain::cpu
