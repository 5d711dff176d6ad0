#include "core/profiler.h"

#include "core/gemm.h"

namespace anetrain {

Profiler& Profiler::get() {
  static Profiler profiler;
  return profiler;
}

void Profiler::add(const char* name, double seconds, double flops, double bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfileEntry& e = entries_[name];
  e.seconds += seconds;
  e.flops += flops;
  e.bytes += bytes;
  ++e.calls;
}

void Profiler::add_gemm(const GemmShape& shape, double seconds, const char* library) {
  std::lock_guard<std::mutex> lock(mutex_);
  ProfileEntry& e = gemms_[shape];
  // One shape can meet different choices (its operands at other offsets from a cache line).
  if (library) e.libraries.insert(library);
  e.seconds += seconds;
  e.flops += gemm_flops(shape.m, shape.n, shape.k);
  ++e.calls;
}

}  // namespace anetrain
