// The CLI's subcommands. Each parses its own flags (cli/args.h) and returns the exit code;
// user-facing problems surface as UserError, which main() prints as one line.
#pragma once

#include <string>
#include <vector>

namespace anetrain {

// full_argv: the whole command line, for the static ANE pipeline's exec() restart.
int run_train_command(const std::vector<std::string>& args, const std::vector<std::string>& full_argv);
int run_sample_command(const std::vector<std::string>& args);
int run_bench_command(const std::vector<std::string>& args);
int run_tokenizer_command(const std::vector<std::string>& args);
int run_data_command(const std::vector<std::string>& args);
int run_ane_command(const std::vector<std::string>& args);
int run_probe_command(const std::vector<std::string>& args);
void print_usage();

}  // namespace anetrain
