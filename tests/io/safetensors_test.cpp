// Tests for the safetensors writer and reader: bit-exact round trips, the documented layout,
// half-precision decoding, and that every kind of malformed or truncated file is reported as a
// one-line UserError naming the file instead of crashing.
#include "io/safetensors.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/atomic_file.h"
#include "support/test_util.h"

namespace anetrain {
namespace {

namespace fs = std::filesystem;

// 8-byte little-endian length, then the header exactly as given, then the buffer.
std::string raw_file(const std::string& header, const std::string& buffer = "") {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + buffer;
}

std::string u16_bytes(const std::vector<uint16_t>& values) {
  std::string out;
  for (uint16_t v : values) {
    out += static_cast<char>(v & 0xff);
    out += static_cast<char>(v >> 8);
  }
  return out;
}

uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }

const std::string kEight(8, '\0');

struct MalformedCase {
  const char* what;
  std::string bytes;
  const char* expect;  // part of the expected message
};

class SafetensorsTest : public ::testing::Test {
 protected:
  // Plain write, not write_file_atomic: some tests write thousands of files and need no fsync.
  std::string put(const std::string& name, const std::string& bytes) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
    return path;
  }

  // Opens the file and reads every float tensor: any flaw must surface as UserError.
  static void open_and_read_all(const std::string& path) {
    SafetensorsFile file = SafetensorsFile::open(path);
    for (const std::string& name : file.names()) {
      if (file.dtype(name) == "F32" || file.dtype(name) == "F16" || file.dtype(name) == "BF16") {
        file.read_f32(name);
      }
    }
  }

  // Each file must be rejected with a UserError naming it and saying what is wrong.
  void check_cases(const std::vector<MalformedCase>& cases);

  anetrain::testing::TempDir temp_;
  const std::string dir_ = temp_.path();
};

// Runs f; it must throw UserError whose single-line message contains every needle.
template <typename F>
void expect_user_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "expected UserError containing '" << needles[0] << "'";
  } catch (const UserError& e) {
    const std::string msg = e.what();
    for (const std::string& needle : needles) {
      EXPECT_NE(msg.find(needle), std::string::npos) << "'" << needle << "' not in: " << msg;
    }
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message must be one line: " << msg;
  }
}

void SafetensorsTest::check_cases(const std::vector<MalformedCase>& cases) {
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].what);
    const std::string path = put("bad" + std::to_string(i) + ".safetensors", cases[i].bytes);
    expect_user_error([&] { open_and_read_all(path); }, {"'" + path + "'", cases[i].expect});
  }
}

// Tensors with awkward values: NaN payloads, -0, subnormals and infinities must survive as bits.
struct Sample {
  std::vector<float> a = {1.5f,
                          -0.0f,
                          std::numeric_limits<float>::denorm_min(),
                          std::numeric_limits<float>::infinity(),
                          std::bit_cast<float>(0x7fc12345u),
                          -3.25e30f};               // [2, 3]
  std::vector<float> scalar = {42.0f};              // []
  std::vector<float> d = {0.1f, 0.2f, 0.3f, 0.4f};  // [4]

  SafetensorsWriter writer() const {
    SafetensorsWriter w;
    w.add_f32("a", {2, 3}, a.data());
    w.add_f32("scalar", {}, scalar.data());
    w.add_f32("empty", {0, 5}, nullptr);
    w.add_f32("d", {4}, d.data());
    w.set_metadata("format", "pt");
    w.set_metadata("config", "{\"dim\": 64}\nline two");
    return w;
  }
};

TEST_F(SafetensorsTest, RoundTripIsBitExact) {
  Sample s;
  const std::string path = dir_ + "/model.safetensors";
  s.writer().write(path);
  // The atomic write leaves only the final file behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);

  SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(file.names(), (std::vector<std::string>{"a", "scalar", "empty", "d"}));
  EXPECT_TRUE(file.has("a"));
  EXPECT_FALSE(file.has("b"));
  EXPECT_EQ(file.shape("a"), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(file.shape("scalar"), std::vector<int64_t>{});
  EXPECT_EQ(file.shape("empty"), (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(file.dtype("d"), "F32");
  EXPECT_EQ(file.numel("a"), 6);
  EXPECT_EQ(file.numel("scalar"), 1);
  EXPECT_EQ(file.numel("empty"), 0);

  std::vector<float> a(6);
  file.read_f32("a", a.data(), 6);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(bits(a[i]), bits(s.a[i])) << i;
  EXPECT_EQ(file.read_f32("scalar"), s.scalar);
  EXPECT_TRUE(file.read_f32("empty").empty());
  std::vector<float> d = file.read_f32("d");
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(std::memcmp(d.data(), s.d.data(), 16), 0);

  EXPECT_EQ(file.metadata(), (std::map<std::string, std::string>{
                                 {"format", "pt"}, {"config", "{\"dim\": 64}\nline two"}}));
}

TEST_F(SafetensorsTest, LayoutMatchesTheFormat) {
  Sample s;
  const std::string bytes = s.writer().serialize();
  const std::string path = dir_ + "/x.safetensors";
  s.writer().write(path);
  EXPECT_EQ(read_file(path), bytes);

  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  EXPECT_EQ((8 + n) % 8, 0u) << "header is padded so the buffer is 8-byte aligned";
  ASSERT_LE(8 + n, bytes.size());
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header[0], '{');
  nlohmann::json j = nlohmann::json::parse(header);
  EXPECT_EQ(j["__metadata__"]["format"], "pt");
  EXPECT_EQ(j["a"]["dtype"], "F32");
  EXPECT_EQ(j["a"]["shape"], nlohmann::json({2, 3}));
  // Insertion order, offsets relative to the buffer start, end exclusive.
  EXPECT_EQ(j["a"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(j["scalar"]["data_offsets"], nlohmann::json({24, 28}));
  EXPECT_EQ(j["empty"]["data_offsets"], nlohmann::json({28, 28}));
  EXPECT_EQ(j["d"]["data_offsets"], nlohmann::json({28, 44}));
  EXPECT_EQ(bytes.size(), 8 + n + 44);
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + n, s.a.data(), 24), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + n + 28, s.d.data(), 16), 0);
}

TEST_F(SafetensorsTest, NoTensorsNoMetadata) {
  SafetensorsWriter w;
  const std::string path = dir_ + "/empty.safetensors";
  w.write(path);
  SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_TRUE(file.names().empty());
  EXPECT_TRUE(file.metadata().empty());
}

TEST_F(SafetensorsTest, ReadsF16AndBF16) {
  // F16: 1, -2, 0.5, smallest subnormal (2^-24), 65504 (max), +inf, NaN.
  const std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x3800, 0x0001, 0x7bff, 0x7c00, 0x7e00};
  // BF16: 1, -2.5, 3.140625, -0, -inf.
  const std::vector<uint16_t> bf16 = {0x3f80, 0xc020, 0x4049, 0x8000, 0xff80};
  const std::string header =
      R"({"h": {"dtype": "F16", "shape": [7], "data_offsets": [0, 14]},)"
      R"( "b": {"dtype": "BF16", "shape": [5, 1], "data_offsets": [14, 24]}})";
  const std::string path =
      put("half.safetensors", raw_file(header, u16_bytes(f16) + u16_bytes(bf16)));

  SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(file.names(), (std::vector<std::string>{"h", "b"}));
  EXPECT_EQ(file.dtype("h"), "F16");
  std::vector<float> h = file.read_f32("h");
  ASSERT_EQ(h.size(), 7u);
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 0.5f);
  EXPECT_EQ(h[3], std::ldexp(1.0f, -24));
  EXPECT_EQ(h[4], 65504.0f);
  EXPECT_EQ(h[5], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(h[6]));

  std::vector<float> b(5);
  file.read_f32("b", b.data(), 5);
  EXPECT_EQ(b[0], 1.0f);
  EXPECT_EQ(b[1], -2.5f);
  EXPECT_EQ(b[2], 3.140625f);
  EXPECT_EQ(bits(b[3]), 0x80000000u);
  EXPECT_EQ(b[4], -std::numeric_limits<float>::infinity());
}

TEST_F(SafetensorsTest, ReadsLargeF16InChunks) {
  // More elements than the reader's conversion buffer, so chunk boundaries are exercised.
  const int64_t n = (1 << 20) + 3;
  std::vector<uint16_t> values(n);
  for (int64_t i = 0; i < n; ++i) values[i] = static_cast<uint16_t>(0x3c00 + (i % 1024));
  const std::string header = R"({"w": {"dtype": "F16", "shape": [)" + std::to_string(n) +
                             R"(], "data_offsets": [0, )" + std::to_string(2 * n) + "]}}";
  const std::string path = put("big.safetensors", raw_file(header, u16_bytes(values)));
  std::vector<float> w = SafetensorsFile::open(path).read_f32("w");
  ASSERT_EQ(static_cast<int64_t>(w.size()), n);
  for (int64_t i : {int64_t{0}, int64_t{1023}, int64_t{1 << 20}, n - 1}) {
    EXPECT_EQ(w[i], 1.0f + static_cast<float>(i % 1024) / 1024.0f) << i;
  }
}

// add_f16 stores IEEE half precision (rounded to nearest even) beside F32 tensors; the bytes
// are the fp16 patterns, across the writer's conversion-chunk boundary too.
TEST_F(SafetensorsTest, WritesF16) {
  const int64_t n = (1 << 20) + 5;
  std::vector<float> big(n);
  for (int64_t i = 0; i < n; ++i) big[i] = 1.0f + static_cast<float>(i % 2048) / 4096.0f;
  // 1 + 2^-11 is a tie (rounds to 1), 1 + 3 * 2^-11 rounds up; 70000 overflows to infinity.
  const std::vector<float> small = {1.0f + std::ldexp(1.0f, -11), 1.0f + 3 * std::ldexp(1.0f, -11),
                                    -0.0f, 70000.0f, std::ldexp(1.0f, -24)};
  const std::vector<float> f32 = {0.1f};
  SafetensorsWriter w;
  w.add_f16("small", {5}, small.data());
  w.add_f32("f32", {1}, f32.data());
  w.add_f16("big", {n}, big.data());
  const std::string path = dir_ + "/f16.safetensors";
  w.write(path);
  EXPECT_EQ(read_file(path), w.serialize());

  SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(file.dtype("small"), "F16");
  EXPECT_EQ(file.dtype("f32"), "F32");
  EXPECT_EQ(file.dtype("big"), "F16");
  const std::vector<float> back = file.read_f32("small");
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[1], 1.0f + std::ldexp(1.0f, -9));
  EXPECT_EQ(bits(back[2]), 0x80000000u);
  EXPECT_EQ(back[3], std::numeric_limits<float>::infinity());
  EXPECT_EQ(back[4], std::ldexp(1.0f, -24));
  EXPECT_EQ(file.read_f32("f32"), f32);
  // `big` holds multiples of 2^-12 in [1, 1.5), where fp16 keeps multiples of 2^-10: three in
  // four values round (one of them a tie, to even), as nearbyint rounds them.
  const std::vector<float> big_back = file.read_f32("big");
  ASSERT_EQ(static_cast<int64_t>(big_back.size()), n);
  for (int64_t i = 0; i < n; ++i) {
    const float step = std::ldexp(1.0f, -10);
    const float expected = std::nearbyint((big[i] - 1.0f) / step) * step + 1.0f;
    if (big_back[i] != expected) {
      ADD_FAILURE() << "element " << i << ": " << big_back[i] << " != " << expected;
      break;
    }
  }
}

TEST_F(SafetensorsTest, ReadErrorsNameFileAndTensor) {
  const std::string header = R"({"f": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "i": {"dtype": "I32", "shape": [1], "data_offsets": [8, 12]}})";
  const std::string path = put("r.safetensors", raw_file(header, std::string(12, '\0')));
  SafetensorsFile file = SafetensorsFile::open(path);
  EXPECT_EQ(file.dtype("i"), "I32");
  std::vector<float> out(3);
  expect_user_error([&] { file.read_f32("nope"); }, {"'" + path + "' has no tensor 'nope'"});
  expect_user_error([&] { file.shape("nope"); }, {path, "nope"});
  expect_user_error([&] { file.dtype("nope"); }, {path, "nope"});
  expect_user_error([&] { file.read_f32("f", out.data(), 3); }, {path, "'f'", "3"});
  expect_user_error([&] { file.read_f32("i", out.data(), 1); }, {path, "'i'", "I32"});
  expect_user_error([&] { file.read_f32("i"); }, {path, "I32"});
}

TEST_F(SafetensorsTest, MissingFile) {
  const std::string path = dir_ + "/missing.safetensors";
  expect_user_error([&] { SafetensorsFile::open(path); }, {path});
  expect_user_error([&] { SafetensorsFile::open(dir_); }, {dir_, "directory"});
}

TEST_F(SafetensorsTest, MalformedFramingThrowsUserError) {
  std::string absurd(8, '\0');
  absurd[5] = 1;  // 2^40
  const std::string length_two = raw_file("{}").substr(0, 8);
  const std::vector<MalformedCase> cases = {
      {"empty file", "", "too short"},
      {"shorter than the length field", "abc", "too short"},
      {"absurd header length", absurd + "{}", "100 MB"},
      {"header length overflows", std::string(8, '\xff') + "{}", "100 MB"},
      {"header longer than file", length_two + "{", "runs past the end"},
      {"length field only", length_two, "runs past the end"},
      {"empty header", raw_file(""), "does not start with '{'"},
      {"header is an array", raw_file("[1, 2]"), "does not start with '{'"},
      {"header is not JSON", raw_file("{abc}"), "not valid JSON"},
      {"header has trailing junk", raw_file("{} x"), "not valid JSON"},
      {"header is unterminated", raw_file("{\"t\": {"), "not valid JSON"},
      {"header has a NUL", raw_file(std::string("{\0}", 3)), "not valid JSON"},
      {"header has invalid UTF-8", raw_file("{\"\xff\": 1}"), "not valid JSON"},
      {"entry not an object", raw_file(R"({"t": 5})"), "not described by a JSON object"},
      {"metadata not an object", raw_file(R"({"__metadata__": "x"})"), "__metadata__"},
      {"metadata value not a string", raw_file(R"({"__metadata__": {"step": 5}})"),
       "metadata value for 'step'"},
      {"metadata value null", raw_file(R"({"__metadata__": {"k": null}})"),
       "metadata value for 'k'"},
      {"control characters in a name stay on one line",
       raw_file(R"({"bad\nname": {"dtype": "X", "shape": [], "data_offsets": [0, 0]}})"),
       "'bad\\x0aname'"},
  };
  check_cases(cases);
}

TEST_F(SafetensorsTest, MalformedTensorEntryThrowsUserError) {
  // Each case is the body of tensor "t" in a file with an 8-byte buffer.
  struct EntryCase {
    const char* what;
    const char* fields;
    const char* expect;
  };
  const std::vector<EntryCase> entries = {
      {"missing dtype", R"("shape": [2], "data_offsets": [0, 8])", "no \"dtype\""},
      {"dtype not a string", R"("dtype": 4, "shape": [2], "data_offsets": [0, 8])", "no \"dtype\""},
      {"unknown dtype", R"("dtype": "F33", "shape": [2], "data_offsets": [0, 8])",
       "unknown dtype 'F33'"},
      {"missing shape", R"("dtype": "F32", "data_offsets": [0, 8])", "no \"shape\""},
      {"shape not array", R"("dtype": "F32", "shape": 2, "data_offsets": [0, 8])", "no \"shape\""},
      {"negative dim", R"("dtype": "F32", "shape": [-2], "data_offsets": [0, 8])", "not a size"},
      {"fractional dim", R"("dtype": "F32", "shape": [2.0], "data_offsets": [0, 8])", "not a size"},
      {"string dim", R"("dtype": "F32", "shape": ["2"], "data_offsets": [0, 8])", "not a size"},
      {"dims overflow",
       R"("dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8])",
       "impossibly large"},
      {"dim beyond uint64",
       R"("dtype": "F32", "shape": [99999999999999999999], "data_offsets": [0, 8])", "not a size"},
      {"missing offsets", R"("dtype": "F32", "shape": [2])", "data_offsets"},
      {"one offset", R"("dtype": "F32", "shape": [2], "data_offsets": [8])", "data_offsets"},
      {"three offsets", R"("dtype": "F32", "shape": [2], "data_offsets": [0, 8, 8])",
       "data_offsets"},
      {"negative offset", R"("dtype": "F32", "shape": [2], "data_offsets": [-8, 0])",
       "data_offsets"},
      {"reversed offsets", R"("dtype": "F32", "shape": [0], "data_offsets": [8, 0])",
       "data_offsets"},
      {"offset beyond int64",
       R"("dtype": "U8", "shape": [8], "data_offsets": [9223372036854775800, 9223372036854775808])",
       "data_offsets"},
      {"size mismatch", R"("dtype": "F32", "shape": [3], "data_offsets": [0, 8])", "needs 12"},
      {"size mismatch for dtype", R"("dtype": "F16", "shape": [2], "data_offsets": [0, 8])",
       "needs 4"},
      {"offsets past buffer", R"("dtype": "F32", "shape": [4], "data_offsets": [0, 16])",
       "run past"},
      {"gap at start", R"("dtype": "F32", "shape": [1], "data_offsets": [4, 8])",
       "belong to no tensor"},
      {"trailing bytes", R"("dtype": "F32", "shape": [1], "data_offsets": [0, 4])",
       "after the last tensor"},
  };
  std::vector<MalformedCase> cases;
  for (const EntryCase& e : entries) {
    cases.push_back(
        {e.what, raw_file(R"({"t": {)" + std::string(e.fields) + "}}", kEight), e.expect});
  }
  check_cases(cases);
}

TEST_F(SafetensorsTest, MalformedLayoutThrowsUserError) {
  const std::string a = R"("a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})";
  const std::vector<MalformedCase> cases = {
      {"overlap",
       raw_file("{" + a + R"(, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                std::string(12, '\0')),
       "overlaps"},
      {"same region twice",
       raw_file("{" + a + R"(, "b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                kEight),
       "overlaps"},
      {"gap between tensors",
       raw_file("{" + a + R"(, "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}})",
                std::string(16, '\0')),
       "belong to no tensor"},
      {"bytes but no tensors", raw_file("{}", kEight), "after the last tensor"},
  };
  check_cases(cases);
}

TEST_F(SafetensorsTest, EveryTruncationThrowsUserError) {
  Sample s;
  const std::string bytes = s.writer().serialize();
  ASSERT_NO_THROW(open_and_read_all(put("full.safetensors", bytes)));
  for (size_t len = 0; len < bytes.size(); ++len) {
    SCOPED_TRACE("truncated to " + std::to_string(len) + " bytes");
    const std::string path = put("cut.safetensors", bytes.substr(0, len));
    expect_user_error([&] { open_and_read_all(path); }, {"'" + path + "'"});
  }
}

TEST_F(SafetensorsTest, CorruptedBytesNeverCrash) {
  // Overwrite each byte of the length field and header with characters likely to upset a JSON
  // parser or the offset arithmetic. The file may still happen to be valid; anything other than
  // success or UserError (a crash, another exception type) fails the test.
  Sample s;
  const std::string bytes = s.writer().serialize();
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  const std::string replacements("{}[]\",:-09e. \0\xff", 16);
  int rejected = 0;
  for (size_t pos = 0; pos < 8 + n; ++pos) {
    for (char c : replacements) {
      if (bytes[pos] == c) continue;
      std::string mutated = bytes;
      mutated[pos] = c;
      const std::string path = put("mutated.safetensors", mutated);
      try {
        open_and_read_all(path);
      } catch (const UserError& e) {
        ++rejected;
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_GT(rejected, 0);
}

TEST_F(SafetensorsTest, WriteErrorsNameThePath) {
  std::vector<float> x = {1.0f};
  SafetensorsWriter w;
  w.add_f32("x", {1}, x.data());
  const std::string missing_dir = dir_ + "/no/such/dir/m.safetensors";
  expect_user_error([&] { w.write(missing_dir); }, {missing_dir});

  SafetensorsWriter bad_utf8;
  bad_utf8.set_metadata("name", "\xff\xfe");
  const std::string path = dir_ + "/u.safetensors";
  expect_user_error([&] { bad_utf8.write(path); }, {path, "UTF-8"});
  EXPECT_FALSE(fs::exists(path));
}

}  // namespace
}  // namespace anetrain
