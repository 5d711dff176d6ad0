// A tiny opt-in profiler for `anetrain bench --profile`: named scopes accumulate wall time and
// the FLOPs they were told about. When disabled (the default) a scope costs one branch.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace anetrain {

struct ProfileEntry {
  double seconds = 0, flops = 0;
  int64_t calls = 0;
};

class Profiler {
 public:
  static Profiler& get();
  bool enabled() const { return enabled_; }
  void enable(bool on) { enabled_ = on; }
  void reset() { entries_.clear(); }
  void add(const char* name, double seconds, double flops);
  const std::map<std::string, ProfileEntry>& entries() const { return entries_; }

 private:
  bool enabled_ = false;
  std::map<std::string, ProfileEntry> entries_;
};

// Times the enclosing block under `name` when profiling is enabled.
class ProfileScope {
 public:
  ProfileScope(const char* name, double flops = 0)
      : name_(Profiler::get().enabled() ? name : nullptr), flops_(flops) {
    if (name_) start_ = std::chrono::steady_clock::now();
  }
  ~ProfileScope() {
    if (name_)
      Profiler::get().add(name_,
                          std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
                          flops_);
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  const char* name_;
  double flops_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace anetrain
