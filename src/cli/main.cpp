// anetrain's command-line entry point: runs the CLI (cli/dispatch.cpp) and turns every
// exception into a one-line message with exit code 1: UserErrors as they are, anything else as
// an internal error (a bug to report), never an abort.
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
  } catch (const std::exception& e) {
    std::fprintf(stderr, "anetrain: error: internal: %s (please report this)\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "anetrain: error: internal: an unknown exception (please report this)\n");
    return 1;
  }
}
