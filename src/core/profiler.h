// A tiny opt-in profiler for `anetrain bench --profile`: named scopes accumulate wall time and
// the FLOPs they were told about. When disabled (the default) a scope costs one branch.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>

namespace anetrain {

struct ProfileEntry {
  double seconds = 0, flops = 0;
  double bytes = 0;  // memory-bound work: the bytes it must read and write (0: not counted)
  int64_t calls = 0;
  std::set<std::string> libraries;  // GEMMs: the libraries that ran the calls
};

// One gemm() call shape, as `bench --profile` lists them: op(A) [m, k] x op(B) [k, n], whether
// C is accumulated into (beta != 0), and in bf16 mode whether A / B were read from a
// Bf16ReadOnlyRegion's pre-rounded copy instead of being rounded by the call.
struct GemmShape {
  char trans_a = 'N', trans_b = 'N';
  int64_t m = 0, n = 0, k = 0;
  bool accumulate = false, a_pre_rounded = false, b_pre_rounded = false;
  auto tied() const {
    return std::tie(trans_a, trans_b, m, n, k, accumulate, a_pre_rounded, b_pre_rounded);
  }
  bool operator<(const GemmShape& o) const { return tied() < o.tied(); }
};

class Profiler {
 public:
  static Profiler& get();
  bool enabled() const { return enabled_; }
  void enable(bool on) { enabled_ = on; }
  void reset() { entries_.clear(), gemms_.clear(); }
  // Both are thread-safe: host work may run on other threads (Transformer::run_host).
  void add(const char* name, double seconds, double flops, double bytes = 0);
  // GEMMs are kept apart from the named scopes, which already contain them.
  void add_gemm(const GemmShape& shape, double seconds, const char* library);
  const std::map<std::string, ProfileEntry>& entries() const { return entries_; }
  const std::map<GemmShape, ProfileEntry>& gemms() const { return gemms_; }

 private:
  bool enabled_ = false;
  std::mutex mutex_;
  std::map<std::string, ProfileEntry> entries_;
  std::map<GemmShape, ProfileEntry> gemms_;
};

// Times the enclosing block under `name` when profiling is enabled. Compute-bound work says
// how many FLOPs it does; memory-bound work how many bytes it must move (bench --profile sets
// those against the measured bandwidth).
struct MemoryBytes {
  double value;
};
class ProfileScope {
 public:
  explicit ProfileScope(const char* name, double flops = 0)
      : name_(Profiler::get().enabled() ? name : nullptr), flops_(flops) {
    if (name_) start_ = std::chrono::steady_clock::now();
  }
  ProfileScope(const char* name, MemoryBytes bytes) : ProfileScope(name) { bytes_ = bytes.value; }
  ~ProfileScope() {
    if (name_)
      Profiler::get().add(
          name_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
          flops_, bytes_);
  }
  ProfileScope(const ProfileScope&) = delete;
  ProfileScope& operator=(const ProfileScope&) = delete;

 private:
  const char* name_;
  double flops_, bytes_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// Times one gemm() call under its shape when profiling is enabled.
class GemmProfileScope {
 public:
  explicit GemmProfileScope(const GemmShape& shape)
      : enabled_(Profiler::get().enabled()), shape_(shape) {
    if (enabled_) start_ = std::chrono::steady_clock::now();
  }
  ~GemmProfileScope() {
    if (enabled_)
      Profiler::get().add_gemm(
          shape_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(),
          library_);
  }
  // The library the call ran on (gemm_choice.h), for the profile's table.
  void ran_on(const char* library) { library_ = library; }
  GemmProfileScope(const GemmProfileScope&) = delete;
  GemmProfileScope& operator=(const GemmProfileScope&) = delete;

 private:
  bool enabled_;
  const char* library_ = nullptr;
  GemmShape shape_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace anetrain
