// The whole user path on real text, as in CI: fetch a corpus through the package registry,
// train a SentencePiece tokenizer, prepare shards, train a small model for a few hundred
// steps, then sample. The model must beat the corpus's unigram entropy clearly (a model that
// learned nothing but token frequencies would sit at that entropy), and the sample must decode
// to text.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/data_loader.h"
#include "data/document_stream.h"
#include "data/token_shard.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

double unigram_entropy_nats(const std::string& pattern, int vocab_size) {
  std::map<int, int64_t> counts;
  int64_t total = 0;
  for (const std::string& path : expand_glob(pattern)) {
    TokenShard shard = TokenShard::open(path, vocab_size);
    for (int64_t i = 0; i < shard.size(); ++i) ++counts[shard[i]], ++total;
  }
  double h = 0;
  for (const auto& [id, n] : counts) {
    const double p = static_cast<double>(n) / total;
    h -= p * std::log(p);
  }
  return h;
}

TEST(EndToEnd, MobyDickFromFetchToSample) {
  TempDir dir;
  const std::string corpus = dir.file("corpus");
  ASSERT_EQ(std::system((source_dir() + "/scripts/fetch-corpus.sh moby-dick --dest " + corpus +
                         " > " + dir.file("fetch.log") + " 2>&1")
                            .c_str()),
            0)
      << read_bytes(dir.file("fetch.log"));
  const std::string jsonl = corpus + "/moby-dick.jsonl";

  auto r = run_anetrain({"tokenizer", "train", "--input", jsonl, "--vocab-size", "1024", "--out",
                         dir.file("tok.model")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_anetrain({"data", "prepare", "--tokenizer", "sp:" + dir.file("tok.model"), "--input",
                    jsonl, "--out", dir.file("data"), "--val-fraction", "0.1", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = run_anetrain(
      {"train",         "--config", "tiny",          "--set",  "vocab_size=1024", "--set",
       "batch_size=8",  "--set",    "lr=3e-3",       "--set",  "val_every=100",   "--set",
       "val_batches=8", "--set",    "log_every=100", "--data", dir.file("data"),  "--steps",
       "300",           "--out",    dir.file("run")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sample: "), std::string::npos) << "validation shows a text sample";

  double val_loss = -1;
  std::ifstream metrics(dir.file("run/metrics.jsonl"));
  std::string line;
  while (std::getline(metrics, line)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("val_loss")) val_loss = j["val_loss"].get<double>();
  }
  const double entropy = unigram_entropy_nats(dir.file("data/train_*.bin"), 1024);
  std::printf("unigram entropy %.3f nats/token, final validation loss %.3f\n", entropy, val_loss);
  ASSERT_GT(val_loss, 0);
  EXPECT_LT(val_loss, entropy - 0.3);

  r = run_anetrain({"sample", "--checkpoint", dir.file("run"), "--prompt", "The whale",
                    "--max-tokens", "30", "--seed", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("The whale", 0), 0u) << r.out;
  EXPECT_GT(r.out.size(), 30u) << r.out;
  EXPECT_TRUE(is_valid_utf8(r.out)) << r.out;
  int letters = 0;
  for (char c : r.out) letters += std::isalpha(static_cast<unsigned char>(c)) != 0;
  EXPECT_GT(letters, 20) << r.out;
}

}  // namespace
}  // namespace anetrain
