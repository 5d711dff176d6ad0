// Reading and writing the safetensors format (Hugging Face's tensor container):
//
//   [8 bytes] N, little-endian uint64
//   [N bytes] JSON object header, padded with spaces so 8 + N is a multiple of 8
//   [rest]    byte buffer
//
// Each header key other than "__metadata__" names a tensor and maps to
// {"dtype": "F32"|"F16"|"BF16"|..., "shape": [...], "data_offsets": [begin, end]}, offsets
// relative to the buffer start, end exclusive. "__metadata__" (optional) maps strings to
// strings. Tensors tile the buffer exactly: no gaps, no overlaps, nothing left over.
//
// We write F32 and F16 (from float, rounded to nearest even), tensors laid out in insertion
// order; we read F32, F16 and BF16 into float.
// The reader validates everything and reports a malformed file as a one-line UserError naming
// the path, never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace anetrain {

class SafetensorsWriter {
 public:
  // `data` (numel(shape) floats) is borrowed, not copied, until write()/serialize() returns:
  // checkpoints are hundreds of MB and are streamed straight from the model's buffers.
  // Names must be unique, non-empty and not "__metadata__"; dims must be >= 0.
  void add_f32(const std::string& name, std::vector<int64_t> shape, const float* data);
  // The same, stored as F16: converted while writing, so `data` stays borrowed.
  void add_f16(const std::string& name, std::vector<int64_t> shape, const float* data);
  void set_metadata(const std::string& key, const std::string& value);

  // Atomically replaces `path` (see write_file_atomic). Throws UserError naming the path.
  void write(const std::string& path) const;
  // The whole file as bytes; for tests and small files.
  std::string serialize() const;

 private:
  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
    const float* data;
    uint64_t numel;
    bool f16;
    uint64_t bytes() const { return numel * (f16 ? 2 : 4); }
  };
  void add(const std::string& name, std::vector<int64_t> shape, const float* data, bool f16);
  // Passes the entry's stored bytes to `sink` in pieces (F16: converted a bounded chunk at a
  // time, so a large tensor never needs a second copy in memory).
  static void emit(const Entry& e, const std::function<void(const void*, size_t)>& sink);
  // Length prefix + padded JSON header.
  std::string header() const;

  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

class SafetensorsFile {
 public:
  // Opens and validates the header; tensor data is read on demand. Throws UserError naming the
  // path if the file is missing or malformed.
  static SafetensorsFile open(const std::string& path);

  bool has(const std::string& name) const;
  // Tensor names in buffer order.
  std::vector<std::string> names() const;
  // These throw UserError "'<path>' has no tensor '<name>'" for an unknown name.
  std::vector<int64_t> shape(const std::string& name) const;
  std::string dtype(const std::string& name) const;
  int64_t numel(const std::string& name) const;

  // Reads a F32, F16 or BF16 tensor as floats into `out`. Throws UserError if the tensor is
  // missing, holds a different number of elements than `expected_numel`, or has another dtype.
  void read_f32(const std::string& name, float* out, int64_t expected_numel) const;
  std::vector<float> read_f32(const std::string& name) const;

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  struct Tensor {
    std::string dtype;
    std::vector<int64_t> shape;
    int64_t numel;
    uint64_t begin, end;  // relative to the buffer start
  };
  struct Handle;  // the open file descriptor, shared by copies

  SafetensorsFile() = default;
  const Tensor& find(const std::string& name) const;

  std::string path_;
  std::shared_ptr<Handle> handle_;
  uint64_t buffer_start_ = 0;
  std::map<std::string, Tensor> tensors_;
  std::vector<std::string> order_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace anetrain
