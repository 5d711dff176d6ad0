// MILBlob v2 writer (in memory, then one atomic file write) and validating reader; the format
// is described in milblob.h.
#include "backends/ane/blob/milblob.h"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>

#include "core/error.h"
#include "io/atomic_file.h"

namespace anetrain::ane {
namespace {

// Tensor bytes are copied to and from the file as-is and the format is little-endian; every
// host we target (x86-64, Apple silicon) is too. A big-endian port would need swapping here.
static_assert(std::endian::native == std::endian::little, "MILBlob I/O assumes little-endian");

constexpr uint64_t kHeaderBytes = 64;
constexpr uint64_t kRecordBytes = 64;
// Field positions inside a record.
constexpr uint64_t kSentinelAt = 0, kDTypeAt = 4, kSizeAt = 8, kDataOffsetAt = 16;

uint64_t align_up(uint64_t n) {
  return (n + kMilBlobAlignment - 1) / kMilBlobAlignment * kMilBlobAlignment;
}

// Callers guarantee at + 4 / at + 8 <= s.size().
uint32_t get_u32(const std::string& s, uint64_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}
uint64_t get_u64(const std::string& s, uint64_t at) {
  uint64_t v;
  std::memcpy(&v, s.data() + at, sizeof v);
  return v;
}
void put_u32(std::string& s, uint64_t at, uint32_t v) { std::memcpy(s.data() + at, &v, sizeof v); }
void put_u64(std::string& s, uint64_t at, uint64_t v) { std::memcpy(s.data() + at, &v, sizeof v); }

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

// Every reader error has this shape: the file, what is wrong, where, and what to do.
[[noreturn]] void malformed(const std::string& name, uint64_t offset, const std::string& what) {
  throw UserError("MILBlob weight file '" + name + "', byte offset " + std::to_string(offset) +
                  ": " + what +
                  "; the file is truncated, corrupt or not MILBlob v2: regenerate it");
}

}  // namespace

int blob_dtype_size(BlobDType dtype) {
  switch (dtype) {
    case BlobDType::kUint8:
    case BlobDType::kInt8:
      return 1;
    case BlobDType::kFp16:
    case BlobDType::kBf16:
    case BlobDType::kInt16:
    case BlobDType::kUint16:
      return 2;
    case BlobDType::kFp32:
    case BlobDType::kInt32:
    case BlobDType::kUint32:
      return 4;
  }
  return 0;  // a value read from a file that names no known dtype
}

const char* blob_dtype_name(BlobDType dtype) {
  switch (dtype) {
    case BlobDType::kFp16:
      return "fp16";
    case BlobDType::kFp32:
      return "fp32";
    case BlobDType::kUint8:
      return "uint8";
    case BlobDType::kInt8:
      return "int8";
    case BlobDType::kBf16:
      return "bf16";
    case BlobDType::kInt16:
      return "int16";
    case BlobDType::kUint16:
      return "uint16";
    case BlobDType::kInt32:
      return "int32";
    case BlobDType::kUint32:
      return "uint32";
  }
  return "unknown";
}

// ---- writer ----

MilBlobWriter::MilBlobWriter() : file_(kHeaderBytes, '\0') { put_u32(file_, 4, kMilBlobVersion); }

uint64_t MilBlobWriter::add(BlobDType dtype, const void* data, uint64_t bytes) {
  const int element = blob_dtype_size(dtype);
  ANETRAIN_CHECK(element != 0,
                 "unknown MILBlob dtype " + std::to_string(static_cast<uint32_t>(dtype)));
  ANETRAIN_CHECK(
      bytes % static_cast<uint64_t>(element) == 0,
      std::to_string(bytes) + " bytes is not a whole number of " + blob_dtype_name(dtype));
  ANETRAIN_CHECK(data != nullptr || bytes == 0);
  ANETRAIN_CHECK(count() < std::numeric_limits<uint32_t>::max(), "MILBlob count overflow");

  // The previous blob's data (or the header) ends anywhere; records start on a boundary.
  const uint64_t record = align_up(file_.size());
  const uint64_t data_offset = record + kRecordBytes;
  file_.resize(data_offset, '\0');
  put_u32(file_, record + kSentinelAt, kMilBlobSentinel);
  put_u32(file_, record + kDTypeAt, static_cast<uint32_t>(dtype));
  put_u64(file_, record + kSizeAt, bytes);
  put_u64(file_, record + kDataOffsetAt, data_offset);
  // Padding size in bits (record + 24) stays 0: it only matters for sub-byte dtypes.
  if (bytes > 0) file_.append(static_cast<const char*>(data), bytes);
  put_u32(file_, 0, count() + 1);
  return record;
}

uint64_t MilBlobWriter::add_fp16(const uint16_t* data, int64_t count) {
  ANETRAIN_CHECK(count >= 0);
  return add(BlobDType::kFp16, data, static_cast<uint64_t>(count) * sizeof(uint16_t));
}

uint32_t MilBlobWriter::count() const { return get_u32(file_, 0); }

std::string MilBlobWriter::serialize() const { return file_; }

void MilBlobWriter::write(const std::string& path) const {
  write_file_atomic(path, file_.data(), file_.size());
}

// ---- reader ----

MilBlobFile MilBlobFile::parse(std::string bytes, const std::string& name_for_errors) {
  MilBlobFile file;
  file.name_ = name_for_errors;
  file.bytes_ = std::move(bytes);
  const std::string& b = file.bytes_;
  const std::string& name = file.name_;
  const uint64_t file_size = b.size();

  if (file_size < kHeaderBytes) {
    malformed(name, file_size,
              "the file is " + std::to_string(file_size) + " bytes, too short for the " +
                  std::to_string(kHeaderBytes) + "-byte storage header");
  }
  const uint32_t version = get_u32(b, 4);
  if (version != kMilBlobVersion) {
    malformed(name, 4,
              "storage version " + std::to_string(version) + ", expected " +
                  std::to_string(kMilBlobVersion));
  }
  const uint32_t count = get_u32(b, 0);
  // Every blob needs at least a record, so a corrupt count cannot make us reserve much.
  file.entries_.reserve(std::min<uint64_t>(count, file_size / kRecordBytes));

  // Walk the records in file order: the first at 64, each next one at the 64-byte boundary
  // after the previous data. Records are therefore aligned by construction, and every blob lies
  // after the previous one, so the only way to overlap is a data offset pointing backwards.
  uint64_t record = kHeaderBytes;
  uint64_t end = kHeaderBytes;  // end of the last blob's data, or of the header
  for (uint32_t i = 0; i < count; ++i) {
    // record <= file_size + 63 here (end <= file_size), so these sums cannot overflow.
    if (record + kRecordBytes > file_size) {
      malformed(name, record,
                "the header says " + std::to_string(count) + " blobs but the file (" +
                    std::to_string(file_size) + " bytes) ends before the 64-byte record of blob " +
                    std::to_string(i + 1));
    }
    const uint32_t sentinel = get_u32(b, record + kSentinelAt);
    if (sentinel != kMilBlobSentinel) {
      malformed(name, record,
                "blob " + std::to_string(i + 1) + " of " + std::to_string(count) +
                    " has record sentinel " + hex(sentinel) + ", expected " +
                    hex(kMilBlobSentinel));
    }
    const auto dtype = static_cast<BlobDType>(get_u32(b, record + kDTypeAt));
    const int element = blob_dtype_size(dtype);
    if (element == 0) {
      malformed(name, record + kDTypeAt,
                "unknown dtype " + std::to_string(static_cast<uint32_t>(dtype)) +
                    " in the blob record at " + std::to_string(record));
    }
    const uint64_t size = get_u64(b, record + kSizeAt);
    const uint64_t data_offset = get_u64(b, record + kDataOffsetAt);
    const std::string blob = "the blob recorded at " + std::to_string(record);
    if (data_offset % kMilBlobAlignment != 0) {
      malformed(
          name, record + kDataOffsetAt,
          "data offset " + std::to_string(data_offset) + " of " + blob + " is not 64-byte aligned");
    }
    if (data_offset < record + kRecordBytes) {
      // Aligned and below record + 64 means at or before the record: say what it lands on.
      std::string target;
      if (data_offset < kHeaderBytes) {
        target = "the storage header";
      } else if (data_offset == record) {
        target = "its own record";
      } else {
        // The last earlier blob starting at or before data_offset (there is one: >= 64).
        auto it = std::upper_bound(
            file.entries_.begin(), file.entries_.end(), data_offset,
            [](uint64_t off, const MilBlobEntry& e) { return off < e.record_offset; });
        target = "the blob recorded at " + std::to_string(std::prev(it)->record_offset);
      }
      malformed(name, record + kDataOffsetAt,
                "data offset " + std::to_string(data_offset) + " of " + blob + " overlaps " +
                    target + "; data must start after its record, at or past " +
                    std::to_string(record + kRecordBytes));
    }
    if (data_offset > file_size || size > file_size - data_offset) {
      malformed(name, record + kSizeAt,
                blob + " claims " + std::to_string(size) + " bytes at offset " +
                    std::to_string(data_offset) + ", past the end of the file (" +
                    std::to_string(file_size) + " bytes)");
    }
    if (size % static_cast<uint64_t>(element) != 0) {
      malformed(name, record + kSizeAt,
                blob + " has " + std::to_string(size) + " bytes, not a whole number of " +
                    blob_dtype_name(dtype) + " elements (" + std::to_string(element) +
                    " bytes each)");
    }
    file.entries_.push_back({record, dtype, data_offset, size});
    end = data_offset + size;
    record = align_up(end);
  }

  // Past the last blob only zero padding may follow; anything else means the count is wrong
  // (another record) or the file has been damaged or appended to.
  const auto tail = std::find_if(b.begin() + static_cast<std::ptrdiff_t>(end), b.end(),
                                 [](char c) { return c != '\0'; });
  if (tail != b.end()) {
    const auto at = static_cast<uint64_t>(tail - b.begin());
    if (at == record && record + 4 <= file_size && get_u32(b, record) == kMilBlobSentinel) {
      malformed(name, at, "a blob record beyond the header's count of " + std::to_string(count));
    }
    malformed(
        name, at,
        "unexpected data after the last blob (the header counts " + std::to_string(count) + ")");
  }
  return file;
}

MilBlobFile MilBlobFile::open(const std::string& path) { return parse(read_file(path), path); }

const MilBlobEntry& MilBlobFile::at_record(uint64_t record_offset) const {
  auto it =
      std::lower_bound(entries_.begin(), entries_.end(), record_offset,
                       [](const MilBlobEntry& e, uint64_t off) { return e.record_offset < off; });
  if (it != entries_.end() && it->record_offset == record_offset) return *it;

  std::string known;
  for (size_t i = 0; i < entries_.size() && i < 4; ++i) {
    known += (i ? ", " : "") + std::to_string(entries_[i].record_offset);
  }
  if (entries_.size() > 4) known += ", ...";
  const std::string why = record_offset % kMilBlobAlignment != 0
                              ? " (not 64-byte aligned; BLOBFILE offsets name a blob record)"
                              : "";
  throw UserError("MILBlob weight file '" + name_ + "': no blob record at byte offset " +
                  std::to_string(record_offset) + why + "; its " + std::to_string(entries_.size()) +
                  " records are at " + (known.empty() ? "none" : known) +
                  ". The MIL program and its weight file are out of sync: regenerate both");
}

std::string_view MilBlobFile::data(const MilBlobEntry& entry) const {
  ANETRAIN_CHECK(
      entry.data_offset <= bytes_.size() && entry.size <= bytes_.size() - entry.data_offset,
      "MILBlob entry does not belong to '" + name_ + "'");
  return std::string_view(bytes_).substr(entry.data_offset, entry.size);
}

}  // namespace anetrain::ane
