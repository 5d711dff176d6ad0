// On-disk cache of compiled ANE programs, keyed by sha256 of the MIL text, the weight files and
// the OS build (a compiler update must not reuse stale output). The framework driver keeps the
// compiler's output directory there and, on a hit, loads it without compiling (the seed saw a
// 3.8 s compile drop to 0.7 s when the output was reused); the fake driver records validated
// programs, so a hit skips its parse/check/lint. Default location: $ANETRAIN_ANE_CACHE, else
// ~/.cache/anetrain/ane. The static pipeline makes new programs every step, so the cache is
// bounded: $ANETRAIN_ANE_CACHE_LIMIT_MB (default 2048), least recently used entries go first.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace anetrain::ane {

std::string os_build();  // uname's system, release and version
std::string compile_cache_key(const std::string& mil_text,
                              const std::map<std::string, std::string>& weight_files);
std::string default_compile_cache_dir();  // "" when no home directory is known
int64_t compile_cache_limit_bytes();

// Marks a cache entry (a file or directory directly under the cache) as just used.
void touch_cache_entry(const std::string& entry);
// Deletes least recently used entries until the cache holds at most `limit_bytes`.
void prune_compile_cache(const std::string& cache_dir, int64_t limit_bytes);

}  // namespace anetrain::ane
