// The CLI's subcommands, each declared with its flags (cli/command.h) in its own file and
// collected by all_commands() (cli/command_table.cpp). Each run function returns the exit
// code; user-facing problems surface as UserError, which main() prints as one line.
#pragma once

#include <string>
#include <vector>

#include "cli/command.h"

namespace anetrain {

Command train_command();
Command sample_command();
Command bench_command();
std::vector<Command> tokenizer_commands();  // tokenizer train | encode | decode
std::vector<Command> data_commands();       // data prepare
std::vector<Command> ane_commands();        // ane emit | lint | check | run
Command ane_run_command();                  // ane run (cli/ane_run_command.cpp)
Command probe_command();
Command eval_command();                 // cli/eval_command.cpp
std::vector<Command> model_commands();  // convert | info (cli/model_commands.cpp)

// argv: the whole command line, program name first. Dispatches to a command, or prints help
// or the version. Throws UserError for an unknown command.
int run_cli(const std::vector<std::string>& argv);

}  // namespace anetrain
