// `anetrain tokenizer encode|decode` and `data prepare` through the CLI: stdin to stdout round
// trips, and one-line errors for bad tokenizer specs, files and inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

std::string pipe_through(const std::string& input, const std::string& args, int* status) {
  TempDir dir;
  std::ofstream(dir.file("in"), std::ios::binary) << input;
  const std::string command =
      std::string(ANETRAIN_BINARY) + " " + args + " < " + dir.file("in") + " 2>" + dir.file("err");
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

namespace anetrain {
namespace {
using namespace anetrain::testing;

// A newcomer's first tokenizer: one line on stdout, nothing from the SentencePiece library on
// stderr (its string-form Train() logged "Running command" at INFO before reading the level).
TEST(CliTokenizer, TrainPrintsOneLineAndNoLibraryNoise) {
  TempDir dir;
  std::ofstream corpus(dir.file("input.txt"));
  for (int i = 0; i < 300; ++i)
    corpus << "Call me Ishmael. Some years ago, never mind how long precisely " << i << "\n";
  corpus.close();
  const CommandResult r = run_anetrain({"tokenizer", "train", "--input", dir.file("input.txt"),
                                        "--vocab-size", "300", "--out", dir.file("t.model")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("300 pieces"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace anetrain
