// DIR/metrics.jsonl: one JSON object per line, per training step ("step", "loss", "lr", "ms",
// "tokens_per_s", "grad_norm") and per validation ("step", "val_loss"). On resume the lines
// after the checkpoint's step are dropped first, so replayed steps are not logged twice.
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace anetrain {

class MetricsLog {
 public:
  // Opens dir/metrics.jsonl for appending, keeping only records with step <= keep_through.
  MetricsLog(const std::string& dir, int64_t keep_through);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void append(const nlohmann::json& record);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// "1h02m", "3m05s", "42s".
std::string format_duration(double seconds);

}  // namespace anetrain
