// safetensors writer (streamed through write_file_atomic) and validating reader (header parsed
// up front, tensor data read on demand with pread). Format: see safetensors.h.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>

#include "core/error.h"
#include "core/fp16.h"
#include "io/atomic_file.h"
#include "io/json_input.h"

namespace anetrain {
namespace {

// Tensor bytes go to and from disk as-is, and the format is little-endian. Every platform we
// target (x86-64, Apple silicon) is too; a big-endian port would need byte swapping here.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes little-endian");

// Same limit as the reference implementation: a larger header means a corrupt length field,
// and we must not try to allocate it.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

// Bytes per element; 0 for an unknown dtype. All dtypes the format defines are accepted so a
// file holding, say, I64 token counts can still be opened for its float tensors.
int dtype_size(const std::string& dtype) {
  static const std::map<std::string, int> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

bool is_float_dtype(const std::string& dtype) {
  return dtype == "F32" || dtype == "F16" || dtype == "BF16";
}

// Names and dtypes in messages come from untrusted files; keep messages one short line.
std::string printable(const std::string& s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 80; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

[[noreturn]] void throw_not_float(const std::string& path, const std::string& name,
                                  const std::string& dtype) {
  throw UserError("'" + path + "': tensor " + printable(name) + " has dtype " + dtype +
                  "; only F32, F16 and BF16 can be loaded as float");
}

float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

// Reads exactly n bytes at offset. Returns 0, or an errno; -1 means the file ended early.
// Chunked because macOS rejects single reads over INT_MAX bytes.
int pread_all(int fd, void* buf, uint64_t n, uint64_t offset) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, uint64_t{1} << 30));
    ssize_t got = pread(fd, p, chunk, static_cast<off_t>(offset));
    if (got < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (got == 0) return -1;
    p += got;
    n -= static_cast<uint64_t>(got);
    offset += static_cast<uint64_t>(got);
  }
  return 0;
}

// A JSON integer >= 0 that fits in int64 (so shapes and offsets never wrap).
bool get_count(const nlohmann::json& value, uint64_t* out) {
  if (value.is_number_unsigned()) {
    *out = value.get<uint64_t>();
  } else if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(value.get<int64_t>());
  } else {
    return false;
  }
  return *out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Writer

void SafetensorsWriter::add_f32(const std::string& name, std::vector<int64_t> shape,
                                const float* data) {
  add(name, std::move(shape), data, false);
}

void SafetensorsWriter::add_f16(const std::string& name, std::vector<int64_t> shape,
                                const float* data) {
  add(name, std::move(shape), data, true);
}

void SafetensorsWriter::add(const std::string& name, std::vector<int64_t> shape, const float* data,
                            bool f16) {
  ANETRAIN_CHECK(!name.empty() && name != kMetadataKey, "bad tensor name '" + name + "'");
  for (const Entry& e : entries_) ANETRAIN_CHECK(e.name != name, "duplicate tensor " + name);
  uint64_t numel = 1;
  for (int64_t d : shape) {
    ANETRAIN_CHECK(d >= 0, "negative dim in tensor " + name);
    ANETRAIN_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) &&
                       numel <= std::numeric_limits<uint64_t>::max() / sizeof(float),
                   "tensor too large: " + name);
  }
  ANETRAIN_CHECK(numel == 0 || data != nullptr, "null data for tensor " + name);
  entries_.push_back({name, std::move(shape), data, numel, f16});
}

void SafetensorsWriter::emit(const Entry& e, const std::function<void(const void*, size_t)>& sink) {
  if (e.numel == 0) return;
  if (!e.f16) {
    sink(e.data, e.bytes());
    return;
  }
  std::vector<uint16_t> chunk(static_cast<size_t>(std::min<uint64_t>(e.numel, 1 << 20)));
  for (uint64_t done = 0; done < e.numel;) {
    const uint64_t n = std::min<uint64_t>(e.numel - done, chunk.size());
    for (uint64_t i = 0; i < n; ++i) chunk[i] = fp32_to_fp16(e.data[done + i]);
    sink(chunk.data(), n * 2);
    done += n;
  }
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

std::string SafetensorsWriter::header() const {
  // ordered_json keeps tensors in insertion (= buffer) order, which makes headers easy to read.
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata_) meta[key] = value;
    j[kMetadataKey] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const Entry& e : entries_) {
    j[e.name] = {{"dtype", e.f16 ? "F16" : "F32"},
                 {"shape", e.shape},
                 {"data_offsets", {offset, offset + e.bytes()}}};
    offset += e.bytes();
  }
  std::string text;
  try {
    text = j.dump();
  } catch (const nlohmann::json::exception&) {
    throw UserError(
        "cannot write safetensors header: a tensor name or metadata string is not valid UTF-8");
  }
  // Pad so the buffer starts 8-byte aligned, letting readers mmap it and use it in place.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + text;
}

std::string SafetensorsWriter::serialize() const {
  std::string out = header();
  for (const Entry& e : entries_)
    emit(e, [&](const void* p, size_t n) { out.append(static_cast<const char*>(p), n); });
  return out;
}

void SafetensorsWriter::write(const std::string& path) const {
  std::string head;
  try {
    head = header();
  } catch (const UserError& e) {
    throw UserError("'" + path + "': " + e.what());
  }
  write_file_atomic(path, [&](std::FILE* f) {
    std::fwrite(head.data(), 1, head.size(), f);
    for (const Entry& e : entries_) {
      if (std::ferror(f)) return;  // e.g. disk full: stop early, write_file_atomic reports it
      emit(e, [&](const void* p, size_t n) { std::fwrite(p, 1, n, f); });
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Reader

struct SafetensorsFile::Handle {
  int fd;
  explicit Handle(int fd) : fd(fd) {}
  ~Handle() { close(fd); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw UserError("cannot read '" + path + "': " + std::strerror(errno) +
                    " (check the path and its permissions)");
  }
  SafetensorsFile file;
  file.path_ = path;
  file.handle_ = std::make_shared<Handle>(fd);
  auto bad = [&](const std::string& why) {
    return UserError("'" + path + "' is not a valid safetensors file: " + why);
  };
  auto read_error = [&](int err) {
    return err == -1 ? bad("it changed size while being read")
                     : UserError("cannot read '" + path + "': " + std::strerror(err));
  };

  struct stat st;
  if (fstat(fd, &st) != 0) throw read_error(errno);
  if (S_ISDIR(st.st_mode)) throw bad("it is a directory");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    throw bad("it is " + std::to_string(file_size) +
              " bytes, too short to hold the 8-byte header length");
  }
  unsigned char prefix[8];
  if (int err = pread_all(fd, prefix, 8, 0); err != 0) throw read_error(err);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(prefix[i]) << (8 * i);
  if (header_len > kMaxHeaderBytes) {
    throw bad("header length " + std::to_string(header_len) + " is over the 100 MB limit");
  }
  if (8 + header_len > file_size) {
    throw bad("header length " + std::to_string(header_len) + " runs past the end of the " +
              std::to_string(file_size) + "-byte file; it is truncated");
  }
  std::string text(header_len, '\0');
  if (int err = pread_all(fd, text.data(), header_len, 8); err != 0) throw read_error(err);
  if (text.empty() || text[0] != '{') throw bad("header does not start with '{'");

  const nlohmann::json header =
      parse_json(text, "'" + path + "' is not a valid safetensors file: its header");
  if (!header.is_object()) throw bad("header is not a JSON object");

  file.buffer_start_ = 8 + header_len;
  const uint64_t buffer_size = file_size - file.buffer_start_;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) throw bad("__metadata__ is not an object");
      for (const auto& [meta_key, meta_value] : value.items()) {
        if (!meta_value.is_string()) {
          throw bad("metadata value for " + printable(meta_key) + " is not a string");
        }
        file.metadata_[meta_key] = meta_value.get<std::string>();
      }
      continue;
    }
    const std::string name = "tensor " + printable(key);
    if (!value.is_object()) throw bad(name + " is not described by a JSON object");

    auto dtype_it = value.find("dtype");
    if (dtype_it == value.end() || !dtype_it->is_string()) throw bad(name + " has no \"dtype\"");
    Tensor t;
    t.dtype = dtype_it->get<std::string>();
    const int elem_size = dtype_size(t.dtype);
    if (elem_size == 0) throw bad(name + " has unknown dtype " + printable(t.dtype));

    auto shape_it = value.find("shape");
    if (shape_it == value.end() || !shape_it->is_array()) {
      throw bad(name + " has no \"shape\" array");
    }
    uint64_t numel = 1;
    for (const auto& dim : *shape_it) {
      uint64_t d;
      if (!get_count(dim, &d)) throw bad(name + " has a shape entry that is not a size");
      if (__builtin_mul_overflow(numel, d, &numel) ||
          numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw bad(name + " has an impossibly large shape");
      }
      t.shape.push_back(static_cast<int64_t>(d));
    }
    t.numel = static_cast<int64_t>(numel);

    auto offsets_it = value.find("data_offsets");
    if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !get_count((*offsets_it)[0], &t.begin) || !get_count((*offsets_it)[1], &t.end) ||
        t.begin > t.end) {
      throw bad(name + " has no valid \"data_offsets\" [begin, end]");
    }
    const std::string range = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ")";
    uint64_t bytes;
    if (__builtin_mul_overflow(numel, static_cast<uint64_t>(elem_size), &bytes)) {
      throw bad(name + " has an impossibly large shape");
    }
    if (bytes != t.end - t.begin) {
      throw bad(name + " (" + t.dtype + ", shape " + shape_str(t.shape) + ") needs " +
                std::to_string(bytes) + " bytes but its data_offsets " + range + " hold " +
                std::to_string(t.end - t.begin));
    }
    if (t.end > buffer_size) {
      throw bad(name + " data_offsets " + range + " run past the " + std::to_string(buffer_size) +
                "-byte data buffer; the file is truncated");
    }
    file.tensors_.emplace(key, std::move(t));
  }

  // Tensors must tile the buffer exactly: walk them in offset order.
  std::vector<std::pair<const std::string*, const Tensor*>> by_offset;
  for (const auto& [name, t] : file.tensors_) by_offset.emplace_back(&name, &t);
  std::sort(by_offset.begin(), by_offset.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second->begin, a.second->end) < std::tie(b.second->begin, b.second->end);
  });
  uint64_t cursor = 0;
  for (const auto& [name, t] : by_offset) {
    if (t->begin < cursor) throw bad("tensor " + printable(*name) + " overlaps another tensor");
    if (t->begin > cursor) {
      throw bad("data bytes [" + std::to_string(cursor) + ", " + std::to_string(t->begin) +
                ") before tensor " + printable(*name) + " belong to no tensor");
    }
    cursor = t->end;
    file.order_.push_back(*name);
  }
  if (cursor != buffer_size) {
    throw bad(std::to_string(buffer_size - cursor) +
              " bytes after the last tensor belong to no tensor");
  }
  return file;
}

const SafetensorsFile::Tensor& SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw UserError("'" + path_ + "' has no tensor " + printable(name));
  return it->second;
}

bool SafetensorsFile::has(const std::string& name) const { return tensors_.count(name) > 0; }
std::vector<std::string> SafetensorsFile::names() const { return order_; }
std::vector<int64_t> SafetensorsFile::shape(const std::string& name) const {
  return find(name).shape;
}
std::string SafetensorsFile::dtype(const std::string& name) const { return find(name).dtype; }
int64_t SafetensorsFile::numel(const std::string& name) const { return find(name).numel; }

void SafetensorsFile::read_f32(const std::string& name, float* out, int64_t expected_numel) const {
  const Tensor& t = find(name);
  if (!is_float_dtype(t.dtype)) throw_not_float(path_, name, t.dtype);
  if (t.numel != expected_numel) {
    throw UserError("'" + path_ + "': tensor " + printable(name) + " has shape " +
                    shape_str(t.shape) + " (" + std::to_string(t.numel) + " elements) but " +
                    std::to_string(expected_numel) +
                    " were expected; the file does not match this model's config");
  }
  auto check = [&](int err) {
    if (err == -1) {
      throw UserError("'" + path_ + "' was truncated while reading tensor " + printable(name));
    }
    if (err != 0) throw UserError("cannot read '" + path_ + "': " + std::strerror(err));
  };
  const uint64_t start = buffer_start_ + t.begin;
  if (t.dtype == "F32") {
    check(pread_all(handle_->fd, out, t.end - t.begin, start));
    return;
  }
  // Half precision: convert through a bounded scratch buffer, not a whole-tensor copy.
  const bool bf16 = t.dtype == "BF16";
  std::vector<uint16_t> chunk(static_cast<size_t>(std::min<int64_t>(t.numel, 1 << 20)));
  for (int64_t done = 0; done < t.numel;) {
    const int64_t n = std::min<int64_t>(t.numel - done, static_cast<int64_t>(chunk.size()));
    check(pread_all(handle_->fd, chunk.data(), static_cast<uint64_t>(n) * 2, start + done * 2));
    for (int64_t i = 0; i < n; ++i) {
      out[done + i] = bf16 ? bf16_to_f32(chunk[i]) : fp16_to_fp32(chunk[i]);
    }
    done += n;
  }
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
  const Tensor& t = find(name);
  // Check the dtype before allocating: an I64 tensor would otherwise cost a useless buffer.
  if (!is_float_dtype(t.dtype)) throw_not_float(path_, name, t.dtype);
  std::vector<float> out(static_cast<size_t>(t.numel));
  read_f32(name, out.data(), t.numel);
  return out;
}

}  // namespace anetrain
