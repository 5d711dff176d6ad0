// The counts behind anemock.h: live objects per class (maintained by the registry as objects are
// created and released), the cumulative event counters, and the ANEMOCK_REPORT_DIR report.
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <utility>

#include "anemock.h"
#include "counters.h"
#include "runtime.h"

namespace anemock {
namespace {

struct Live {
  std::mutex mu;
  std::map<std::string, int64_t> by_class;
  int64_t objects = 0, ane_objects = 0;
};

Live& live() {
  static Live* l = new Live();  // never destroyed: the library destructor writes a report
  return *l;
}

int64_t load_time_ns() {
  static const int64_t t = [] {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  }();
  return t;
}
// Fixed when the library loads, so every report of this process goes to one file.
__attribute__((constructor)) void remember_load_time() { load_time_ns(); }

// Every AneMockCounts field, by its JSON name.
constexpr std::pair<const char*, int64_t AneMockCounts::*> kFields[] = {
    {"live_objects", &AneMockCounts::live_objects},
    {"live_ane_objects", &AneMockCounts::live_ane_objects},
    {"live_surfaces", &AneMockCounts::live_surfaces},
    {"surfaces_created", &AneMockCounts::surfaces_created},
    {"pool_depth", &AneMockCounts::pool_depth},
    {"pending_autoreleases", &AneMockCounts::pending_autoreleases},
    {"compiles", &AneMockCounts::compiles},
    {"loads", &AneMockCounts::loads},
    {"failed_loads", &AneMockCounts::failed_loads},
    {"unloads", &AneMockCounts::unloads},
    {"evaluates", &AneMockCounts::evaluates},
    {"loaded_models", &AneMockCounts::loaded_models},
    {"process_compiles", &AneMockCounts::process_compiles},
};

}  // namespace

Counters& counters() {
  static Counters* c = new Counters();
  return *c;
}

void count_created(Class* c) {
  Live& l = live();
  std::lock_guard lock(l.mu);
  ++l.by_class[c->name];
  ++l.objects;
  l.ane_objects += c->ane;
}

void count_released(Class* c) {
  Live& l = live();
  std::lock_guard lock(l.mu);
  --l.by_class[c->name];
  --l.objects;
  l.ane_objects -= c->ane;
}

void write_report() {
  const char* dir = std::getenv("ANEMOCK_REPORT_DIR");
  if (!dir || !*dir) return;
  AneMockCounts c;
  anemock_counts(&c);
  std::string json = "{";
  for (const auto& [name, member] : kFields)
    json += std::string("\"") + name + "\": " + std::to_string(c.*member) + ", ";
  json += "\"live_by_class\": {";
  {
    Live& l = live();
    std::lock_guard lock(l.mu);
    bool first = true;
    for (const auto& [name, n] : l.by_class) {
      if (n == 0) continue;
      json += std::string(first ? "" : ", ") + "\"" + name + "\": " + std::to_string(n);
      first = false;
    }
  }
  json += "}}\n";
  // Written to a temporary name and renamed, so a reader never sees half a report.
  const std::string path = std::string(dir) + "/" + std::to_string(getpid()) + "-" +
                           std::to_string(load_time_ns()) + ".json";
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  const bool ok = write(fd, json.data(), json.size()) == static_cast<ssize_t>(json.size());
  close(fd);
  if (ok) rename(tmp.c_str(), path.c_str());
}

}  // namespace anemock

using namespace anemock;

extern "C" ANEMOCK_EXPORT void anemock_counts(AneMockCounts* out) {
  Counters& k = counters();
  {
    Live& l = live();
    std::lock_guard lock(l.mu);
    out->live_objects = l.objects;
    out->live_ane_objects = l.ane_objects;
    auto it = l.by_class.find("IOSurface");
    out->live_surfaces = it == l.by_class.end() ? 0 : it->second;
  }
  out->surfaces_created = k.surfaces_created;
  out->pool_depth = pool_depth();
  out->pending_autoreleases = pending_autoreleases();
  out->compiles = k.compiles;
  out->loads = k.loads;
  out->failed_loads = k.failed_loads;
  out->unloads = k.unloads;
  out->evaluates = k.evaluates;
  out->loaded_models = k.loaded_models;
  out->process_compiles = k.process_compiles;
}

extern "C" ANEMOCK_EXPORT void anemock_reset_counts(void) {
  Counters& k = counters();
  k.surfaces_created = k.compiles = k.loads = k.failed_loads = k.unloads = k.evaluates = 0;
}

extern "C" ANEMOCK_EXPORT int64_t anemock_live(const char* class_name) {
  Live& l = live();
  std::lock_guard lock(l.mu);
  auto it = l.by_class.find(class_name ? class_name : "");
  return it == l.by_class.end() ? 0 : it->second;
}

extern "C" ANEMOCK_EXPORT void anemock_fail_next_loads(int n) { counters().fail_next_loads = n; }
