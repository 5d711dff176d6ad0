// Tests for sha256_hex / sha256_file_hex: FIPS 180-2 vectors, file and in-memory digests agree
// (also across the streaming chunk boundary), and unreadable paths throw UserError naming them.
#include "io/sha256.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/error.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, FileMatchesBytes) {
  anetrain::testing::TempDir dir;
  // Larger than the 1 MiB read chunk so the streaming path runs more than once.
  std::string content;
  for (int i = 0; i < (3 << 20) / 7 + 5; ++i) content += "abc\0xyz"[i % 7] + std::to_string(i);
  content.push_back('\0');
  {
    std::ofstream out(dir.file("f.bin"), std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  EXPECT_EQ(sha256_file_hex(dir.file("f.bin")), sha256_hex(content));
  { std::ofstream out(dir.file("empty"), std::ios::binary); }
  EXPECT_EQ(sha256_file_hex(dir.file("empty")), sha256_hex(""));
}

TEST(Sha256, UnreadableFileIsUserError) {
  anetrain::testing::TempDir dir;
  for (const std::string& path : {dir.file("missing.bin"), dir.path()}) {
    try {
      sha256_file_hex(path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace anetrain
