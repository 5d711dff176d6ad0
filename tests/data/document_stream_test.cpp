// Reading corpora: text files, JSON lines and directories become documents; bad input is
// skipped and counted (empty, invalid UTF-8, binary, bad JSON, missing field), never fatal
// except a missing path; large text files are cut at paragraph breaks.
#include "data/document_stream.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

std::vector<std::string> read_all(DocumentStream& s) {
  std::vector<std::string> docs;
  std::string text;
  while (s.next(text)) docs.push_back(text);
  return docs;
}

TEST(Utf8, ValidatesStrictly) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe6\x9d\xb1 \xf0\x9f\x90\x8b"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(DocumentStream, ReadsTextJsonlAndDirectoriesSkippingBadInput) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("corpus/sub"));
  std::ofstream(dir.file("corpus/a.txt")) << "First document.\n";
  std::ofstream(dir.file("corpus/b.txt")) << "   \n";  // empty
  std::ofstream(dir.file("corpus/sub/c.jsonl")) << "{\"text\": \"json one\"}\n"
                                                << "not json\n"
                                                << "{\"body\": \"no text field\"}\n"
                                                << "\n"
                                                << "{\"text\": \"json two\"}\n";
  std::ofstream(dir.file("corpus/sub/d.bin"), std::ios::binary) << std::string("\x01\x00\x02", 3);
  std::ofstream(dir.file("corpus/sub/e.txt"), std::ios::binary) << "bad \xff byte";
  DocumentStream stream({dir.file("corpus")});
  std::vector<std::string> docs = read_all(stream);
  ASSERT_GE(docs.size(), 3u);
  EXPECT_EQ(docs[0], "First document.\n");
  EXPECT_EQ(docs[1], "json one");
  EXPECT_EQ(docs.back(), "json two");
  const SkipCounts& s = stream.skipped();
  EXPECT_EQ(s.empty, 1);
  EXPECT_EQ(s.bad_json, 1);
  EXPECT_EQ(s.missing_field, 1);
  EXPECT_EQ(s.binary_files, 1);
  EXPECT_GE(s.invalid_utf8, 1);
  EXPECT_FALSE(stream.warnings().empty());
  EXPECT_EQ(stream.bytes_read(), stream.total_bytes());
}

TEST(DocumentStream, CustomFieldAndMissingPaths) {
  TempDir dir;
  std::ofstream(dir.file("x.jsonl")) << "{\"content\": \"hello\"}\n";
  DocumentStream stream({dir.file("x.jsonl")}, "content");
  EXPECT_EQ(read_all(stream), std::vector<std::string>{"hello"});
  EXPECT_THROW(DocumentStream({dir.file("nope.txt")}), UserError);
  EXPECT_THROW(DocumentStream(std::vector<std::string>{}), UserError);
}

TEST(DocumentStream, CutsLargeTextAtParagraphsLosingNothing) {
  TempDir dir;
  std::string text;
  for (int p = 0; text.size() < (9u << 20); ++p)
    text += "Paragraph " + std::to_string(p) + " " + std::string(300, 'x') + ".\n\n";
  std::ofstream(dir.file("big.txt"), std::ios::binary) << text;
  DocumentStream stream({dir.file("big.txt")});
  std::vector<std::string> docs = read_all(stream);
  EXPECT_GE(docs.size(), 7u);
  std::string joined;
  for (const auto& d : docs) {
    EXPECT_TRUE(d.ends_with("\n\n") || &d == &docs.back());
    EXPECT_LT(d.size(), 2u << 20);
    joined += d;
  }
  EXPECT_TRUE(joined == text);
}

}  // namespace
}  // namespace anetrain
