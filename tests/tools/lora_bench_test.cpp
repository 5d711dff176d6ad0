// bench/lora.py as a user runs it, on the tiny workload: anetrain and PyTorch each ran full
// fine-tuning and LoRA, the table carries the ratios (LoRA against full fine-tuning in each
// framework, anetrain against PyTorch), both sides trained the same number of adapter
// parameters, and the memory formula gives LoRA far less optimizer state. A config that is not
// a whole model gets a one-line error and exit status 2.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "support/test_util.h"

namespace anetrain {
namespace {

int lora_bench(const std::string& args, const std::string& out, const std::string& err) {
  const std::string cmd = "/usr/bin/python3 " + testing::source_dir() +
                          "/bench/lora.py --anetrain " ANETRAIN_BINARY " " + args + " > " + out +
                          " 2> " + err;
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(LoraBench, RunsBothFrameworksInBothModesAndPrintsTheRatios) {
  testing::TempDir dir;
  const std::string out = dir.file("out"), err = dir.file("err"), saved = dir.file("runs.json");
  ASSERT_EQ(lora_bench("--configs tiny --rounds 1 --steps 2 --warmup 1 --rank 4 --wait-idle 0 "
                       "--save " +
                           saved,
                       out, err),
            0)
      << testing::read_bytes(err);
  const std::string table = testing::read_bytes(out);
  EXPECT_NE(table.find("LoRA speed-up"), std::string::npos) << table;
  EXPECT_NE(table.find("PyTorch/anetrain time"), std::string::npos) << table;
  EXPECT_NE(table.find("LoRA r4"), std::string::npos) << table;
  EXPECT_NE(table.find("full FT"), std::string::npos) << table;
  EXPECT_NE(table.find("4 x 64"), std::string::npos) << "batch x seq stated:\n" << table;

  const nlohmann::json j = nlohmann::json::parse(std::ifstream(saved));
  ASSERT_EQ(j["runs"].size(), 4u) << j.dump();
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : j["rows"]) {
    ASSERT_FALSE(row.value("failed", false)) << row.dump();
    EXPECT_GT(row["ms_per_step"].get<double>(), 0.0) << row.dump();
    EXPECT_GT(row["peak_rss_mb"].get<double>(), 1.0) << row.dump();
    rows[row["impl"].get<std::string>() + " " + row["mode"].get<std::string>()] = row;
  }
  ASSERT_EQ(rows.size(), 4u) << j.dump();
  // The ratios: LoRA against full fine-tuning within each framework, anetrain against PyTorch.
  for (const char* lora : {"anetrain lora", "pytorch lora"}) {
    EXPECT_GT(rows[lora].value("lora_speedup", 0.0), 0.0) << rows[lora].dump();
    EXPECT_GT(rows[lora].value("lora_rss_ratio", 0.0), 0.0) << rows[lora].dump();
  }
  for (const char* ours : {"anetrain full", "anetrain lora"})
    EXPECT_GT(rows[ours].value("pytorch_over_anetrain", 0.0), 0.0) << rows[ours].dump();
  // A filled ratio cell ends an anetrain row (its RSS against PyTorch's).
  EXPECT_NE(table.find("x\n"), std::string::npos) << "no ratio in the table:\n" << table;
  // Both sides adapt the same weights at the same rank: the same trained-parameter count.
  EXPECT_EQ(rows["anetrain lora"]["trained_params"], rows["pytorch lora"]["trained_params"]);
  EXPECT_LT(rows["anetrain lora"]["trained_params"].get<int64_t>(),
            rows["anetrain full"]["trained_params"].get<int64_t>());
  // The memory formula: LoRA keeps optimizer state for the adapters only.
  const double lora_optimizer = rows["anetrain lora"]["memory_optimizer_mb"].get<double>();
  const double full_optimizer = rows["anetrain full"]["memory_optimizer_mb"].get<double>();
  EXPECT_GT(lora_optimizer, 0.0);
  EXPECT_LT(lora_optimizer, full_optimizer / 10);
  EXPECT_LT(rows["anetrain lora"]["memory_formula_mb"].get<double>(),
            rows["anetrain full"]["memory_formula_mb"].get<double>());
  EXPECT_NE(table.find("machine: "), std::string::npos) << table;
}

TEST(LoraBench, ABadConfigIsAOneLineErrorWithStatus2) {
  testing::TempDir dir;
  const std::string out = dir.file("out"), err = dir.file("err");
  // layer768 is one block: LoRA is timed on whole models only.
  for (const char* configs : {"nonsense", "layer768"}) {
    const int status = lora_bench(std::string("--configs ") + configs + " --wait-idle 0", out, err);
    const std::string message = testing::read_bytes(err);
    EXPECT_EQ(status, 2) << configs;
    EXPECT_NE(message.find(std::string("lora: error: --configs: ") + configs), std::string::npos)
        << message;
    EXPECT_EQ(message.find('\n'), message.size() - 1) << "one line:\n" << message;
    EXPECT_EQ(testing::read_bytes(out), "") << configs;
  }
}

}  // namespace
}  // namespace anetrain
