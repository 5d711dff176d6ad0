#include "core/profiler.h"

namespace anetrain {

Profiler& Profiler::get() {
  static Profiler profiler;
  return profiler;
}

void Profiler::add(const char* name, double seconds, double flops) {
  ProfileEntry& e = entries_[name];
  e.seconds += seconds;
  e.flops += flops;
  ++e.calls;
}

}  // namespace anetrain
