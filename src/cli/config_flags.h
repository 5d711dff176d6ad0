// Builds a RunConfig from --config and repeated --set flags (shared by train and bench).
#pragma once

#include "cli/args.h"
#include "model/config.h"

namespace anetrain {

RunConfig config_from_flags(const Args& args);

}  // namespace anetrain
