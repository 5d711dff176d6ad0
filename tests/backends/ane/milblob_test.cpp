// Tests for the MILBlob v2 weight-file writer and reader: the documented layout and offsets,
// bit-exact round trips through memory and disk, that every kind of malformed or truncated file
// is a one-line UserError naming the file (never a crash), and the fp16 conversions (all 65536
// patterns, ties to even, overflow, subnormals).
#include "backends/ane/blob/milblob.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/fp16.h"
#include "core/error.h"
#include "support/test_util.h"

namespace anetrain::ane {
namespace {

namespace fs = std::filesystem;

uint32_t u32_at(const std::string& s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}
uint64_t u64_at(const std::string& s, size_t at) {
  uint64_t v;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}
void set_u32(std::string& s, size_t at, uint32_t v) { std::memcpy(s.data() + at, &v, sizeof v); }
void set_u64(std::string& s, size_t at, uint64_t v) { std::memcpy(s.data() + at, &v, sizeof v); }

bool all_zero(const std::string& s, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    if (s[i] != '\0') return false;
  }
  return true;
}

std::vector<float> iota_floats(int n, float scale) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = scale * static_cast<float>(i) - 1.0f;
  return v;
}

// Runs f; it must throw UserError whose single-line message contains every needle.
void expect_user_error(const std::function<void()>& f, const std::vector<std::string>& needles) {
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

// Parses and touches every blob's bytes, as a consumer would: any flaw must surface as
// UserError from parse itself.
void parse_and_read_all(const std::string& bytes, const std::string& name) {
  MilBlobFile file = MilBlobFile::parse(bytes, name);
  uint64_t sum = 0;
  for (const MilBlobEntry& e : file.entries()) {
    for (char c : file.data(e)) sum += static_cast<unsigned char>(c);
    EXPECT_EQ(&file.at_record(e.record_offset), &e);
  }
  (void)sum;
}

// Two fp32 tensors (500 and 3 elements): records at 64 and 2176, data at 128 and 2240.
std::string two_blob_file() {
  MilBlobWriter w;
  std::vector<float> a = iota_floats(500, 0.25f), b = {1.0f, 2.0f, 3.0f};
  w.add(BlobDType::kFp32, a.data(), a.size() * sizeof(float));
  w.add(BlobDType::kFp32, b.data(), b.size() * sizeof(float));
  return w.serialize();
}

class MilBlobTest : public ::testing::Test {
 protected:
  anetrain::testing::TempDir temp_;
  const std::string dir_ = temp_.path();
};

TEST_F(MilBlobTest, DocumentedOffsets) {
  MilBlobWriter w;
  std::vector<float> first = iota_floats(500, 0.5f);  // 2000 bytes
  std::vector<uint16_t> second = {0x3c00, 0x4000, 0xc000};
  EXPECT_EQ(w.add(BlobDType::kFp32, first.data(), 2000), 64u);
  EXPECT_EQ(w.add_fp16(second.data(), 3), 2176u);
  EXPECT_EQ(w.count(), 2u);

  const std::string bytes = w.serialize();
  EXPECT_EQ(bytes.size(), 2240u + 6u) << "the file ends right after the last blob's data";
  MilBlobFile file = MilBlobFile::parse(bytes, "mem");
  ASSERT_EQ(file.entries().size(), 2u);
  EXPECT_EQ(file.entries()[0], (MilBlobEntry{64, BlobDType::kFp32, 128, 2000}));
  EXPECT_EQ(file.entries()[1], (MilBlobEntry{2176, BlobDType::kFp16, 2240, 6}));
}

TEST_F(MilBlobTest, HeaderAndRecordFields) {
  const std::string bytes = two_blob_file();
  // Storage header: count, version 2, zeros.
  EXPECT_EQ(u32_at(bytes, 0), 2u);
  EXPECT_EQ(u32_at(bytes, 4), 2u);
  EXPECT_TRUE(all_zero(bytes, 8, 64));
  // First record.
  EXPECT_EQ(u32_at(bytes, 64), 0xDEADBEEFu);
  EXPECT_EQ(u32_at(bytes, 68), 2u);          // fp32
  EXPECT_EQ(u64_at(bytes, 72), 2000u);       // size in bytes
  EXPECT_EQ(u64_at(bytes, 80), 128u);        // absolute data offset
  EXPECT_EQ(u64_at(bytes, 88), 0u);          // padding size in bits
  EXPECT_TRUE(all_zero(bytes, 96, 128));     // reserved
  EXPECT_TRUE(all_zero(bytes, 2128, 2176));  // padding before the next record
  // Second record.
  EXPECT_EQ(u32_at(bytes, 2176), 0xDEADBEEFu);
  EXPECT_EQ(u32_at(bytes, 2180), 2u);
  EXPECT_EQ(u64_at(bytes, 2184), 12u);
  EXPECT_EQ(u64_at(bytes, 2192), 2240u);
  EXPECT_EQ(u64_at(bytes, 2200), 0u);
  EXPECT_TRUE(all_zero(bytes, 2208, 2240));
  float third;
  std::memcpy(&third, bytes.data() + 2240 + 8, 4);
  EXPECT_EQ(third, 3.0f);
}

TEST_F(MilBlobTest, EmptyWriterIsAValidFile) {
  MilBlobWriter w;
  const std::string bytes = w.serialize();
  ASSERT_EQ(bytes.size(), 64u);
  EXPECT_EQ(u32_at(bytes, 0), 0u);
  EXPECT_EQ(u32_at(bytes, 4), 2u);
  EXPECT_TRUE(MilBlobFile::parse(bytes, "empty").entries().empty());
}

// Every dtype, odd sizes (so padding is exercised), an empty tensor, awkward float bits.
TEST_F(MilBlobTest, RoundTripThroughMemoryAndDisk) {
  std::mt19937_64 rng(7);
  struct Blob {
    BlobDType dtype;
    std::string bytes;
  };
  std::vector<Blob> blobs;
  const BlobDType dtypes[] = {BlobDType::kFp16,   BlobDType::kFp32,  BlobDType::kUint8,
                              BlobDType::kInt8,   BlobDType::kBf16,  BlobDType::kInt16,
                              BlobDType::kUint16, BlobDType::kInt32, BlobDType::kUint32};
  int n = 1;
  for (BlobDType d : dtypes) {
    std::string bytes(static_cast<size_t>(n * blob_dtype_size(d)), '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    blobs.push_back({d, bytes});
    n = n * 3 + 1;
  }
  blobs.push_back({BlobDType::kFp32, ""});
  const float awkward[] = {-0.0f, std::numeric_limits<float>::denorm_min(),
                           std::numeric_limits<float>::infinity(),
                           std::bit_cast<float>(0x7fa00001u)};
  blobs.push_back({BlobDType::kFp32, std::string(reinterpret_cast<const char*>(awkward), 16)});

  MilBlobWriter w;
  std::vector<uint64_t> records;
  for (const Blob& b : blobs) records.push_back(w.add(b.dtype, b.bytes.data(), b.bytes.size()));
  const std::string bytes = w.serialize();

  const std::string path = dir_ + "/weights.bin";
  w.write(path);
  MilBlobFile file = MilBlobFile::open(path);
  EXPECT_EQ(file.bytes(), bytes) << "disk copy differs from serialize()";
  EXPECT_EQ(file.name(), path);
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename(), "weights.bin") << "atomic write left a temp file";
  }

  ASSERT_EQ(file.entries().size(), blobs.size());
  for (size_t i = 0; i < blobs.size(); ++i) {
    SCOPED_TRACE(i);
    const MilBlobEntry& e = file.entries()[i];
    EXPECT_EQ(e.record_offset, records[i]);
    EXPECT_EQ(e.record_offset % 64, 0u);
    EXPECT_EQ(e.data_offset, e.record_offset + 64);
    EXPECT_EQ(e.dtype, blobs[i].dtype);
    EXPECT_EQ(e.size, blobs[i].bytes.size());
    EXPECT_EQ(file.data(e), blobs[i].bytes);
    EXPECT_EQ(file.at_record(records[i]), e);
    if (i > 0) {
      const MilBlobEntry& prev = file.entries()[i - 1];
      EXPECT_EQ(e.record_offset, (prev.data_offset + prev.size + 63) / 64 * 64);
    }
  }

  // Rewriting what was read reproduces the file byte for byte.
  MilBlobWriter again;
  for (const MilBlobEntry& e : file.entries()) {
    std::string_view d = file.data(e);
    again.add(e.dtype, d.data(), d.size());
  }
  EXPECT_EQ(again.serialize(), bytes);

  // Overwriting an existing file replaces it.
  MilBlobWriter small;
  small.add_fp16(std::vector<uint16_t>{1, 2}.data(), 2);
  small.write(path);
  EXPECT_EQ(MilBlobFile::open(path).entries().size(), 1u);
}

// Writers that pad the file's end to 64 bytes produce files we must still read.
TEST_F(MilBlobTest, TrailingZeroPaddingIsAccepted) {
  std::string bytes = two_blob_file();
  bytes.resize((bytes.size() + 63) / 64 * 64 + 128, '\0');
  EXPECT_EQ(MilBlobFile::parse(bytes, "padded").entries().size(), 2u);
}

TEST_F(MilBlobTest, AtRecordRejectsOffsetsThatNameNoRecord) {
  MilBlobFile file = MilBlobFile::parse(two_blob_file(), "net.weights");
  EXPECT_EQ(file.at_record(2176).data_offset, 2240u);
  expect_user_error([&] { file.at_record(128); }, {"'net.weights'", "offset 128", "64, 2176"});
  expect_user_error([&] { file.at_record(0); }, {"'net.weights'", "offset 0"});
  expect_user_error([&] { file.at_record(100); }, {"'net.weights'", "not 64-byte aligned"});
  expect_user_error([&] { file.at_record(~0ull); }, {"'net.weights'", "not 64-byte aligned"});
  expect_user_error([&] { file.at_record(1ull << 40); }, {"'net.weights'", "no blob record"});
}

TEST_F(MilBlobTest, OpenReportsMissingFile) {
  const std::string path = dir_ + "/missing.bin";
  expect_user_error([&] { MilBlobFile::open(path); }, {path});
}

struct MalformedCase {
  const char* what;
  std::string bytes;
  const char* expect;  // part of the expected message (besides the file name)
};

TEST_F(MilBlobTest, MalformedFilesAreUserErrors) {
  const std::string good = two_blob_file();
  auto with = [&](const std::function<void(std::string&)>& edit) {
    std::string b = good;
    edit(b);
    return b;
  };
  const uint64_t r1 = 64, r2 = 2176;  // record offsets
  std::vector<MalformedCase> cases = {
      {"empty", "", "too short"},
      {"header cut short", good.substr(0, 63), "too short"},
      {"version 1", with([](std::string& b) { set_u32(b, 4, 1); }), "version 1"},
      {"version 3", with([](std::string& b) { set_u32(b, 4, 3); }), "version 3"},
      {"count too large", with([](std::string& b) { set_u32(b, 0, 3); }), "header says 3 blobs"},
      {"count huge", with([](std::string& b) { set_u32(b, 0, 0xffffffffu); }), "header says"},
      {"count too small", with([](std::string& b) { set_u32(b, 0, 1); }),
       "record beyond the header's count"},
      {"count zero", with([](std::string& b) { set_u32(b, 0, 0); }),
       "record beyond the header's count"},
      {"trailing garbage", good + std::string(64, '\0') + "x", "unexpected data"},
      {"bad sentinel, first record", with([&](std::string& b) { set_u32(b, r1, 0xDEADBEEE); }),
       "sentinel 0xdeadbeee"},
      {"bad sentinel, second record", with([&](std::string& b) { b[r2 + 3] = 0; }), "offset 2176"},
      {"dtype 0", with([&](std::string& b) { set_u32(b, r1 + 4, 0); }), "unknown dtype 0"},
      {"dtype 8", with([&](std::string& b) { set_u32(b, r1 + 4, 8); }), "unknown dtype 8"},
      {"dtype 13", with([&](std::string& b) { set_u32(b, r2 + 4, 13); }), "unknown dtype 13"},
      {"dtype 16", with([&](std::string& b) { set_u32(b, r2 + 4, 16); }), "unknown dtype 16"},
      {"dtype max", with([&](std::string& b) { set_u32(b, r1 + 4, 0xffffffffu); }),
       "unknown dtype 4294967295"},
      {"data offset unaligned", with([&](std::string& b) { set_u64(b, r1 + 16, 130); }),
       "not 64-byte aligned"},
      {"data offset unaligned, huge", with([&](std::string& b) { set_u64(b, r2 + 16, ~0ull); }),
       "not 64-byte aligned"},
      {"data on its own record", with([&](std::string& b) { set_u64(b, r1 + 16, r1); }),
       "overlaps its own record"},
      {"data in the header", with([&](std::string& b) { set_u64(b, r2 + 16, 0); }),
       "overlaps the storage header"},
      {"blobs overlap", with([&](std::string& b) { set_u64(b, r2 + 16, 192); }),
       "overlaps the blob recorded at 64"},
      {"data offset past the end", with([&](std::string& b) { set_u64(b, r2 + 16, 1ull << 40); }),
       "past the end"},
      {"data offset near 2^64", with([&](std::string& b) { set_u64(b, r2 + 16, ~63ull); }),
       "past the end"},
      {"size one past the end", with([&](std::string& b) { set_u64(b, r2 + 8, 16); }),
       "past the end"},
      {"size 2^64-1", with([&](std::string& b) { set_u64(b, r1 + 8, ~0ull); }), "past the end"},
      {"size 2^64-4 (offset+size wraps)", with([&](std::string& b) { set_u64(b, r1 + 8, ~3ull); }),
       "past the end"},
      {"size not whole elements", with([&](std::string& b) { set_u64(b, r2 + 8, 10); }),
       "not a whole number of fp32"},
      {"first blob grows into second record",
       with([&](std::string& b) { set_u64(b, r1 + 8, 2100); }), "header says 2 blobs"},
  };
  for (const MalformedCase& c : cases) {
    SCOPED_TRACE(c.what);
    expect_user_error([&] { parse_and_read_all(c.bytes, "bad/weights.bin"); },
                      {"'bad/weights.bin'", c.expect});
  }
  // The same checks apply to files on disk, named by their path.
  const std::string path = dir_ + "/corrupt.bin";
  std::ofstream(path, std::ios::binary) << cases[2].bytes;
  expect_user_error([&] { MilBlobFile::open(path); }, {"'" + path + "'", "version 1"});
}

TEST_F(MilBlobTest, ErrorsNameTheByteOffset) {
  std::string b = two_blob_file();
  set_u32(b, 2176 + 4, 99);
  expect_user_error([&] { MilBlobFile::parse(b, "w.bin"); }, {"byte offset 2180"});
}

// Cutting a valid file at any length must be reported, never crash or read out of bounds
// (the file ends right after the last blob's data, so every cut loses something).
TEST_F(MilBlobTest, EveryTruncationIsAUserError) {
  MilBlobWriter w;
  std::vector<uint16_t> h = {1, 2, 3, 4, 5};
  std::vector<int32_t> i32 = {-1, 7, 42};
  const uint8_t u8[] = {9};
  w.add_fp16(h.data(), 5);
  w.add(BlobDType::kInt32, i32.data(), 12);
  w.add(BlobDType::kUint8, u8, 1);
  const std::string good = w.serialize();
  ASSERT_NO_THROW(parse_and_read_all(good, "t.bin"));
  for (size_t len = 0; len < good.size(); ++len) {
    SCOPED_TRACE(len);
    // Exact-size heap copies so AddressSanitizer builds catch a read past the end.
    expect_user_error([&] { parse_and_read_all(good.substr(0, len), "t.bin"); }, {"'t.bin'"});
  }
}

// Single-byte corruptions anywhere in the metadata either parse or throw UserError.
TEST_F(MilBlobTest, ByteFlipsNeverCrash) {
  const std::string good = two_blob_file();
  const size_t metadata[][2] = {{0, 128}, {2176, 2240}};
  for (const auto& range : metadata) {
    for (size_t at = range[0]; at < range[1]; ++at) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string b = good;
        b[at] = static_cast<char>(b[at] ^ (1 << bit));
        try {
          parse_and_read_all(b, "flip.bin");
        } catch (const UserError& e) {
          EXPECT_NE(std::string(e.what()).find("'flip.bin'"), std::string::npos);
        }
      }
    }
  }
}

// ---- fp16 ----

// The value an fp16 pattern denotes, computed independently of fp16_to_fp32's bit tricks.
double fp16_value(uint16_t h) {
  const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double v = exponent == 0 ? std::ldexp(mantissa, -24) : std::ldexp(1024 + mantissa, exponent - 25);
  return sign ? -v : v;
}

TEST(MilBlobFp16, AllPatternsRoundTripExactly) {
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float f = fp16_to_fp32(h);
    const int exponent = (h >> 10) & 0x1f;
    const bool nan = exponent == 0x1f && (h & 0x3ff) != 0;
    if (nan) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << bits;
    } else if (exponent == 0x1f) {
      ASSERT_TRUE(std::isinf(f)) << std::hex << bits;
      ASSERT_EQ(std::signbit(f), (h >> 15) != 0);
    } else {
      ASSERT_EQ(static_cast<double>(f), fp16_value(h)) << std::hex << bits;
      ASSERT_EQ(std::signbit(f), (h >> 15) != 0) << std::hex << bits;  // -0 stays -0
    }
    // NaN payloads included: the round trip reproduces every pattern.
    ASSERT_EQ(fp32_to_fp16(f), h) << std::hex << bits;
  }
}

uint16_t to_half(uint32_t float_bits) { return fp32_to_fp16(std::bit_cast<float>(float_bits)); }

TEST(MilBlobFp16, RoundsToNearestTiesToEven) {
  EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
  EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
  EXPECT_EQ(fp32_to_fp16(0.0f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
  // fp16 ulp at 1.0 is 2^-10; the halfway points are ties.
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);             // tie -> even (down)
  EXPECT_EQ(fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);         // tie -> even (up)
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-23f), 0x3c01);  // just above the tie
  EXPECT_EQ(fp32_to_fp16(1.0f + 0x1p-11f - 0x1p-23f), 0x3c00);  // just below it
  EXPECT_EQ(fp32_to_fp16(-(1.0f + 3 * 0x1p-11f)), 0xbc02);
  // Rounding up carries into the exponent: just below 2, past the last tie, gives 2.
  EXPECT_EQ(fp32_to_fp16(2.0f - 0x1p-12f), 0x4000);
  EXPECT_EQ(fp32_to_fp16(0.1f), 0x2e66);
  EXPECT_EQ(fp32_to_fp16(3.14159265f), 0x4248);
}

TEST(MilBlobFp16, OverflowsToInfinityPastHalfAnUlpAbove65504) {
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65519.996f), 0x7bff);  // largest float below 65520
  EXPECT_EQ(to_half(0x477fefffu), 0x7bff);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);  // the tie: 0x7bff is odd, so up to inf
  EXPECT_EQ(fp32_to_fp16(-65520.0f), 0xfc00);
  EXPECT_EQ(fp32_to_fp16(1e10f), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::max()), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::infinity()), 0xfc00);
}

TEST(MilBlobFp16, NaNStaysNaN) {
  const uint32_t nans[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u,
                           0x7fffffffu, 0x7f801fffu, 0xff800001u};
  for (uint32_t n : nans) {
    const uint16_t h = to_half(n);
    EXPECT_EQ(h & 0x7c00, 0x7c00) << std::hex << n;
    EXPECT_NE(h & 0x03ff, 0) << std::hex << n;  // not infinity
    EXPECT_EQ(h >> 15, n >> 31) << std::hex << n;
  }
}

TEST(MilBlobFp16, Subnormals) {
  EXPECT_EQ(fp32_to_fp16(0x1p-14f), 0x0400);  // smallest normal
  EXPECT_EQ(fp32_to_fp16(0x1p-24f), 0x0001);  // smallest subnormal
  EXPECT_EQ(fp32_to_fp16(-0x1p-24f), 0x8001);
  EXPECT_EQ(fp32_to_fp16(1023 * 0x1p-24f), 0x03ff);     // largest subnormal
  EXPECT_EQ(fp32_to_fp16(1023.5f * 0x1p-24f), 0x0400);  // tie -> even: the min normal
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000);            // tie between 0 and 2^-24 -> 0
  EXPECT_EQ(fp32_to_fp16(-0x1p-25f), 0x8000);
  EXPECT_EQ(to_half(0x33000001u), 0x0001);        // just above 2^-25
  EXPECT_EQ(fp32_to_fp16(3 * 0x1p-25f), 0x0002);  // 1.5 units: tie -> even (2)
  EXPECT_EQ(fp32_to_fp16(5 * 0x1p-25f), 0x0002);  // 2.5 units: tie -> even (2)
  EXPECT_EQ(fp32_to_fp16(0x1p-24f * 2.75f), 0x0003);
  EXPECT_EQ(fp32_to_fp16(1e-10f), 0x0000);
  EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(fp32_to_fp16(-std::numeric_limits<float>::denorm_min()), 0x8000);
}

// Brute-force oracle: the nearest fp16 (ties to the even pattern) by searching all finite fp16
// values, checked on a spread of fp32 patterns covering every exponent.
TEST(MilBlobFp16, MatchesNearestValueSearch) {
  std::vector<std::pair<double, uint16_t>> finite;  // non-negative finite fp16 values, ascending
  for (uint32_t h = 0; h < 0x7c00; ++h) finite.push_back({fp16_value(static_cast<uint16_t>(h)), h});
  auto nearest = [&](double x) -> uint16_t {
    const double ax = std::fabs(x);
    const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
    if (ax >= 65520.0) return sign | 0x7c00;
    auto it = std::lower_bound(finite.begin(), finite.end(), std::make_pair(ax, uint16_t{0}));
    if (it == finite.end()) return sign | 0x7bff;
    if (it->first == ax || it == finite.begin()) return sign | it->second;
    auto below = std::prev(it);
    const double up = it->first - ax, down = ax - below->first;
    if (up < down) return sign | it->second;
    if (down < up) return sign | below->second;
    return sign | ((it->second & 1) ? below->second : it->second);
  };
  std::mt19937 rng(1);
  for (int i = 0; i < 400000; ++i) {
    // Exponents near fp16's range (2^-27 .. 2^17) with random mantissas and signs.
    const uint32_t exponent = 100 + rng() % 45;
    const uint32_t bits = (rng() & 0x80000000u) | (exponent << 23) | (rng() & 0x7fffffu);
    const float f = std::bit_cast<float>(bits);
    ASSERT_EQ(fp32_to_fp16(f), nearest(f)) << std::hex << bits;
  }
}

}  // namespace
}  // namespace anetrain::ane
