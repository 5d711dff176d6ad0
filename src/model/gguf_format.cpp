#include "model/gguf_format.h"

#include <algorithm>
#include <bit>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include "core/error.h"
#include "core/fp16.h"
#include "io/atomic_file.h"

namespace anetrain::gguf {

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian and is read and written byte for byte");

namespace {

constexpr uint32_t kVersion = 3;
constexpr uint32_t kMaxDims = 4;         // ggml's
constexpr int kMaxArrayNesting = 4;      // arrays of arrays: GGUF allows them, nothing uses more
constexpr uint32_t kLastValueType = 12;  // kFloat64

uint64_t align_up(uint64_t n, uint64_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

uint64_t element_bytes(TensorType type) { return type == TensorType::kF32 ? 4 : 2; }

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string value_type_name(ValueType type) {
  static const char* const kNames[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                       "int32",  "float32", "bool",   "string", "array",
                                       "uint64", "int64",   "float64"};
  const auto t = static_cast<uint32_t>(type);
  return t <= kLastValueType ? kNames[t] : "value type " + std::to_string(t);
}

// ggml's names of the tensor types anetrain does not read, for the message refusing them.
std::string ggml_type_name(uint32_t type) {
  switch (type) {
    case 2:
      return "Q4_0";
    case 3:
      return "Q4_1";
    case 6:
      return "Q5_0";
    case 7:
      return "Q5_1";
    case 8:
      return "Q8_0";
    case 9:
      return "Q8_1";
    case 10:
      return "Q2_K";
    case 11:
      return "Q3_K";
    case 12:
      return "Q4_K";
    case 13:
      return "Q5_K";
    case 14:
      return "Q6_K";
    case 15:
      return "Q8_K";
    case 24:
      return "I8";
    case 25:
      return "I16";
    case 26:
      return "I32";
    case 27:
      return "I64";
    case 28:
      return "F64";
    case 30:
      return "BF16";
    default:
      return "ggml type " + std::to_string(type);
  }
}

// Reads the header part of a file, never past its end.
// Keys and tensor names come from the file: a message shows their control bytes as '?', so it
// stays one line.
std::string one_line(std::string text) {
  for (char& ch : text)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = '?';
  return text;
}

// The fewest bytes a value of `type` takes in the file.
uint64_t min_value_bytes(ValueType type) {
  switch (type) {
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
    case ValueType::kString:  // its length
      return 8;
    case ValueType::kArray:  // element type and count
      return 12;
    default:
      return 1;
  }
}

class Cursor {
 public:
  Cursor(const std::string& path, std::ifstream& in, uint64_t size)
      : path_(path), in_(in), size_(size) {}

  [[noreturn]] void fail(const std::string& problem) const {
    throw UserError("'" + path_ + "' " + one_line(problem));
  }
  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  [[noreturn]] void truncated() const {
    fail("is truncated: its GGUF header runs past the end of the file (" + std::to_string(size_) +
         " bytes)");
  }

  void read(void* out, uint64_t n) {
    if (n > remaining()) truncated();
    in_.read(static_cast<char*>(out), static_cast<std::streamsize>(n));
    if (!in_) fail("could not be read (an I/O error at byte " + std::to_string(pos_) + ")");
    pos_ += n;
  }
  template <class T>
  T get() {
    T value;
    read(&value, sizeof value);
    return value;
  }
  // An integer of type T, widened as Value::integer holds it.
  template <class T>
  uint64_t widened() {
    using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
    return static_cast<uint64_t>(static_cast<Wide>(get<T>()));
  }
  std::string string() {
    const uint64_t n = get<uint64_t>();
    if (n > remaining()) truncated();
    std::string s(n, '\0');
    read(s.data(), n);
    return s;
  }

 private:
  const std::string& path_;
  std::ifstream& in_;
  uint64_t size_, pos_ = 0;
};

Value read_value(Cursor& c, ValueType type, const std::string& key, int nesting) {
  Value v;
  v.type = type;
  switch (type) {
    case ValueType::kUint8:
      v.integer = c.widened<uint8_t>();
      break;
    case ValueType::kInt8:
      v.integer = c.widened<int8_t>();
      break;
    case ValueType::kUint16:
      v.integer = c.widened<uint16_t>();
      break;
    case ValueType::kInt16:
      v.integer = c.widened<int16_t>();
      break;
    case ValueType::kUint32:
      v.integer = c.widened<uint32_t>();
      break;
    case ValueType::kInt32:
      v.integer = c.widened<int32_t>();
      break;
    case ValueType::kUint64:
      v.integer = c.widened<uint64_t>();
      break;
    case ValueType::kInt64:
      v.integer = c.widened<int64_t>();
      break;
    case ValueType::kFloat32:
      v.real = c.get<float>();
      break;
    case ValueType::kFloat64:
      v.real = c.get<double>();
      break;
    case ValueType::kBool:
      v.integer = c.widened<uint8_t>();
      if (v.integer > 1) c.fail("has metadata '" + key + "': a bool that is neither 0 nor 1");
      break;
    case ValueType::kString:
      v.text = c.string();
      break;
    case ValueType::kArray: {
      if (nesting == kMaxArrayNesting)
        c.fail("has metadata '" + key + "' with arrays nested more than " +
               std::to_string(kMaxArrayNesting) + " deep");
      v.element_type = static_cast<ValueType>(c.get<uint32_t>());
      const uint64_t count = c.get<uint64_t>();
      if (static_cast<uint32_t>(v.element_type) > kLastValueType)
        c.fail("has metadata '" + key + "': an array of unknown " +
               value_type_name(v.element_type));
      // Checked before reserving: a Value is far larger than the bytes it is read from.
      if (count > c.remaining() / min_value_bytes(v.element_type)) c.truncated();
      v.items.reserve(count);
      for (uint64_t i = 0; i < count; ++i)
        v.items.push_back(read_value(c, v.element_type, key, nesting + 1));
      break;
    }
    default:
      c.fail("has metadata '" + key + "' of unknown " + value_type_name(type));
  }
  return v;
}

}  // namespace

bool Value::is_integer() const {
  return type != ValueType::kFloat32 && type != ValueType::kFloat64 && type != ValueType::kString &&
         type != ValueType::kArray;
}

bool Value::is_signed() const {
  return type == ValueType::kInt8 || type == ValueType::kInt16 || type == ValueType::kInt32 ||
         type == ValueType::kInt64;
}

int64_t TensorInfo::numel() const { return numel_of(shape); }

// ---- Writer ----

namespace {

template <class T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

template <class T>
void put_array(std::string& out, ValueType element, const std::vector<T>& values) {
  put<uint32_t>(out, static_cast<uint32_t>(element));
  put<uint64_t>(out, values.size());
  for (const T& v : values) {
    if constexpr (std::is_same_v<T, std::string>)
      put_string(out, v);
    else
      put<T>(out, v);
  }
}

}  // namespace

void Writer::key(const std::string& key, ValueType type) {
  put_string(kv_, key);
  put<uint32_t>(kv_, static_cast<uint32_t>(type));
  ++kv_count_;
}

void Writer::add_string(const std::string& k, const std::string& value) {
  key(k, ValueType::kString);
  put_string(kv_, value);
}

void Writer::add_uint32(const std::string& k, uint32_t value) {
  key(k, ValueType::kUint32);
  put<uint32_t>(kv_, value);
}

void Writer::add_float32(const std::string& k, float value) {
  key(k, ValueType::kFloat32);
  put<float>(kv_, value);
}

void Writer::add_strings(const std::string& k, const std::vector<std::string>& values) {
  key(k, ValueType::kArray);
  put_array(kv_, ValueType::kString, values);
}

void Writer::add_float32s(const std::string& k, const std::vector<float>& values) {
  key(k, ValueType::kArray);
  put_array(kv_, ValueType::kFloat32, values);
}

void Writer::add_int32s(const std::string& k, const std::vector<int32_t>& values) {
  key(k, ValueType::kArray);
  put_array(kv_, ValueType::kInt32, values);
}

void Writer::add_tensor(const std::string& name, const std::vector<int64_t>& shape, TensorType type,
                        const float* data) {
  for (const Tensor& t : tensors_) ANETRAIN_CHECK(t.name != name, "GGUF tensor " + name + " twice");
  ANETRAIN_CHECK(!shape.empty() && shape.size() <= kMaxDims, name);
  tensors_.push_back({name, shape, type, data});
}

void Writer::write(const std::string& path) const {
  std::string head = "GGUF";
  put<uint32_t>(head, kVersion);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_count_);
  head += kv_;
  std::vector<uint64_t> bytes;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.shape.size()));
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) put<uint64_t>(head, *d);
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    bytes.push_back(numel_of(t.shape) * element_bytes(t.type));
    offset = align_up(offset + bytes.back(), kAlignment);
  }
  head.resize(align_up(head.size(), kAlignment), '\0');

  write_file_atomic(path, [&](std::FILE* f) {
    static constexpr char kZeros[kAlignment] = {};
    std::fwrite(head.data(), 1, head.size(), f);
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const Tensor& t = tensors_[i];
      const uint64_t n = bytes[i] / element_bytes(t.type);
      if (t.type == TensorType::kF32) {
        std::fwrite(t.data, sizeof(float), n, f);
      } else {
        std::vector<uint16_t> half(n);
        for (uint64_t k = 0; k < n; ++k) half[k] = fp32_to_fp16(t.data[k]);
        std::fwrite(half.data(), sizeof(uint16_t), n, f);
      }
      std::fwrite(kZeros, 1, align_up(bytes[i], kAlignment) - bytes[i], f);
    }
  });
}

// ---- File ----

File File::open(const std::string& path) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  if (ec || !in) throw UserError("cannot read '" + path + "': no such file or not readable");
  Cursor c(path, in, size);
  char magic[4] = {};
  if (size < sizeof magic) c.fail("is not a GGUF file (shorter than its 4-byte magic \"GGUF\")");
  c.read(magic, sizeof magic);
  if (std::string(magic, sizeof magic) != "GGUF")
    c.fail("is not a GGUF file (it does not start with \"GGUF\")");
  const uint32_t version = c.get<uint32_t>();
  if (version != kVersion)
    c.fail("is GGUF version " + std::to_string(version) +
           "; anetrain reads version 3 (current llama.cpp converts older files)");
  const uint64_t tensor_count = c.get<uint64_t>();
  const uint64_t kv_count = c.get<uint64_t>();
  // Each key/value and each tensor info takes more than 8 bytes.
  if (tensor_count > c.remaining() / 8 || kv_count > c.remaining() / 8)
    c.fail("is truncated or damaged: its header announces " + std::to_string(tensor_count) +
           " tensors and " + std::to_string(kv_count) + " keys, more than the file can hold");

  File file;
  file.path_ = path;
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key = c.string();
    const auto type = static_cast<ValueType>(c.get<uint32_t>());
    Value value = read_value(c, type, key, 0);
    if (!file.metadata_.emplace(key, std::move(value)).second)
      c.fail("has the metadata key '" + key + "' twice");
  }
  uint64_t alignment = kAlignment;
  if (auto it = file.metadata_.find("general.alignment"); it != file.metadata_.end()) {
    alignment = it->second.integer;
    if (it->second.type != ValueType::kUint32 || alignment == 0 || !std::has_single_bit(alignment))
      c.fail("has general.alignment " + std::to_string(alignment) + " (" +
             value_type_name(it->second.type) + "); GGUF wants a uint32 power of two");
  }

  for (uint64_t i = 0; i < tensor_count; ++i) {
    TensorInfo t;
    t.name = c.string();
    if (file.find_tensor(t.name)) c.fail("has two tensors named '" + t.name + "'");
    const uint32_t n_dims = c.get<uint32_t>();
    if (n_dims == 0 || n_dims > kMaxDims)
      c.fail("has tensor '" + t.name + "' with " + std::to_string(n_dims) +
             " dimensions (GGUF allows 1 to 4)");
    t.shape.assign(n_dims, 0);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = c.get<uint64_t>();
      if (dim == 0 || dim > size / numel)
        c.fail("has tensor '" + t.name + "' of a dimension " + std::to_string(dim) +
               " that does not fit the file");
      numel *= dim;
      t.shape[n_dims - 1 - d] = static_cast<int64_t>(dim);
    }
    const uint32_t type = c.get<uint32_t>();
    if (type > static_cast<uint32_t>(TensorType::kF16))
      c.fail("has tensor '" + t.name + "' of type " + ggml_type_name(type) +
             "; anetrain reads F32 and F16 tensors only");
    t.type = static_cast<TensorType>(type);
    t.offset = c.get<uint64_t>();
    t.bytes = numel * element_bytes(t.type);
    file.tensors_.push_back(std::move(t));
  }

  file.data_start_ = align_up(c.pos(), alignment);
  const uint64_t data_size = size > file.data_start_ ? size - file.data_start_ : 0;
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : file.tensors_) {
    if (t.offset % alignment != 0)
      c.fail("has tensor '" + t.name + "' at offset " + std::to_string(t.offset) +
             ", which is not a multiple of the alignment " + std::to_string(alignment));
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      c.fail("is truncated or damaged: tensor '" + t.name + "' (" + std::to_string(t.bytes) +
             " bytes at offset " + std::to_string(t.offset) + ") ends past the end of the file");
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1]->offset + by_offset[i - 1]->bytes > by_offset[i]->offset)
      c.fail("is damaged: tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
             "' overlap");
  return file;
}

const TensorInfo* File::find_tensor(const std::string& name) const {
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

[[noreturn]] void wrong_type(const std::string& path, const std::string& key, const Value& v,
                             const std::string& expected) {
  throw UserError("'" + path + "': metadata '" + one_line(key) + "' is a " +
                  value_type_name(v.type) + ", expected " + expected);
}

}  // namespace

std::optional<uint64_t> File::uint(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) return std::nullopt;
  const Value& v = it->second;
  if (!v.is_integer() || v.type == ValueType::kBool) wrong_type(path_, key, v, "an integer");
  if (v.is_signed() && static_cast<int64_t>(v.integer) < 0)
    throw UserError("'" + path_ + "': metadata '" + key + "' is negative (" +
                    std::to_string(static_cast<int64_t>(v.integer)) + ")");
  return v.integer;
}

std::optional<double> File::real(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) return std::nullopt;
  const Value& v = it->second;
  if (v.type != ValueType::kFloat32 && v.type != ValueType::kFloat64)
    wrong_type(path_, key, v, "a float32 or float64");
  return v.real;
}

std::optional<std::string> File::string(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) return std::nullopt;
  if (it->second.type != ValueType::kString) wrong_type(path_, key, it->second, "a string");
  return it->second.text;
}

void File::read_f32(const TensorInfo& t, float* out) const {
  std::ifstream in(path_, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(data_start_ + t.offset));
  const int64_t n = t.numel();
  if (t.type == TensorType::kF32) {
    in.read(reinterpret_cast<char*>(out), static_cast<std::streamsize>(t.bytes));
  } else {
    std::vector<uint16_t> half(n);
    in.read(reinterpret_cast<char*>(half.data()), static_cast<std::streamsize>(t.bytes));
    for (int64_t i = 0; i < n; ++i) out[i] = fp16_to_fp32(half[i]);
  }
  if (!in)
    throw UserError("'" + path_ + "' could not be read at tensor '" + t.name +
                    "' (was it truncated while in use?)");
}

}  // namespace anetrain::gguf
