// Everything `--help`, `anetrain help ...` and `--version` print, generated from the command
// declarations (cli/command.h) and the config table (model/config.h).
#pragma once

#include <string>

#include "cli/command.h"

namespace anetrain {

void print_overview();                            // anetrain help: every command
void print_command_help(const Command& command);  // anetrain CMD --help
void print_group_help(const std::string& group);  // anetrain tokenizer --help
void print_config_help();                         // anetrain help config: every key
void print_version();                             // anetrain --version

}  // namespace anetrain
