// The ANE backend's entry point. Until the runtime over Apple's private AppleNeuralEngine
// framework lands (see README "Status"), asking for it reports why it is unavailable instead
// of running anything else in its place.
#pragma once

#include <memory>
#include <string>

#include "backends/backend.h"

namespace anetrain::ane {

// Why the ANE backend cannot run on this machine, or "" when it can.
std::string unavailable_reason();

std::unique_ptr<Backend> make_ane_backend();

}  // namespace anetrain::ane
