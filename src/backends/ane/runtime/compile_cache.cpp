#include "backends/ane/runtime/compile_cache.h"

#include <sys/utsname.h>

#include <cstdlib>

#include "io/sha256.h"

namespace anetrain::ane {

std::string os_build() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.version;
}

std::string compile_cache_key(const std::string& mil_text,
                              const std::map<std::string, std::string>& weight_files) {
  std::string material =
      "anetrain-ane-cache-v1\n" + os_build() + "\n" + sha256_hex(mil_text) + "\n";
  for (const auto& [path, bytes] : weight_files) material += path + " " + sha256_hex(bytes) + "\n";
  return sha256_hex(material);
}

std::string default_compile_cache_dir() {
  if (const char* dir = std::getenv("ANETRAIN_ANE_CACHE")) return dir;
  if (const char* home = std::getenv("HOME")) return std::string(home) + "/.cache/anetrain/ane";
  return "";
}

}  // namespace anetrain::ane
