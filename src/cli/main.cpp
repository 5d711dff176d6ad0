// anetrain's command-line entry point: runs the CLI (cli/dispatch.cpp) and turns UserErrors
// into one-line messages with a nonzero exit code.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
  using namespace anetrain;
  try {
    return run_cli(std::vector<std::string>(argv, argv + argc));
  } catch (const UserError& e) {
    std::fprintf(stderr, "anetrain: error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr,
                 "anetrain: error: out of memory: use a smaller batch_size or seq_len, "
                 "or --set recompute=true\n");
    return 1;
  }
}
