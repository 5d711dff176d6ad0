// The driver over Apple's private AppleNeuralEngine framework (../shared/reference/ane.md, "The
// private API call sequence"). Everything is resolved at run time — dlopen/dlsym of the
// framework, the Objective-C runtime's C functions, CoreFoundation and IOSurface — so this
// file builds with the normal C++ compiler on Linux and macOS alike; where the framework
// cannot be loaded, open() says why and nothing else happens.
//
// NOT VERIFIED ON HARDWARE: no Mac was available to this project. The call sequence follows
// the documented reverse-engineered API; everything above this driver is tested through the
// fake driver on Linux.
#pragma once

#include <memory>
#include <string>

#include "backends/ane/runtime/driver.h"

namespace anetrain::ane {

// Loads the framework and its runtime dependencies. Returns nullptr and sets *reason when they
// are not available (e.g. "cannot load .../AppleNeuralEngine: <dlerror>").
std::unique_ptr<AneDriver> open_framework_driver(std::string* reason);

}  // namespace anetrain::ane
