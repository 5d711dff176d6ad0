// MILBlob storage, version 2: the weight-file format that MIL programs reference through
// `BLOBFILE(path = ..., offset = N)` (../shared/reference/ane.md, "Weight files").
//
// Layout (little-endian, 64-byte aligned):
//   [0, 64)       storage header: u32 blob count, u32 version = 2, zeros
//   per blob      64-byte record at a 64-byte boundary: u32 sentinel 0xDEADBEEF, u32 dtype,
//                 u64 size in bytes, u64 absolute data offset, u64 padding size in bits, zeros;
//                 the data at the next 64-byte boundary after the record. The next record
//                 starts at the next 64-byte boundary after the data.
// BLOBFILE offsets name the RECORD, not the data: the first record is at 64, its data at 128.
//
// MilBlobWriter builds a file in memory, one record per tensor (some chips reject files that
// pack several matrices under one record). MilBlobFile parses a whole file, validating every
// record so that a corrupt or truncated file is a one-line UserError naming the file and the
// byte offset, never a crash or an out-of-bounds read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace anetrain::ane {

enum class BlobDType : uint32_t {
  kFp16 = 1,
  kFp32 = 2,
  kUint8 = 3,
  kInt8 = 4,
  kBf16 = 5,
  kInt16 = 6,
  kUint16 = 7,
  kInt32 = 14,
  kUint32 = 15,
};

// Bytes per element of a dtype, or 0 for a value that is not one of the dtypes above.
int blob_dtype_size(BlobDType dtype);
// "fp16", "fp32", ...; "unknown" for a value that is not one of the dtypes above.
const char* blob_dtype_name(BlobDType dtype);

inline constexpr uint64_t kMilBlobAlignment = 64;
inline constexpr uint32_t kMilBlobVersion = 2;
inline constexpr uint32_t kMilBlobSentinel = 0xDEADBEEFu;

class MilBlobWriter {
 public:
  MilBlobWriter();

  // Appends a tensor of `bytes` bytes (a multiple of the dtype's element size; data may be null
  // when bytes is 0) and returns the offset of its record: what BLOBFILE(offset = ...) names.
  uint64_t add(BlobDType dtype, const void* data, uint64_t bytes);
  // Appends `count` fp16 values given as bit patterns (see fp16.h for conversion).
  uint64_t add_fp16(const uint16_t* data, int64_t count);

  uint32_t count() const;
  // The whole file's bytes. The file ends right after the last blob's data (no tail padding).
  std::string serialize() const;
  // Replaces `path` atomically (temp file + rename); UserError naming the path on I/O failure.
  void write(const std::string& path) const;

 private:
  std::string file_;  // always a complete, valid file: the header count is kept current
};

struct MilBlobEntry {
  uint64_t record_offset = 0;
  BlobDType dtype = BlobDType::kFp16;
  uint64_t data_offset = 0, size = 0;  // size in bytes
  bool operator==(const MilBlobEntry&) const = default;
};

class MilBlobFile {
 public:
  // Validates `bytes` as a whole MILBlob v2 file; `name_for_errors` (usually the path) is
  // named in every error message. Zero bytes after the last blob are accepted as padding.
  static MilBlobFile parse(std::string bytes, const std::string& name_for_errors);
  // Reads and parses a file; UserError naming the path if it is missing, unreadable or invalid.
  static MilBlobFile open(const std::string& path);

  const std::string& name() const { return name_; }
  const std::string& bytes() const { return bytes_; }
  // In file order (increasing record offsets).
  const std::vector<MilBlobEntry>& entries() const { return entries_; }
  // The blob whose record starts at `record_offset` (a BLOBFILE offset). UserError naming the
  // file if the offset is unaligned or no record starts there.
  const MilBlobEntry& at_record(uint64_t record_offset) const;
  // The blob's bytes, a view into this object (valid while it lives). `entry` must come from
  // this file's entries().
  std::string_view data(const MilBlobEntry& entry) const;

 private:
  std::string name_;
  std::string bytes_;
  std::vector<MilBlobEntry> entries_;
};

}  // namespace anetrain::ane
