// Copies of tokenizers kept with datasets and checkpoints: specs recorded relative to a
// directory resolve against it, copies have fixed names, the checksum rule matches the
// tokenizers' own, and files that changed after loading are refused.
#include "tokenizer/tokenizer_files.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "io/sha256.h"
#include "support/test_util.h"
#include "tokenizer/bytes_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

TEST(TokenizerFiles, SpecsResolveAgainstTheirDirectory) {
  EXPECT_EQ(resolve_tokenizer_spec("sp:tokenizer/tokenizer.model", "/data/set"),
            "sp:/data/set/tokenizer/tokenizer.model");
  EXPECT_EQ(resolve_tokenizer_spec("sp:tokenizer.model", "runs/a/"), "sp:runs/a/tokenizer.model");
  EXPECT_EQ(resolve_tokenizer_spec("gpt2:.", "/runs/a"), "gpt2:/runs/a");
  EXPECT_EQ(resolve_tokenizer_spec("gpt2:tokenizer", "d"), "gpt2:d/tokenizer");
  EXPECT_EQ(resolve_tokenizer_spec("sp:/abs/t.model", "/runs/a"), "sp:/abs/t.model");
  EXPECT_EQ(resolve_tokenizer_spec("bytes", "/runs/a"), "bytes");
  EXPECT_THROW(resolve_tokenizer_spec("wordpiece:x", "/d"), UserError);
  EXPECT_EQ(tokenizer_spec_files("gpt2:/g"),
            (std::vector<std::string>{"/g/encoder.json", "/g/vocab.bpe"}));
  EXPECT_TRUE(tokenizer_spec_files("bytes").empty());
  TokenizerFiles files;
  files.kind = "gpt2";
  EXPECT_EQ(files.spec_in(""), "gpt2:.");
  EXPECT_EQ(files.spec_in("tokenizer"), "gpt2:tokenizer");
  files.kind = "sp";
  EXPECT_EQ(files.spec_in(""), "sp:tokenizer.model");
  EXPECT_EQ(files.spec_in("tokenizer"), "sp:tokenizer/tokenizer.model");
}

// A gpt2 directory may name its two files as Hugging Face does; OpenAI's names win when both
// are present, and a directory with neither complete pair names OpenAI's files.
TEST(TokenizerFiles, Gpt2SpecFindsHuggingFaceFileNames) {
  TempDir dir;
  const std::vector<std::string> openai = {dir.file("encoder.json"), dir.file("vocab.bpe")};
  const std::vector<std::string> hf = {dir.file("vocab.json"), dir.file("merges.txt")};
  const std::string spec = "gpt2:" + dir.path();
  EXPECT_EQ(tokenizer_spec_files(spec), openai);
  std::ofstream(hf[0]) << "{}";
  EXPECT_EQ(tokenizer_spec_files(spec), openai);
  EXPECT_FALSE(tokenizer_files_exist(spec));
  std::ofstream(hf[1]) << "#version: 0.2\n";
  EXPECT_EQ(tokenizer_spec_files(spec), hf);
  EXPECT_TRUE(tokenizer_files_exist(spec));
  std::ofstream(openai[0]) << "{}";
  EXPECT_EQ(tokenizer_spec_files(spec), hf);  // OpenAI's pair is incomplete
  std::ofstream(openai[1]) << "#version: 0.2\n";
  EXPECT_EQ(tokenizer_spec_files(spec), openai);
}

TEST(TokenizerFiles, ReadsCopiesAndRefusesFilesChangedSinceLoading) {
  TempDir dir;
  EXPECT_EQ(tokenizer_files_checksum({}), "");
  EXPECT_EQ(tokenizer_files_checksum({"abc"}), sha256_hex("abc"));
  EXPECT_EQ(tokenizer_files_checksum({"a", "b"}), sha256_hex(sha256_hex("a") + sha256_hex("b")));

  const TokenizerFiles bytes = read_tokenizer_files(BytesTokenizer());
  EXPECT_EQ(bytes.kind, "bytes");
  EXPECT_TRUE(bytes.files.empty());
  EXPECT_EQ(bytes.spec_in("anything"), "bytes");

  std::ofstream(dir.file("input.txt")) << english_lines(800, 9);
  train_small_sentencepiece(dir.file("input.txt"), dir.file("tok.model"));
  auto tokenizer = load_tokenizer("sp:" + dir.file("tok.model"));
  const TokenizerFiles sp = read_tokenizer_files(*tokenizer);
  EXPECT_EQ(sp.kind, "sp");
  EXPECT_EQ(sp.checksum, tokenizer->checksum());
  ASSERT_EQ(sp.files.size(), 1u);
  EXPECT_EQ(sp.files[0].first, "tokenizer.model");
  sp.write_to(dir.file("copy/here"));
  EXPECT_EQ(load_tokenizer(sp.spec_in(dir.file("copy/here")))->checksum(), tokenizer->checksum());
  EXPECT_TRUE(tokenizer_files_exist(sp.spec_in(dir.file("copy/here"))));
  EXPECT_FALSE(tokenizer_files_exist(sp.spec_in(dir.file("nowhere"))));

  std::ofstream(dir.file("tok.model"), std::ios::app) << "x";
  EXPECT_THROW(read_tokenizer_files(*tokenizer), UserError);
}

}  // namespace
}  // namespace anetrain
