// Reading metrics.jsonl on resume (train/metrics_log.h): records past the resumed step and lines
// that are not JSON objects are dropped; a "step" of any type must not throw or overflow
// (found while writing fuzz/metrics_log_fuzz.cpp: a string step threw nlohmann's type_error,
// which reached main as an internal error, and 1e300 was converted to int64).
#include "train/metrics_log.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

TEST(MetricsLog, KeepsRecordsUpToTheResumedStepWhateverTheirStep) {
  TempDir dir;
  std::ofstream(dir.file("metrics.jsonl")) << "{\"step\": 1, \"loss\": 2.5}\n"
                                           << "{\"step\": \"x\"}\n"
                                           << "{\"step\": 1e300}\n"
                                           << "{\"step\": -1e300}\n"
                                           << "{\"step\": 18446744073709551615}\n"
                                           << "{\"step\": -3}\n"
                                           << "{\"step\": 4.5}\n"
                                           << "{\"step\": null}\n"
                                           << "{\"note\": \"no step\"}\n"
                                           << "{\"step\": 6}\n"
                                           << "[1, 2]\n"
                                           << "{\"step\": 2, \"lo";
  { MetricsLog log(dir.path(), 5); }
  EXPECT_EQ(read_bytes(dir.file("metrics.jsonl")),
            "{\"step\": 1, \"loss\": 2.5}\n{\"step\": -1e300}\n{\"step\": -3}\n{\"step\": 4.5}\n"
            "{\"note\": \"no step\"}\n");
}

}  // namespace
}  // namespace anetrain
