// tools/plot_metrics.py as a user runs it: one run drawn into its own directory, several runs
// overlaid into one picture, and a clear refusal when several runs have nowhere to go.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "support/test_util.h"

namespace anetrain {
namespace {

void write_metrics(const std::string& dir, double offset) {
  std::ofstream out(dir + "/metrics.jsonl");
  for (int step = 1; step <= 20; ++step)
    out << "{\"step\":" << step << ",\"loss\":" << 5.0 - 0.1 * step + offset << "}\n";
  out << "{\"step\":20,\"val_loss\":" << 3.2 + offset << "}\n";
}

int plot(const std::string& args) {
  const std::string cmd = "/usr/bin/python3 " + testing::source_dir() + "/tools/plot_metrics.py " +
                          args + " > /dev/null 2>&1";
  return std::system(cmd.c_str());
}

bool is_png(const std::string& path) { return testing::read_bytes(path).rfind("\x89PNG", 0) == 0; }

TEST(PlotMetrics, DrawsOneRunOrSeveralOverlaid) {
  testing::TempDir dir;
  const std::string a = dir.file("fp32"), b = dir.file("bf16");
  ASSERT_EQ(std::system(("mkdir -p " + a + " " + b).c_str()), 0);
  write_metrics(a, 0.0);
  write_metrics(b, 0.01);
  ASSERT_EQ(plot(a), 0);
  EXPECT_TRUE(is_png(a + "/loss.png"));
  ASSERT_EQ(plot(a + " " + b + " --out " + dir.file("both.png")), 0);
  EXPECT_TRUE(is_png(dir.file("both.png")));
  EXPECT_NE(plot(a + " " + b), 0);  // several runs need --out
  EXPECT_NE(plot(dir.file("missing")), 0);
}

}  // namespace
}  // namespace anetrain
