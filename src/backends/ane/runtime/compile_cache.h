// On-disk cache of compiled ANE programs, keyed by sha256 of the MIL text, the weight files and
// the OS build (a compiler update must not reuse stale output). The framework driver restores a
// cached compiler output directory before compiling (the seed saw a 3.8 s compile drop to 0.7 s
// when the output was reused); the fake driver records validated programs, so a hit skips its
// parse/check/lint. Default location: $ANETRAIN_ANE_CACHE, else ~/.cache/anetrain/ane.
#pragma once

#include <map>
#include <string>

namespace anetrain::ane {

std::string os_build();  // uname's system, release and version
std::string compile_cache_key(const std::string& mil_text,
                              const std::map<std::string, std::string>& weight_files);
std::string default_compile_cache_dir();  // "" when no home directory is known

}  // namespace anetrain::ane
