#include "backends/ane/runtime/compile_cache.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "io/sha256.h"

namespace anetrain::ane {
namespace fs = std::filesystem;

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

int64_t compile_cache_limit_bytes() {
  const char* text = std::getenv("ANETRAIN_ANE_CACHE_LIMIT_MB");
  if (!text) return int64_t{2048} << 20;
  char* end = nullptr;
  const long long mb = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || mb < 0)
    throw UserError(std::string("ANETRAIN_ANE_CACHE_LIMIT_MB '") + text +
                    "' is not a whole number of megabytes: set it to e.g. 2048");
  return static_cast<int64_t>(mb) << 20;
}

void touch_cache_entry(const std::string& entry) {
  std::error_code ec;
  fs::last_write_time(entry, fs::file_time_type::clock::now(), ec);
}

void prune_compile_cache(const std::string& cache_dir, int64_t limit_bytes) {
  struct Entry {
    fs::path path;
    fs::file_time_type used;
    int64_t bytes = 0;
  };
  std::error_code ec;
  std::vector<Entry> entries;
  int64_t total = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(cache_dir, ec)) {
    Entry entry{e.path(), e.last_write_time(ec), 0};
    if (e.is_directory(ec)) {
      for (const auto& f : fs::recursive_directory_iterator(e.path(), ec))
        if (f.is_regular_file(ec)) entry.bytes += static_cast<int64_t>(f.file_size(ec));
    } else {
      entry.bytes = static_cast<int64_t>(e.file_size(ec));
    }
    total += entry.bytes;
    entries.push_back(std::move(entry));
  }
  if (total <= limit_bytes) return;
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.used < b.used; });
  for (const Entry& e : entries) {
    if (total <= limit_bytes) break;
    fs::remove_all(e.path, ec);
    if (!ec) total -= e.bytes;
  }
}

}  // namespace anetrain::ane
