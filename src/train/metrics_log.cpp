#include "train/metrics_log.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/json_input.h"

namespace anetrain {
namespace {

// A record to keep on resume: a JSON object (a torn last line from a killed run fails to parse
// and is dropped) whose "step", if any, is a number up to keep_through. Any other "step" is
// dropped too, rather than converted (a string would throw, 1e300 overflow the int64).
bool keep_record(const nlohmann::json& record, int64_t keep_through) {
  if (!record.is_object()) return false;
  auto step = record.find("step");
  if (step == record.end()) return true;
  if (step->is_number_unsigned())
    return keep_through >= 0 && step->get<uint64_t>() <= static_cast<uint64_t>(keep_through);
  if (step->is_number_integer()) return step->get<int64_t>() <= keep_through;
  return step->is_number_float() && step->get<double>() <= static_cast<double>(keep_through);
}

}  // namespace

MetricsLog::MetricsLog(const std::string& dir, int64_t keep_through)
    : path_((std::filesystem::path(dir) / "metrics.jsonl").string()) {
  if (std::filesystem::exists(path_)) {
    std::ifstream in(path_);
    std::string line, kept;
    while (std::getline(in, line))
      if (keep_record(parse_json_or_discarded(line), keep_through)) kept += line + "\n";
    write_file_atomic(path_, kept.data(), kept.size());
  }
  file_ = std::fopen(path_.c_str(), "a");
  if (!file_) throw UserError("cannot open '" + path_ + "' for writing: " + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::append(const nlohmann::json& record) {
  const std::string line = record.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

std::string format_duration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  return buf;
}

}  // namespace anetrain
