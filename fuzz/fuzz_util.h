// Shared by the fuzz targets whose parsers read files or directories rather than bytes: a
// private scratch directory per fuzzer process (removed at exit), writing inputs and seeds, and
// the seed-mode entry point (fuzz/README.md). Header-only; not a target itself.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "core/error.h"

namespace fuzz_util {

// A directory of this process's own under $TMPDIR, created on first use, removed at exit.
inline const std::string& scratch_dir() {
  // Leaked on purpose: the atexit handler below runs after static destructors would have.
  static const std::string& dir = *new std::string([] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/anetrain-fuzz-XXXXXX";
    if (!mkdtemp(pattern.data())) {
      std::perror("fuzz: mkdtemp");
      std::abort();
    }
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(), ec);
    });
    return pattern;
  }());
  return dir;
}

inline void write_bytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

// A fresh empty subdirectory `name` of the scratch directory.
inline std::string fresh_dir(const std::string& name) {
  const std::string dir = scratch_dir() + "/" + name;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void fail(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", target, what.c_str());
  std::abort();
}

// Runs one input: a UserError is the expected way to refuse it; any other exception is a bug.
// A UserError's message must be one line.
template <typename Fn>
void run_one(const char* target, Fn&& fn) {
  try {
    fn();
  } catch (const anetrain::UserError& e) {
    const std::string_view message = e.what();
    if (message.empty() || message.find('\n') != std::string_view::npos)
      fail(target, "UserError message is not one line: " + std::string(message));
  } catch (const std::exception& e) {
    fail(target, std::string("unexpected exception: ") + e.what());
  }
}

// Seed mode (scripts/fuzz.sh): with ANETRAIN_FUZZ_WRITE_SEEDS=DIR set, `write_seeds(DIR)` writes
// the seeds and the process exits.
template <typename Fn>
void maybe_write_seeds(Fn&& write_seeds) {
  if (const char* dir = std::getenv("ANETRAIN_FUZZ_WRITE_SEEDS")) {
    try {
      write_seeds(std::string(dir));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fuzz: writing seeds failed: %s\n", e.what());
      std::exit(1);
    }
    std::exit(0);
  }
}

}  // namespace fuzz_util
