// Tests for src/data/token_shard.h: round trips and every way a shard file can be wrong.
#include "data/token_shard.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>

#include "core/error.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

namespace fs = std::filesystem;

class TokenShardTest : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return temp_.file(name); }

  // Writes a shard byte by byte, so tests can produce headers the writer never would.
  void write_raw(const std::string& path, int32_t magic, int32_t version, int32_t count,
                 const std::vector<uint16_t>& tokens) {
    int32_t header[256] = {};
    header[0] = magic, header[1] = version, header[2] = count;
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(header), sizeof header);
    out.write(reinterpret_cast<const char*>(tokens.data()),
              static_cast<std::streamsize>(tokens.size() * 2));
  }

  testing::TempDir temp_;
  const fs::path dir_ = temp_.path();
};

std::vector<uint16_t> iota_tokens(size_t n, uint16_t first = 0) {
  std::vector<uint16_t> t(n);
  std::iota(t.begin(), t.end(), first);
  return t;
}

// Runs `fn`, expecting a UserError whose message contains every one of `parts`.
void expect_user_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    const std::string message = e.what();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos)
          << "message \"" << message << "\" lacks \"" << part << "\"";
    }
    EXPECT_EQ(message.find('\n'), std::string::npos) << "message must be one line";
  }
}

TEST_F(TokenShardTest, RoundTripUint16) {
  const std::string path = file("a.bin");
  const std::vector<uint16_t> tokens = {0, 1, 65535, 300, 7, 42};
  write_token_shard(path, tokens.data(), static_cast<int64_t>(tokens.size()));
  EXPECT_EQ(fs::file_size(path), 1024u + 2 * tokens.size());

  const TokenShard shard = TokenShard::open(path, 65536);
  EXPECT_EQ(shard.path(), path);
  ASSERT_EQ(shard.size(), 6);
  for (int64_t i = 0; i < shard.size(); ++i) {
    EXPECT_EQ(shard[i], tokens[i]);
    EXPECT_EQ(shard.data()[i], tokens[i]);
  }
}

TEST_F(TokenShardTest, HeaderMatchesLlmcLayout) {
  const std::string path = file("h.bin");
  const std::vector<uint16_t> tokens = {0x0102, 0x0304};
  write_token_shard(path, tokens.data(), 2);
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), {});
  ASSERT_EQ(bytes.size(), 1028u);
  int32_t header[256];
  std::memcpy(header, bytes.data(), sizeof header);
  EXPECT_EQ(header[0], 20240520);
  EXPECT_EQ(header[1], 1);
  EXPECT_EQ(header[2], 2);
  for (int i = 3; i < 256; ++i) EXPECT_EQ(header[i], 0) << "header word " << i;
  // Tokens are little-endian uint16.
  EXPECT_EQ(bytes[1024], 0x02);
  EXPECT_EQ(bytes[1025], 0x01);
  EXPECT_EQ(bytes[1026], 0x04);
  EXPECT_EQ(bytes[1027], 0x03);
}

TEST_F(TokenShardTest, RoundTripInt32AndEmpty) {
  const std::string path = file("b.bin");
  write_token_shard(path, std::vector<int32_t>{5, 0, 65535, 12});
  const TokenShard shard = TokenShard::open(path, 65536);
  ASSERT_EQ(shard.size(), 4);
  EXPECT_EQ(shard[2], 65535);
  EXPECT_EQ(shard[3], 12);

  const std::string empty = file("empty.bin");
  write_token_shard(empty, std::vector<int32_t>{});
  EXPECT_EQ(TokenShard::open(empty, 10).size(), 0);
}

TEST_F(TokenShardTest, Int32OutOfRangeIsRefusedAndNothingWritten) {
  const std::string path = file("wide.bin");
  expect_user_error(
      [&] {
        write_token_shard(path, std::vector<int32_t>{1, 2, 65536});
      },
      {path, "65536", "position 2"});
  expect_user_error([&] { write_token_shard(path, std::vector<int32_t>{-1}); }, {path, "-1"});
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(TokenShardTest, OverwriteReplacesAndLeavesNoTempFiles) {
  const std::string path = file("c.bin");
  write_token_shard(path, std::vector<int32_t>{1, 2, 3});
  write_token_shard(path, std::vector<int32_t>{9, 8});
  const TokenShard shard = TokenShard::open(path, 10);
  ASSERT_EQ(shard.size(), 2);
  EXPECT_EQ(shard[0], 9);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(TokenShardTest, WriteIntoMissingDirectoryFails) {
  const std::string path = file("no/such/dir/x.bin");
  expect_user_error([&] { write_token_shard(path, std::vector<int32_t>{1}); }, {path});
}

TEST_F(TokenShardTest, MissingFile) {
  const std::string path = file("missing.bin");
  expect_user_error([&] { TokenShard::open(path, 512); }, {path, "does not exist"});
}

TEST_F(TokenShardTest, DirectoryIsNotAShard) {
  expect_user_error([&] { TokenShard::open(dir_.string(), 512); },
                    {dir_.string(), "not a regular file"});
}

TEST_F(TokenShardTest, ShorterThanHeader) {
  const std::string path = file("short.bin");
  std::ofstream(path, std::ios::binary) << std::string(100, 'x');
  expect_user_error([&] { TokenShard::open(path, 512); }, {path, "100 bytes", "1024"});
  const std::string zero = file("zero.bin");
  std::ofstream(zero, std::ios::binary).flush();
  expect_user_error([&] { TokenShard::open(zero, 512); }, {zero, "0 bytes"});
}

TEST_F(TokenShardTest, WrongMagic) {
  const std::string path = file("magic.bin");
  write_raw(path, 1234, 1, 3, {1, 2, 3});
  expect_user_error([&] { TokenShard::open(path, 512); },
                    {"'" + path + "' is not an llm.c token shard (magic 1234, expected 20240520)"});
}

TEST_F(TokenShardTest, UnsupportedVersion) {
  const std::string path = file("version.bin");
  write_raw(path, 20240520, 7, 3, {1, 2, 3});
  expect_user_error([&] { TokenShard::open(path, 512); }, {path, "version 7"});
}

TEST_F(TokenShardTest, TruncatedByOneByte) {
  const std::string path = file("trunc.bin");
  write_token_shard(path, iota_tokens(10).data(), 10);
  fs::resize_file(path, 1024 + 20 - 1);
  expect_user_error([&] { TokenShard::open(path, 512); },
                    {path, "claims 10 tokens", "holds 9 and a half"});
}

TEST_F(TokenShardTest, HeaderClaimsMoreOrFewerTokensThanPresent) {
  const std::string path = file("claims.bin");
  write_raw(path, 20240520, 1, 50, iota_tokens(40));
  expect_user_error([&] { TokenShard::open(path, 512); }, {path, "claims 50", "holds 40"});
  write_raw(path, 20240520, 1, 30, iota_tokens(40));
  expect_user_error([&] { TokenShard::open(path, 512); }, {path, "claims 30", "holds 40"});
  write_raw(path, 20240520, 1, -5, {});
  expect_user_error([&] { TokenShard::open(path, 512); }, {path, "claims -5"});
}

TEST_F(TokenShardTest, TokenAtOrAboveVocab) {
  const std::string path = file("vocab.bin");
  std::vector<uint16_t> tokens = iota_tokens(200);
  for (auto& t : tokens) t %= 512;
  tokens[123] = 40000;
  tokens[150] = 600;  // a later offender; the first one is reported
  write_token_shard(path, tokens.data(), static_cast<int64_t>(tokens.size()));
  expect_user_error([&] { TokenShard::open(path, 512); },
                    {"'" + path +
                     "': token id 40000 at position 123 is >= vocab_size 512; "
                     "the shard was made with a different tokenizer"});
  // The boundary: vocab_size - 1 is fine, vocab_size is not.
  write_token_shard(path, std::vector<int32_t>{0, 511});
  EXPECT_EQ(TokenShard::open(path, 512).size(), 2);
  expect_user_error([&] { TokenShard::open(path, 511); }, {"token id 511 at position 1"});
}

TEST_F(TokenShardTest, MoveKeepsMappingAlive) {
  const std::string path = file("move.bin");
  write_token_shard(path, iota_tokens(100, 7).data(), 100);
  TokenShard a = TokenShard::open(path, 1000);
  TokenShard b = std::move(a);
  EXPECT_EQ(a.size(), 0);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  ASSERT_EQ(b.size(), 100);
  EXPECT_EQ(b[99], 106);
  std::vector<TokenShard> many;
  many.push_back(std::move(b));
  many.push_back(TokenShard::open(path, 1000));  // reallocation moves the first element
  EXPECT_EQ(many[0][0], 7);
  EXPECT_EQ(many[1][99], 106);
  many[0] = std::move(many[1]);
  EXPECT_EQ(many[0][50], 57);
}

}  // namespace
}  // namespace anetrain
