// --config and repeated --set: declared once here for every command that builds a RunConfig
// (train, bench, ane emit, ane check), and turned into one.
#pragma once

#include <vector>

#include "cli/args.h"
#include "model/config.h"

namespace anetrain {

std::vector<Flag> config_flags(bool config_required = true);
RunConfig config_from_flags(const Args& args);

// --adapters DIR for the commands that run a model (sample, eval): a LoRA run's adapters merged
// into the --checkpoint model.
Flag adapters_flag();

// a followed by b: for composing a command's flags from shared groups.
std::vector<Flag> operator+(std::vector<Flag> a, const std::vector<Flag>& b);

}  // namespace anetrain
