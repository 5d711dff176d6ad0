// `data prepare`: shards and manifest from a corpus, validation split by whole documents (or,
// with too few documents, by tokens at a line boundary), separators between documents,
// identical output for any thread count, a copy of the tokenizer in the dataset, clear
// refusals.
#include "data/prepare.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/data_loader.h"
#include "data/token_shard.h"
#include "io/atomic_file.h"
#include "support/test_util.h"
#include "tokenizer/bytes_tokenizer.h"
#include "tokenizer/tokenizer.h"

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
  std::ofstream(dir.file("empty.txt")) << "";
  EXPECT_THROW(prepare_dataset(options(dir.file("empty.txt"), dir.file("o3"))), UserError);
  EXPECT_FALSE(fs::exists(dir.file("o3"))) << "a failed prepare leaves nothing, not even --out";
  for (double bad : {std::nan(""), HUGE_VAL, -0.5, 1.0}) {
    PrepareOptions v = options(dir.file("c.jsonl"), dir.file("o4"));
    v.val_fraction = bad;
    EXPECT_NE(user_error_of([&] { prepare_dataset(v); }).find("is not a number in [0, 1)"),
              std::string::npos);
  }
  EXPECT_FALSE(fs::exists(dir.file("o4")));
  // Nothing but the dataset and the corpus: no work directory is left beside it.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path())) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"c.jsonl", "empty.txt", "out"}));
}

// A split's shards concatenated, in order.
std::vector<int32_t> split_tokens(const std::string& dir, const std::string& split, int vocab) {
  std::vector<int32_t> tokens;
  for (const std::string& path : expand_glob(dir + "/" + split + "_*.bin")) {
    TokenShard shard = TokenShard::open(path, vocab);
    for (int64_t i = 0; i < shard.size(); ++i) tokens.push_back(shard[i]);
  }
  return tokens;
}

// Byte-tokenizer ids as text, the separator (0) as '|'.
std::string as_text(const std::vector<int32_t>& tokens) {
  std::string text;
  for (int32_t id : tokens) text += id == 0 ? '|' : static_cast<char>(id);
  return text;
}

TEST(Prepare, OneTextFileIsSplitByTokensAtALineBoundary) {
  TempDir dir;
  const std::string text = english_lines(400);
  std::ofstream(dir.file("input.txt")) << text;
  PrepareOptions o = options(dir.file("input.txt"), dir.file("out"));
  o.val_fraction = 0.05;
  o.shard_tokens = 1024;  // several train shards, all written after the split
  const PrepareResult r = prepare_dataset(o);
  EXPECT_EQ(r.val_split_note, "data prepare: " + dir.file("input.txt") +
                                  " is 1 document: validation is the last 5% of its tokens, "
                                  "cut at a line boundary");
  const std::string train = as_text(split_tokens(dir.file("out"), "train", 256));
  const std::string val = as_text(split_tokens(dir.file("out"), "val", 256));
  ASSERT_FALSE(train.empty());
  ASSERT_FALSE(val.empty());
  EXPECT_EQ(static_cast<int64_t>(train.size()), r.train_tokens);
  EXPECT_EQ(static_cast<int64_t>(val.size()), r.val_tokens);
  // One separator, then the text split in two with nothing lost or repeated.
  EXPECT_EQ(train + val, "|" + text);
  EXPECT_GT(train.size(), 1024u) << "more than one train shard";
  // About 5% of the tokens (a line is some 45 of about 17,600), cut where a line starts.
  EXPECT_NEAR(static_cast<double>(val.size()) / (train.size() + val.size()), 0.05, 0.004);
  EXPECT_EQ(train.back(), '\n');
  EXPECT_NE(val.front(), '\n');
  auto manifest = nlohmann::json::parse(read_file(dir.file("out/manifest.json")));
  EXPECT_EQ(manifest["val_split"]["by"], "tokens");
  EXPECT_EQ(manifest["val_split"]["line_boundary"], true);
  EXPECT_EQ(manifest["documents"]["train"], 1);
  EXPECT_EQ(manifest["documents"]["val"], 1);  // the tail of the one document
  EXPECT_EQ(manifest["tokens"]["val"], r.val_tokens);
}

TEST(Prepare, FewDocumentsAreSplitByTokensAtADocumentOrLineStart) {
  TempDir dir;
  write_corpus(dir.file("three.jsonl"), 3);  // fewer than the 4 a 25% document split needs
  const PrepareResult r = prepare_dataset(options(dir.file("three.jsonl"), dir.file("out")));
  EXPECT_EQ(r.val_split_note, "data prepare: " + dir.file("three.jsonl") +
                                  " is 3 documents, too few to hold out whole ones: validation "
                                  "is the last 25% of its tokens, cut at a line boundary");
  // The documents have no newlines; the nearest line start is where the third one starts.
  EXPECT_EQ(as_text(split_tokens(dir.file("out"), "val", 256)), "|Document number 2.");
  EXPECT_EQ(r.train_documents, 2);
  EXPECT_EQ(r.val_documents, 1);
  // Enough documents: whole ones, as before.
  write_corpus(dir.file("four.jsonl"), 4);
  const PrepareResult whole = prepare_dataset(options(dir.file("four.jsonl"), dir.file("o4")));
  EXPECT_EQ(whole.val_split_note, "");
  EXPECT_EQ(as_text(split_tokens(dir.file("o4"), "val", 256)), "|Document number 3.");
  auto manifest = nlohmann::json::parse(read_file(dir.file("o4/manifest.json")));
  EXPECT_EQ(manifest["val_split"], nlohmann::json({{"by", "documents"}, {"every", 4}}));
}

TEST(Prepare, OneLongLineIsCutMidLineAndTooLittleTextIsAClearError) {
  TempDir dir;
  std::ofstream(dir.file("line.txt")) << std::string(399, 'a');
  PrepareResult r = prepare_dataset(options(dir.file("line.txt"), dir.file("out")));
  EXPECT_NE(r.val_split_note.find("cut mid-line (no line break near that point)"),
            std::string::npos)
      << r.val_split_note;
  EXPECT_EQ(r.val_tokens, 100);  // 25% of the separator and 399 bytes
  EXPECT_EQ(r.train_tokens, 300);

  std::ofstream(dir.file("tiny.txt")) << "Hi\n";
  PrepareOptions o = options(dir.file("tiny.txt"), dir.file("o2"));
  o.val_fraction = 0.05;
  try {
    prepare_dataset(o);
    ADD_FAILURE() << "a 4-token corpus cannot hold out 5%";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "data prepare: " + dir.file("tiny.txt") +
                  " is 1 document of 4 tokens, too short to hold out 5% of it for validation: "
                  "pass --val-fraction 0 for no validation split, or use more text");
  }
  EXPECT_FALSE(fs::exists(dir.file("o2/manifest.json")));
  // --val-fraction 0: no validation split, no note, as before.
  o.val_fraction = 0;
  r = prepare_dataset(o);
  EXPECT_EQ(r.train_tokens, 4);
  EXPECT_EQ(r.val_tokens, 0);
  EXPECT_EQ(r.val_split_note, "");
  EXPECT_FALSE(fs::exists(dir.file("o2/val_000000.bin")));
  auto manifest = nlohmann::json::parse(read_file(dir.file("o2/manifest.json")));
  EXPECT_EQ(manifest["val_split"]["by"], "none");
}

// With a real subword tokenizer, the cut falls after a token whose text ends a line.
TEST(Prepare, SentencePieceCorpusIsCutWhereALineStarts) {
  TempDir dir;
  const std::string text = english_lines(1500, 7);
  std::ofstream(dir.file("input.txt")) << text;
  train_small_sentencepiece(dir.file("input.txt"), dir.file("tok.model"));
  PrepareOptions o = options(dir.file("input.txt"), dir.file("out"));
  o.tokenizer_spec = "sp:" + dir.file("tok.model");
  o.val_fraction = 0.1;
  const PrepareResult r = prepare_dataset(o);
  EXPECT_NE(r.val_split_note.find("cut at a line boundary"), std::string::npos);
  EXPECT_NEAR(static_cast<double>(r.val_tokens) / (r.train_tokens + r.val_tokens), 0.1, 0.005);
  auto tokenizer = load_tokenizer(o.tokenizer_spec);
  std::vector<int32_t> train = split_tokens(dir.file("out"), "train", 300);
  const std::string train_text = tokenizer->decode({train.begin() + 1, train.end()});
  const std::string val_text = tokenizer->decode(split_tokens(dir.file("out"), "val", 300));
  ASSERT_FALSE(val_text.empty());
  EXPECT_TRUE(train_text.ends_with('\n'));
  EXPECT_TRUE(text.ends_with(val_text));
  EXPECT_EQ(text[text.size() - val_text.size() - 1], '\n') << "val starts a line";
  EXPECT_EQ(train_text + val_text, text);
}

// The dataset keeps a copy of its tokenizer and names it relative to itself.
TEST(Prepare, CopiesTheTokenizerIntoTheDataset) {
  TempDir dir;
  std::ofstream(dir.file("input.txt")) << english_lines(800, 3);
  train_small_sentencepiece(dir.file("input.txt"), dir.file("tok.model"));
  PrepareOptions o = options(dir.file("input.txt"), dir.file("out"));
  o.tokenizer_spec = "sp:" + dir.file("tok.model");
  prepare_dataset(o);
  EXPECT_TRUE(read_bytes(dir.file("out/tokenizer/tokenizer.model")) ==
              read_bytes(dir.file("tok.model")));
  auto manifest = nlohmann::json::parse(read_file(dir.file("out/manifest.json")));
  const auto& tok = manifest["tokenizer"];
  EXPECT_EQ(tok["spec"], "sp:tokenizer/tokenizer.model");
  EXPECT_EQ(tok["relative_to"], "dataset");
  EXPECT_EQ(tok["source"], o.tokenizer_spec);
  EXPECT_EQ(tok["checksum"], load_tokenizer(o.tokenizer_spec)->checksum());

  // Prepared again from its own copy (read before anything is replaced), then with bytes: the
  // old copy goes with the old dataset.
  o.force = true;
  o.tokenizer_spec = "sp:" + dir.file("out/tokenizer/tokenizer.model");
  prepare_dataset(o);
  EXPECT_TRUE(read_bytes(dir.file("out/tokenizer/tokenizer.model")) ==
              read_bytes(dir.file("tok.model")));
  o.tokenizer_spec = "bytes";
  prepare_dataset(o);
  EXPECT_FALSE(fs::exists(dir.file("out/tokenizer")));
  manifest = nlohmann::json::parse(read_file(dir.file("out/manifest.json")));
  EXPECT_EQ(manifest["tokenizer"]["spec"], "bytes");
}

}  // namespace
}  // namespace anetrain
