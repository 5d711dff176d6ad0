#include "core/profiler.h"

#include "core/gemm.h"

namespace anetrain {

Profiler& Profiler::get() {
  static Profiler profiler;
  return profiler;
}

void Profiler::add(const char* name, double seconds, double flops) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfileEntry& e = entries_[name];
  e.seconds += seconds;
  e.flops += flops;
  ++e.calls;
}

void Profiler::add_gemm(const GemmShape& shape, double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfileEntry& e = gemms_[shape];
  e.seconds += seconds;
  e.flops += gemm_flops(shape.m, shape.n, shape.k);
  ++e.calls;
}

}  // namespace anetrain
