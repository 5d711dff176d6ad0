// The driver over Apple's private AppleNeuralEngine framework (../shared/reference/ane.md, "The
// private API call sequence" and "What the runtimes that ran on hardware do"). Per program, once:
// compile (or load a cached compile), then the request's IOSurfaces, their wrappers and the
// _ANERequest; every evaluate only locks, copies, unlocks and dispatches. Every framework call
// runs in an autorelease pool; what the driver keeps it retains or owns, and unload releases all
// of it and removes the program's $TMPDIR directory.
//
// NOT VERIFIED ON HARDWARE: no Mac was available to this project. On Linux the driver runs
// unchanged against a mock of the Objective-C runtime and the frameworks
// (tests/ane_framework_mock), which proves the calls consistent with the documented API and
// memory rules, not that a given macOS accepts them.
#pragma once

#include <memory>
#include <string>

#include "backends/ane/runtime/driver.h"
#include "backends/ane/runtime/framework_api.h"
#include "backends/ane/runtime/request_layout.h"

namespace anetrain::ane {

struct FrameworkDriverOptions {
  SurfaceSizeRule surface_rule = SurfaceSizeRule::kEqual;
  std::string cache_dir;  // compile cache (compile_cache.h); "" disables it
  int64_t cache_limit_bytes = int64_t{2048} << 20;
};

// Options from the environment: ANETRAIN_ANE_SURFACE_RULE (equal|ascending, default equal),
// the compile cache's directory and limit (compile_cache.h).
FrameworkDriverOptions framework_driver_options_from_environment();

// Loads the framework and its runtime dependencies from `libraries`. Returns nullptr and sets
// *reason when they are not available (e.g. "cannot load the framework: <dlerror>").
std::unique_ptr<AneDriver> open_framework_driver(const FrameworkLibraries& libraries,
                                                 const FrameworkDriverOptions& options,
                                                 std::string* reason);
// The same with the libraries and options the environment names.
std::unique_ptr<AneDriver> open_framework_driver(std::string* reason);

}  // namespace anetrain::ane
