// anetrain's command-line entry point: dispatches to a subcommand and turns UserErrors into
// one-line messages with a nonzero exit code.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  using namespace anetrain;
  if (argc < 2) {
    print_usage();
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "train") return run_train_command(args, std::vector<std::string>(argv, argv + argc));
    if (command == "sample") return run_sample_command(args);
    if (command == "bench") return run_bench_command(args);
    if (command == "tokenizer") return run_tokenizer_command(args);
    if (command == "data") return run_data_command(args);
    if (command == "ane") return run_ane_command(args);
    if (command == "probe") return run_probe_command(args);
    if (command == "help" || command == "--help" || command == "-h") {
      print_usage();
      return 0;
    }
    throw UserError("unknown command '" + command + "': run 'anetrain help'");
  } catch (const UserError& e) {
    std::fprintf(stderr, "anetrain: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "anetrain: error: out of memory: use a smaller batch_size or seq_len, "
                         "or --set recompute=true\n");
    return 1;
  }
}
