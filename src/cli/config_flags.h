// --config and repeated --set: declared once here for every command that builds a RunConfig
// (train, bench, ane emit, ane check), and turned into one.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/args.h"
#include "model/config.h"
#include "model/lora.h"

namespace anetrain {

std::vector<Flag> config_flags(bool config_required = true);
RunConfig config_from_flags(const Args& args);

// --adapters DIR for the commands that run a model (sample, eval): a LoRA run's adapters merged
// into the --checkpoint model.
Flag adapters_flag();

// --lora-rank, --lora-alpha, --lora-targets, --lora-dropout, for the commands that train
// adapters (train, bench); `rank_help` says what --lora-rank does in that command.
std::vector<Flag> lora_flags(const std::string& rank_help);
// Their LoRA config, or none without --lora-rank; the others without it are a UserError that
// starts with `command` ("anetrain train").
std::optional<LoraConfig> lora_from_flags(const Args& args, const std::string& command);

// a followed by b: for composing a command's flags from shared groups.
std::vector<Flag> operator+(std::vector<Flag> a, const std::vector<Flag>& b);

}  // namespace anetrain
