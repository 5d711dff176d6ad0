// `--data DIR`: a prepared dataset resolves its shards and its own copy of the tokenizer from
// wherever the directory is, also after being moved; a manifest from before the copy (spec
// relative to where it was prepared) still resolves as it did, and when that spec cannot be
// found the reason is a one-line message.
#include "data/dataset_dir.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/prepare.h"
#include "io/atomic_file.h"
#include "support/test_util.h"
#include "tokenizer/tokenizer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;
namespace fs = std::filesystem;

class DatasetDir : public ::testing::Test {
 protected:
  // A SentencePiece tokenizer in its own directory and a dataset prepared with it.
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::ofstream(dir_->file("input.txt")) << english_lines(800, 5);
    train_small_sentencepiece(dir_->file("input.txt"), dir_->file("tok.model"));
  }
  static void TearDownTestSuite() { delete dir_; }

  std::string prepare(const std::string& out) {
    PrepareOptions o;
    o.tokenizer_spec = "sp:" + dir_->file("tok.model");
    o.inputs = {dir_->file("input.txt")};
    o.out_dir = out;
    o.progress = false;
    prepare_dataset(o);
    return out;
  }

  static void edit_manifest(const std::string& data, const nlohmann::json& tokenizer) {
    const std::string path = data + "/manifest.json";
    auto manifest = nlohmann::json::parse(read_file(path));
    manifest["tokenizer"] = tokenizer;
    const std::string text = manifest.dump(2);
    write_file_atomic(path, text.data(), text.size());
  }

  static TempDir* dir_;
  TempDir work_;
};
TempDir* DatasetDir::dir_ = nullptr;

TEST_F(DatasetDir, ResolvesItsOwnTokenizerCopyAfterBeingMoved) {
  const std::string checksum = load_tokenizer("sp:" + dir_->file("tok.model"))->checksum();
  const std::string data = prepare(work_.file("data"));
  DatasetSource source = resolve_dataset(data, "");
  EXPECT_EQ(source.tokenizer_spec, "sp:" + data + "/tokenizer/tokenizer.model");
  EXPECT_EQ(source.tokenizer_problem, "");
  EXPECT_EQ(source.train_glob, data + "/train_*.bin");
  EXPECT_EQ(source.val_glob, data + "/val_*.bin");

  const std::string moved = work_.file("elsewhere/renamed");
  fs::create_directories(work_.file("elsewhere"));
  fs::rename(data, moved);
  source = resolve_dataset(moved, "");
  EXPECT_EQ(source.tokenizer_spec, "sp:" + moved + "/tokenizer/tokenizer.model");
  EXPECT_EQ(source.tokenizer_problem, "");
  EXPECT_EQ(source.tokenizer_vocab_size, 300);
  EXPECT_EQ(load_tokenizer(source.tokenizer_spec)->checksum(), checksum);
  EXPECT_EQ(source.tokenizer_checksum, checksum);

  // A trailing slash in --data changes nothing.
  EXPECT_EQ(resolve_dataset(moved + "/", "").tokenizer_spec, source.tokenizer_spec);

  // Without its copy the dataset says what is wrong instead of naming a missing file.
  fs::remove(moved + "/tokenizer/tokenizer.model");
  source = resolve_dataset(moved, "");
  EXPECT_EQ(source.tokenizer_problem,
            "dataset '" + moved + "' lacks its copy of the tokenizer ('sp:" + moved +
                "/tokenizer/tokenizer.model' is incomplete): prepare it again with 'anetrain "
                "data prepare --force', or pass --tokenizer SPEC");
}

TEST_F(DatasetDir, ManifestsFromBeforeTheCopyResolveAsBefore) {
  const std::string data = prepare(work_.file("data"));
  const std::string checksum = load_tokenizer("sp:" + dir_->file("tok.model"))->checksum();
  // An absolute spec, as an older anetrain wrote when given one: found from anywhere.
  edit_manifest(data, {{"spec", "sp:" + dir_->file("tok.model")},
                       {"checksum", checksum},
                       {"vocab_size", 300},
                       {"document_separator", 1}});
  DatasetSource source = resolve_dataset(data, "");
  EXPECT_EQ(source.tokenizer_spec, "sp:" + dir_->file("tok.model"));
  EXPECT_EQ(source.tokenizer_problem, "");
  // A spec relative to the directory it was prepared in, not found from this one.
  edit_manifest(data, {{"spec", "sp:data/tokenizers/moby-dick-4096.model"},
                       {"checksum", checksum},
                       {"vocab_size", 300},
                       {"document_separator", 1}});
  source = resolve_dataset(data, "");
  EXPECT_EQ(source.tokenizer_spec, "sp:data/tokenizers/moby-dick-4096.model");
  EXPECT_EQ(source.tokenizer_problem,
            "dataset '" + data +
                "' names its tokenizer relative to the directory it was prepared in "
                "('sp:data/tokenizers/moby-dick-4096.model', not found from here): run from "
                "that directory, pass --tokenizer SPEC, or prepare the dataset again (datasets "
                "now keep a copy of their tokenizer)");
  // An unknown base is a malformed manifest.
  edit_manifest(data, {{"spec", "bytes"},
                       {"relative_to", "home"},
                       {"checksum", ""},
                       {"vocab_size", 256},
                       {"document_separator", 0}});
  EXPECT_THROW(resolve_dataset(data, ""), UserError);
}

// The manifest's shard list is checked before the shards are: a name outside the dataset,
// a duplicate, a bad count or digest is a malformed manifest, never a file opened.
TEST_F(DatasetDir, AShardListThatCannotBeTrustedIsAMalformedManifest) {
  const std::string data = prepare(work_.file("data"));
  const std::string path = data + "/manifest.json";
  const auto good = nlohmann::json::parse(read_file(path));
  EXPECT_NE(resolve_dataset(data, "").verification.find("match manifest.json, sha256 verified"),
            std::string::npos);
  EXPECT_NE(resolve_dataset(data, "", false).verification.find("sha256 not checked (--no-verify)"),
            std::string::npos);
  auto with_first_shard = [&](const std::string& key, const nlohmann::json& value) {
    auto manifest = good;
    manifest["shards"][0][key] = value;
    const std::string text = manifest.dump(2);
    write_file_atomic(path, text.data(), text.size());
    return user_error_of([&] { resolve_dataset(data, ""); });
  };
  EXPECT_NE(with_first_shard("file", "../train_000000.bin").find("is not named <split>_<n>.bin"),
            std::string::npos);
  EXPECT_NE(with_first_shard("file", "val_000000.bin").find("is not named <split>_<n>.bin"),
            std::string::npos);
  EXPECT_NE(with_first_shard("tokens", -1).find("lists -1 tokens"), std::string::npos);
  EXPECT_NE(with_first_shard("sha256", "abc").find("not 64 lowercase hex digits"),
            std::string::npos);
  EXPECT_NE(with_first_shard("tokens", "many").find("is not a valid dataset manifest"),
            std::string::npos);
  auto twice = good;
  twice["shards"].push_back(good["shards"][0]);
  const std::string text = twice.dump(2);
  write_file_atomic(path, text.data(), text.size());
  EXPECT_NE(user_error_of([&] { resolve_dataset(data, ""); }).find("is listed twice"),
            std::string::npos);
}

}  // namespace
}  // namespace anetrain
