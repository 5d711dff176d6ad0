// libFuzzer target for the MILBlob v2 reader (src/backends/ane/blob/milblob.h). Any input must
// either parse or throw UserError; a crash, sanitizer report, other exception or broken
// invariant is a bug. Accepted files are also checked for consistency: every blob is
// reachable through at_record, its bytes are readable, and rewriting the blobs with
// MilBlobWriter yields a file that parses to the same blobs.
//
// Seed mode: with ANETRAIN_FUZZ_WRITE_SEEDS=DIR set, the binary writes a few valid files into
// DIR and exits (scripts/fuzz.sh uses this, so no binary seeds are committed).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

#include "backends/ane/blob/milblob.h"
#include "core/error.h"
#include "core/fp16.h"

namespace {

using anetrain::ane::BlobDType;
using anetrain::ane::MilBlobEntry;
using anetrain::ane::MilBlobFile;
using anetrain::ane::MilBlobWriter;

void write_seed(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "milblob_fuzz: cannot write seed %s/%s\n", dir.c_str(), name.c_str());
    std::exit(1);
  }
}

void write_seeds(const std::string& dir) {
  write_seed(dir, "empty.bin", MilBlobWriter().serialize());

  MilBlobWriter one;  // the documented example: 500 fp32 values, data at 128
  std::vector<float> floats(500);
  for (size_t i = 0; i < floats.size(); ++i) floats[i] = 0.5f * static_cast<float>(i) - 3.0f;
  one.add(BlobDType::kFp32, floats.data(), floats.size() * sizeof(float));
  write_seed(dir, "fp32_500.bin", one.serialize());

  MilBlobWriter mixed;  // every dtype, small odd sizes, an empty blob
  std::vector<uint16_t> halves;
  for (float f : {1.0f, -2.5f, 65504.0f, 0x1p-24f}) halves.push_back(anetrain::fp32_to_fp16(f));
  mixed.add_fp16(halves.data(), static_cast<int64_t>(halves.size()));
  const unsigned char raw[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  mixed.add(BlobDType::kUint8, raw, 3);
  mixed.add(BlobDType::kInt8, raw, 1);
  mixed.add(BlobDType::kBf16, raw, 4);
  mixed.add(BlobDType::kInt16, raw, 2);
  mixed.add(BlobDType::kUint16, raw, 6);
  mixed.add(BlobDType::kInt32, raw, 8);
  mixed.add(BlobDType::kUint32, raw, 16);
  mixed.add(BlobDType::kFp32, nullptr, 0);
  write_seed(dir, "mixed.bin", mixed.serialize());

  // A writer that pads the file's end: trailing zeros are accepted.
  std::string padded = mixed.serialize();
  padded.resize((padded.size() + 63) / 64 * 64, '\0');
  write_seed(dir, "mixed_padded.bin", padded);
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "milblob_fuzz: %s\n", what);
  std::abort();
}

void check_accepted(const MilBlobFile& file) {
  MilBlobWriter rewrite;
  uint64_t previous_end = 64;
  for (const MilBlobEntry& e : file.entries()) {
    if (&file.at_record(e.record_offset) != &e) fail("at_record does not find an entry");
    if (e.record_offset % 64 != 0 || e.data_offset % 64 != 0) fail("unaligned entry accepted");
    if (e.record_offset < previous_end || e.data_offset < e.record_offset + 64) {
      fail("overlapping entry accepted");
    }
    const std::string_view data = file.data(e);
    if (data.size() != e.size) fail("data size differs from entry size");
    // Touch every byte so AddressSanitizer sees any out-of-bounds view.
    volatile unsigned sum = 0;
    for (char c : data) sum = sum + static_cast<unsigned char>(c);
    rewrite.add(e.dtype, data.data(), data.size());
    previous_end = e.data_offset + e.size;
  }
  const MilBlobFile again = MilBlobFile::parse(rewrite.serialize(), "rewritten");
  if (again.entries().size() != file.entries().size()) fail("rewrite changed the blob count");
  for (size_t i = 0; i < again.entries().size(); ++i) {
    const MilBlobEntry& a = file.entries()[i];
    const MilBlobEntry& b = again.entries()[i];
    if (a.dtype != b.dtype || file.data(a) != again.data(b)) fail("rewrite changed a blob");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("ANETRAIN_FUZZ_WRITE_SEEDS")) {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const MilBlobFile file =
        MilBlobFile::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz-input");
    check_accepted(file);
    // BLOBFILE offsets come from MIL text, independent of the file: look one up from the input.
    if (size >= 8) {
      uint64_t offset;
      std::memcpy(&offset, data, sizeof offset);
      try {
        (void)file.at_record(offset);
      } catch (const anetrain::UserError&) {
      }
    }
  } catch (const anetrain::UserError&) {
    // Expected for malformed input.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "milblob_fuzz: unexpected exception: %s\n", e.what());
    std::abort();
  }
  return 0;
}
