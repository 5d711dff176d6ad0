// `data prepare`: shards and manifest from a corpus, validation split by whole documents,
// separators between documents, identical output for any thread count, clear refusals.
#include <gtest/gtest.h>
#include <omp.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/data_loader.h"
#include "data/prepare.h"
#include "data/token_shard.h"
#include "io/atomic_file.h"
#include "support/test_util.h"
#include "tokenizer/bytes_tokenizer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;
namespace fs = std::filesystem;

void write_corpus(const std::string& path, int documents) {
  std::ofstream out(path);
  for (int d = 0; d < documents; ++d)
    out << nlohmann::json({{"text", "Document number " + std::to_string(d) + "."}}).dump() << "\n";
}

PrepareOptions options(const std::string& input, const std::string& out) {
  PrepareOptions o;
  o.tokenizer_spec = "bytes";
  o.inputs = {input};
  o.out_dir = out;
  o.val_fraction = 0.25;
  o.progress = false;
  return o;
}

TEST(Prepare, WritesShardsManifestAndSplitsByDocument) {
  TempDir dir;
  write_corpus(dir.file("c.jsonl"), 20);
  PrepareResult r = prepare_dataset(options(dir.file("c.jsonl"), dir.file("out")));
  EXPECT_EQ(r.train_documents, 15);
  EXPECT_EQ(r.val_documents, 5);  // every 4th document
  auto manifest = nlohmann::json::parse(read_file(dir.file("out/manifest.json")));
  EXPECT_EQ(manifest["tokenizer"]["spec"], "bytes");
  EXPECT_EQ(manifest["tokens"]["train"], r.train_tokens);
  ASSERT_EQ(manifest["shards"].size(), 2u);
  TokenShard val = TokenShard::open(dir.file("out/val_000000.bin"), 256);
  // Val holds documents 3, 7, 11, ...: each preceded by the separator (0).
  std::string text;
  for (int64_t i = 0; i < val.size(); ++i) text += val[i] == 0 ? '|' : static_cast<char>(val[i]);
  EXPECT_EQ(text.substr(0, 40), "|Document number 3.|Document number 7.|D");
  EXPECT_EQ(r.train_tokens + r.val_tokens, 20 + 20 * 18 + 10);  // separators + text bytes
}

TEST(Prepare, OutputIsIdenticalForAnyThreadCountAndSplitsShards) {
  TempDir dir;
  write_corpus(dir.file("c.jsonl"), 3000);
  PrepareOptions o = options(dir.file("c.jsonl"), dir.file("one"));
  o.shard_tokens = 10000;
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  prepare_dataset(o);
  omp_set_num_threads(threads);
  o.out_dir = dir.file("many");
  prepare_dataset(o);
  int shards = 0;
  for (const auto& entry : fs::directory_iterator(dir.file("one"))) {
    const std::string name = entry.path().filename().string();
    EXPECT_TRUE(read_bytes(entry.path().string()) == read_bytes(dir.file("many/" + name))) << name;
    shards += name.ends_with(".bin");
  }
  EXPECT_GT(shards, 4);
  // The loaders accept what prepare wrote.
  RandomWindowLoader loader(dir.file("one/train_*.bin"), 32, 256, 1);
  std::vector<int32_t> in(64), tg(64);
  loader.next_batch(2, in.data(), tg.data());
}

class BigVocabulary : public BytesTokenizer {
 public:
  int vocab_size() const override { return 100000; }
};

TEST(Prepare, RefusesWhatItCannotDoWell) {
  TempDir dir;
  write_corpus(dir.file("c.jsonl"), 10);
  PrepareOptions o = options(dir.file("c.jsonl"), dir.file("out"));
  EXPECT_THROW(prepare_dataset(o, BigVocabulary()), UserError);  // ids would not fit uint16
  prepare_dataset(o);
  EXPECT_THROW(prepare_dataset(o), UserError);  // existing dataset without --force
  o.force = true;
  EXPECT_NO_THROW(prepare_dataset(o));
  write_corpus(dir.file("one.jsonl"), 1);
  EXPECT_THROW(prepare_dataset(options(dir.file("one.jsonl"), dir.file("o2"))), UserError);
  std::ofstream(dir.file("empty.txt")) << "";
  EXPECT_THROW(prepare_dataset(options(dir.file("empty.txt"), dir.file("o3"))), UserError);
  EXPECT_FALSE(fs::exists(dir.file("o3/manifest.json")));
}

}  // namespace
}  // namespace anetrain
