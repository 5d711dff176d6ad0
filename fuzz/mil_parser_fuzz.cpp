// libFuzzer target for the MIL parser, checker and linter: any input must either parse or throw
// MilError/UserError; anything else (a crash, a sanitizer report, another exception) is a bug.
// A program that parses must also print to text that parses back to the same text
// (print(parse(print(p))) == print(p)), the invariant the builder's output relies on.
//
// Build (scripts/fuzz.sh does this for every fuzz/*_fuzz.cpp):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc fuzz/mil_parser_fuzz.cpp \
//     src/backends/ane/mil/*.cpp src/core/*.cpp (minus gemm) -o build/mil_parser_fuzz
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "backends/ane/mil/checker.h"
#include "backends/ane/mil/parser.h"
#include "backends/ane/mil/printer.h"
#include "backends/ane/mil/profiles.h"
#include "core/error.h"

using namespace anetrain;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  mil::Program program;
  try {
    program = mil::parse_program(text, "fuzz.mil");
  } catch (const UserError&) {
    return 0;  // rejecting malformed text is the expected outcome
  }
  const std::string printed = mil::print_program(program);
  try {
    const std::string again = mil::print_program(mil::parse_program(printed, "printed.mil"));
    if (again != printed) {
      std::fprintf(stderr, "round trip differs:\n%s\n---\n%s\n", printed.c_str(), again.c_str());
      std::abort();
    }
  } catch (const UserError& e) {
    std::fprintf(stderr, "printed program does not parse: %s\n%s\n", e.what(), printed.c_str());
    std::abort();
  }
  // The linter must cope with programs the checker rejects, so it runs either way.
  for (const std::string& name : mil::lint_profile_names()) mil::lint_program(program, mil::lint_profile(name));
  try {
    mil::check_program(program, "fuzz.mil");
  } catch (const UserError&) {
  }
  return 0;
}
