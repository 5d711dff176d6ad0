// libFuzzer target for reading a run's metrics.jsonl on resume (MetricsLog in
// src/train/metrics_log.h), which keeps the records up to the resumed step and drops the rest
// and any line that does not parse (a torn last line). The input is written as metrics.jsonl
// and the log opened with keep_through = 5. It must not throw anything but a one-line
// UserError; every line kept must be a JSON object with a "step" of at most 5 and must be a
// line of the input.
//
// Seeds (ANETRAIN_FUZZ_WRITE_SEEDS=DIR): logs as training writes them, one with a torn line.
#include <set>
#include <sstream>
#include <string>

#include "fuzz_util.h"
#include "io/atomic_file.h"
#include "io/json_input.h"
#include "train/metrics_log.h"

using namespace anetrain;

namespace {

constexpr const char* kTarget = "metrics_log_fuzz";
constexpr int64_t kKeepThrough = 5;

void write_seeds(const std::string& dir) {
  std::string log;
  for (int step = 1; step <= 8; ++step)
    log += nlohmann::json{{"step", step},
                          {"loss", 5.5 - 0.1 * step},
                          {"lr", 1e-3},
                          {"tokens_per_s", 12345.6},
                          {"grad_norm", 1.25}}
               .dump() +
           "\n";
  log += nlohmann::json{{"step", 8}, {"val_loss", 4.75}}.dump() + "\n";
  fuzz_util::write_bytes(dir + "/metrics.jsonl", log);
  fuzz_util::write_bytes(dir + "/torn.jsonl", log + "{\"step\": 9, \"lo");
}

std::set<std::string> lines_of(const std::string& text) {
  std::set<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.insert(line);
  return lines;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz_util::maybe_write_seeds(write_seeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz_util::fresh_dir("run");
  const std::string path = dir + "/metrics.jsonl";
  const std::string input(fuzz_util::as_text(data, size));
  fuzz_util::write_bytes(path, input);
  fuzz_util::run_one(kTarget, [&] { MetricsLog log(dir, kKeepThrough); });
  const std::set<std::string> original = lines_of(input);
  for (const std::string& line : lines_of(read_file(path))) {
    if (!original.count(line)) fuzz_util::fail(kTarget, "kept a line that was not in the input");
    const nlohmann::json record = parse_json_or_discarded(line);
    if (!record.is_object()) fuzz_util::fail(kTarget, "kept a line that is not a JSON object");
    auto step = record.find("step");
    if (step != record.end() && !(step->is_number() && *step <= kKeepThrough))
      fuzz_util::fail(kTarget, "kept a record past the resumed step: " + line);
  }
  return 0;
}
