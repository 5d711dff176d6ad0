// The GGUF container (version 3), llama.cpp's single-file model format, as a container only:
// what the tensors and keys mean for a Llama model is model/weights_gguf.cpp's business.
//
//   "GGUF", uint32 version 3, uint64 tensor count, uint64 key/value count
//   key/value pairs: key (uint64 length + bytes), uint32 value type, value
//   tensor infos: name, uint32 n_dims, uint64 dims (fastest-varying first), uint32 ggml type,
//                 uint64 offset into the data section
//   padding to the alignment, then the data section: every tensor at an aligned offset
//
// All little-endian (anetrain builds for little-endian hosts only). Strings carry no
// terminator. The writer writes F32 and F16 tensors aligned to kAlignment; the reader reads
// those and reports anything else (another version, quantized tensors, a truncated file,
// offsets out of range, misaligned or overlapping) as a one-line UserError naming the file.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace anetrain::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// The ggml tensor types anetrain reads and writes.
enum class TensorType : uint32_t { kF32 = 0, kF16 = 1 };

// The alignment the writer uses (and records as general.alignment); also GGUF's default.
inline constexpr uint32_t kAlignment = 32;

// One metadata value as read.
struct Value {
  ValueType type = ValueType::kUint32;
  // Integers and bools: unsigned types zero-extended, signed ones sign-extended (so a negative
  // int64 reads as its two's complement).
  uint64_t integer = 0;
  double real = 0;                             // kFloat32, kFloat64
  std::string text;                            // kString
  ValueType element_type = ValueType::kUint8;  // kArray
  std::vector<Value> items;                    // kArray

  bool is_integer() const;
  bool is_signed() const;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // row-major (numpy order): GGUF's dims reversed
  TensorType type = TensorType::kF32;
  uint64_t offset = 0;  // into the data section
  uint64_t bytes = 0;
  int64_t numel() const;
};

class Writer {
 public:
  void add_string(const std::string& key, const std::string& value);
  void add_uint32(const std::string& key, uint32_t value);
  void add_float32(const std::string& key, float value);
  void add_strings(const std::string& key, const std::vector<std::string>& values);
  void add_float32s(const std::string& key, const std::vector<float>& values);
  void add_int32s(const std::string& key, const std::vector<int32_t>& values);
  // `data` (numel(shape) floats, row-major) is borrowed until write() returns; F16 rounds to
  // nearest even (core/fp16.h).
  void add_tensor(const std::string& name, const std::vector<int64_t>& shape, TensorType type,
                  const float* data);
  // Atomically replaces `path` (io/atomic_file.h). Throws UserError naming the path.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    TensorType type;
    const float* data;
  };
  void key(const std::string& key, ValueType type);
  std::string kv_;  // the key/value pairs, serialized
  uint64_t kv_count_ = 0;
  std::vector<Tensor> tensors_;
};

class File {
 public:
  // Reads and checks the header, every key/value and every tensor info (tensor data is read on
  // demand). Throws UserError naming the path for a missing or malformed file.
  static File open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, Value>& metadata() const { return metadata_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(const std::string& name) const;

  // A key's value, or nothing when the key is absent. A value of another type is a UserError
  // naming the file and key. uint() takes any integer type that holds a non-negative value;
  // real() takes float32 or float64.
  std::optional<uint64_t> uint(const std::string& key) const;
  std::optional<double> real(const std::string& key) const;
  std::optional<std::string> string(const std::string& key) const;

  // Reads a tensor's numel() elements as floats into `out`.
  void read_f32(const TensorInfo& tensor, float* out) const;

 private:
  std::string path_;
  std::map<std::string, Value> metadata_;
  std::vector<TensorInfo> tensors_;
  uint64_t data_start_ = 0;
};

}  // namespace anetrain::gguf
