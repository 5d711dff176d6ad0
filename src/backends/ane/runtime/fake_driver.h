// A driver for tests and Linux: "compiles" by parsing, checking and linting the MIL text and
// runs programs in the fp16 reference interpreter, while enforcing the rules the real ANE is
// known (or reported) to impose, so that orchestration bugs fail here as they would on a Mac:
//   - a per-process compile budget (the real one gives out after about 119 compiles);
//   - surfaces must be fp16, packed [1, C, 1, W], exactly the program's input/output sizes;
//   - rows 64-byte aligned (W * 2 bytes a multiple of 64);
//   - surfaces bind by the request positions request_layout.h gives (alphabetical MIL names),
//     as the framework driver places them;
//   - with several inputs, the profile's ordering rules (ascending sizes, alphabetical names);
//   - programs that fail lint (the chosen profile) do not compile.
#pragma once

#include <memory>

#include "backends/ane/mil/interpreter.h"
#include "backends/ane/runtime/driver.h"
#include "backends/ane/runtime/request_layout.h"

namespace anetrain::ane {

struct FakeDriverOptions {
  int64_t compile_budget = 119;
  std::string lint_profile = "m4-macos15";
  std::string cache_dir;  // compile cache (compile_cache.h); "" disables it
  int64_t cache_limit_bytes = int64_t{2048} << 20;
  SurfaceSizeRule surface_rule = SurfaceSizeRule::kEqual;  // request_layout.h
};

class FakeDriver final : public AneDriver {
 public:
  explicit FakeDriver(FakeDriverOptions options = {});
  ~FakeDriver() override;
  std::string name() const override { return "fake (MIL interpreter)"; }
  int64_t compile_and_load(const std::string& mil_text,
                           const std::map<std::string, std::string>& weight_files) override;
  void evaluate(int64_t program, const std::vector<const Surface*>& inputs,
                const std::vector<Surface*>& outputs) override;
  void unload(int64_t program) override;
  int64_t compiles() const override { return compiles_; }
  int64_t cache_hits() const { return cache_hits_; }

 private:
  struct Loaded;
  FakeDriverOptions options_;
  std::map<int64_t, std::unique_ptr<Loaded>> loaded_;
  int64_t next_handle_ = 1, compiles_ = 0, cache_hits_ = 0;
};

}  // namespace anetrain::ane
