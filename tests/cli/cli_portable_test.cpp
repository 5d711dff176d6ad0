// A newcomer's first run with the binary: one plain input.txt and relative paths. The dataset
// gets a validation split anyway, and the dataset and the run directory are self-contained:
// they train, resume and sample from other working directories and after being moved, with
// the original tokenizer file deleted. Datasets from before the tokenizer copy still train
// from the directory they were prepared in, and elsewhere fail with a one-line reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/atomic_file.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;
namespace fs = std::filesystem;

const std::vector<std::string> kTiny = {"--config", "tiny",         "--set", "vocab_size=300",
                                        "--set",    "batch_size=2", "--set", "val_every=4",
                                        "--set",    "val_batches=1"};

std::vector<std::string> train_args(const std::string& data, const std::string& out, int steps,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {
      "train", "--data", data, "--out", out, "--steps", std::to_string(steps)};
  args.insert(args.end(), kTiny.begin(), kTiny.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// root/work/corpus/input.txt, a SentencePiece tokenizer root/work/tok/t.model and a dataset
// root/work/data, all made from root/work with relative paths.
class CliPortable : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(work_ + "/corpus");
    fs::create_directories(other_);
    std::ofstream(work_ + "/corpus/input.txt") << english_lines(3000, 11);
    auto r = run_anetrain_in(work_, {"tokenizer", "train", "--input", "corpus/input.txt",
                                     "--vocab-size", "300", "--out", "tok/t.model"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    prepared_ = run_anetrain_in(work_, {"data", "prepare", "--tokenizer", "sp:tok/t.model",
                                        "--input", "corpus/input.txt", "--out", "data", "--quiet"});
    ASSERT_EQ(prepared_.exit_code, 0) << prepared_.err;
  }

  TempDir root_;
  const std::string work_ = root_.file("work"), other_ = root_.file("other");
  CommandResult prepared_;
};

TEST_F(CliPortable, OneTextFileTrainsAndSamplesFromAnyDirectoryAfterMoving) {
  const std::string note =
      "data prepare: corpus/input.txt is 1 document: validation is the last 5% of its tokens, "
      "cut at a line boundary\n";
  EXPECT_EQ(prepared_.out.rfind(note, 0), 0u) << "one line, first: " << prepared_.out;
  EXPECT_EQ(prepared_.out.find("data prepare:", 1), std::string::npos) << prepared_.out;
  EXPECT_TRUE(fs::exists(work_ + "/data/val_000000.bin"));

  // The dataset moved away and the original tokenizer deleted; trained from another directory.
  const std::string data = root_.file("moved-data");
  fs::rename(work_ + "/data", data);
  fs::remove_all(work_ + "/tok");
  auto r = run_anetrain_in(other_, train_args(data, "run", 4));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("val loss"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sample: "), std::string::npos) << "the tokenizer was loaded: " << r.out;

  // The checkpoint holds its own copy and names it relative to itself.
  EXPECT_TRUE(read_bytes(other_ + "/run/tokenizer.model") ==
              read_bytes(data + "/tokenizer/tokenizer.model"));
  const auto state = nlohmann::json::parse(read_file(other_ + "/run/state.json"));
  EXPECT_EQ(state["tokenizer"]["spec"], "sp:tokenizer.model");
  EXPECT_EQ(state["tokenizer"]["relative_to"], "checkpoint");

  // The run directory moved, then sampled from a third directory by a relative path...
  fs::create_directories(root_.file("runs"));
  fs::rename(other_ + "/run", root_.file("runs/r1"));
  r = run_anetrain_in(root_.path(), {"sample", "--checkpoint", "runs/r1", "--prompt", "the whale",
                                     "--max-tokens", "8", "--seed", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("the whale", 0), 0u) << r.out;
  EXPECT_GT(r.out.size(), std::string("the whale\n").size()) << r.out;

  // ... and resumed from yet another, with the dataset given by a relative path.
  r = run_anetrain_in(work_, train_args("../moved-data", "../runs/r1", 6, {"--resume"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("steps 5..6"), std::string::npos) << r.out;

  // The checksum is still checked: a copy that does not match it is refused, not used.
  auto edited = nlohmann::json::parse(read_file(root_.file("runs/r1/state.json")));
  edited["tokenizer"]["checksum"] = std::string(64, '0');
  const std::string text = edited.dump(2);
  write_file_atomic(root_.file("runs/r1/state.json"), text.data(), text.size());
  r = run_anetrain_in(root_.path(), {"sample", "--checkpoint", "runs/r1", "--prompt", "the"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
}

TEST_F(CliPortable, DatasetsFromBeforeTheCopyTrainWhereTheyWerePrepared) {
  // What older versions wrote: the spec as given, relative to where prepare ran, no copy.
  const std::string path = work_ + "/data/manifest.json";
  auto manifest = nlohmann::json::parse(read_file(path));
  manifest["tokenizer"]["spec"] = "sp:tok/t.model";
  manifest["tokenizer"].erase("relative_to");
  manifest["tokenizer"].erase("source");
  const std::string text = manifest.dump(2);
  write_file_atomic(path, text.data(), text.size());
  fs::remove_all(work_ + "/data/tokenizer");

  auto r = run_anetrain_in(work_, train_args("data", "run", 4));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sample: "), std::string::npos) << r.out;

  r = run_anetrain_in(other_, train_args(work_ + "/data", "run", 4));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "anetrain: error: dataset '" + work_ +
                       "/data' names its tokenizer relative to the directory it was prepared in "
                       "('sp:tok/t.model', not found from here): run from that directory, pass "
                       "--tokenizer SPEC, or prepare the dataset again (datasets now keep a copy "
                       "of their tokenizer)\n");
  // Naming the tokenizer explicitly works from anywhere.
  r = run_anetrain_in(other_, train_args(work_ + "/data", "run", 4,
                                         {"--tokenizer", "sp:" + work_ + "/tok/t.model"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace anetrain
