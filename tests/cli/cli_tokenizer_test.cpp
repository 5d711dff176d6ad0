// `anetrain tokenizer encode|decode` and `data prepare` through the CLI: stdin to stdout round
// trips, and one-line errors for bad tokenizer specs, files and inputs.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

std::string pipe_through(const std::string& input, const std::string& args, int* status) {
  TempDir dir;
  std::ofstream(dir.file("in"), std::ios::binary) << input;
  const std::string command = std::string(ANETRAIN_BINARY) + " " + args + " < " + dir.file("in") +
                              " 2>" + dir.file("err");
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  *status = pclose(pipe);
  return out;
}

TEST(CliTokenizer, EncodeDecodeRoundTripOnStdinStdout) {
  int status = 0;
  const std::string text = "Bytes: caf\xc3\xa9 \xf0\x9f\x90\x8b\n";
  const std::string ids = pipe_through(text, "tokenizer encode --tokenizer bytes", &status);
  ASSERT_EQ(status, 0);
  EXPECT_EQ(ids.substr(0, 10), "66 121 116");
  EXPECT_EQ(pipe_through(ids, "tokenizer decode --tokenizer bytes", &status), text);
  EXPECT_EQ(status, 0);
}

TEST(CliTokenizer, BadSpecsFilesAndInputs) {
  TempDir dir;
  std::ofstream(dir.file("junk.model")) << "junk";
  auto r = run_anetrain({"tokenizer", "encode", "--tokenizer", "sp:" + dir.file("junk.model")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is not a SentencePiece model"), std::string::npos) << r.err;
  r = run_anetrain({"tokenizer", "encode", "--tokenizer", "wordpiece"});
  EXPECT_NE(r.err.find("unknown tokenizer spec"), std::string::npos) << r.err;
  r = run_anetrain({"data", "prepare", "--tokenizer", "bytes", "--input", dir.file("none.txt"),
                    "--out", dir.file("out")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  std::ofstream(dir.file("bad.jsonl")) << "not json\n{\"x\": 1}\n";
  r = run_anetrain({"data", "prepare", "--tokenizer", "bytes", "--input", dir.file("bad.jsonl"),
                    "--out", dir.file("out"), "--quiet"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no usable documents"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 JSON lines that do not parse"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace anetrain
