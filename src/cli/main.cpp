// anetrain's command-line entry point: runs the CLI (cli/dispatch.cpp) and turns every
// exception into a one-line message with exit code 1: UserErrors as they are, anything else as
// an internal error (a bug to report), never an abort.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/error.h"

#if defined(__x86_64__) && defined(__AVX2__)
#include <unistd.h>

// The build's x86-64 floor (CMakeLists.txt: AVX2, FMA, F16C, BMI) checked before anything
// compiled for it runs: priority 101 comes before every C++ static initializer of this binary,
// and the check itself is compiled for plain x86-64. Without it an older CPU would die on an
// illegal instruction somewhere in start-up.
__attribute__((constructor(101), target("arch=x86-64"))) static void refuse_cpus_below_floor() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2"))
    return;
  static const char kMessage[] =
      "anetrain: error: this CPU lacks AVX2/FMA/F16C/BMI2, which this build requires "
      "(x86-64-v3); rebuild with: cmake -DANETRAIN_ARCH_FLAGS=-march=native ...\n";
  [[maybe_unused]] const ssize_t written = write(2, kMessage, sizeof kMessage - 1);
  _exit(1);
}
#endif

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
