#include "io/npy.h"

#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "core/fp16.h"
#include "io/atomic_file.h"

namespace anetrain {
namespace {

constexpr char kMagic[] = "\x93NUMPY";

[[noreturn]] void bad(const std::string& path, const std::string& why) {
  throw UserError(path + ": not a .npy array anetrain can read: " + why +
                  " (write it with numpy.save as float16/float32/float64, C order)");
}

// The value of `key` in the header dict, from its ':' to the next top-level ',' or '}'.
std::string header_value(const std::string& header, const std::string& key,
                         const std::string& path) {
  const size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) bad(path, "its header has no '" + key + "'");
  size_t begin = header.find(':', at);
  if (begin == std::string::npos) bad(path, "its header is malformed");
  ++begin;
  int depth = 0;
  size_t end = begin;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  const std::string value = header.substr(begin, end - begin);
  const size_t first = value.find_first_not_of(" '"), last = value.find_last_not_of(" '");
  return first == std::string::npos ? "" : value.substr(first, last - first + 1);
}

std::vector<int64_t> parse_shape(std::string text, const std::string& path) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')')
    bad(path, "its shape '" + text + "' is not a tuple");
  text = text.substr(1, text.size() - 2);
  std::vector<int64_t> shape;
  size_t at = 0;
  while (at < text.size()) {
    const size_t comma = text.find(',', at);
    const std::string item =
        text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    if (item.find_first_not_of(' ') != std::string::npos) {
      char* end = nullptr;
      const long long d = std::strtoll(item.c_str(), &end, 10);
      if (end == item.c_str() || d < 0) bad(path, "its shape '(" + text + ")' is not a tuple");
      shape.push_back(d);
    }
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return shape;
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  if (bytes.size() < 10 || bytes.compare(0, 6, kMagic, 6) != 0) bad(path, "no .npy magic");
  const auto u8 = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
  const int major = u8(6);
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = u8(8) | (u8(9) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad(path, "truncated header");
    header_len = u8(8) | (u8(9) << 8) | (u8(10) << 16) | (static_cast<size_t>(u8(11)) << 24);
    header_start = 12;
  } else {
    bad(path, "format version " + std::to_string(major) + " is unknown");
  }
  if (header_start + header_len > bytes.size()) bad(path, "truncated header");
  const std::string header = bytes.substr(header_start, header_len);
  const std::string descr = header_value(header, "descr", path);
  if (header_value(header, "fortran_order", path) != "False") bad(path, "it is in Fortran order");
  NpyArray a;
  a.shape = parse_shape(header_value(header, "shape", path), path);
  int64_t n = 1;
  for (int64_t d : a.shape) n *= d;
  size_t width = 0;
  if (descr == "<f2")
    width = 2;
  else if (descr == "<f4")
    width = 4;
  else if (descr == "<f8")
    width = 8;
  else
    bad(path, "its dtype '" + descr + "' is not float16, float32 or float64 (little-endian)");
  const size_t data = header_start + header_len;
  if (bytes.size() - data != static_cast<size_t>(n) * width)
    bad(path, "it holds " + std::to_string(bytes.size() - data) + " data bytes, its shape needs " +
                  std::to_string(static_cast<size_t>(n) * width));
  a.values.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const char* p = bytes.data() + data + i * width;
    if (width == 2) {
      uint16_t h;
      std::memcpy(&h, p, 2);
      a.values[i] = fp16_to_fp32(h);
    } else if (width == 4) {
      std::memcpy(&a.values[i], p, 4);
    } else {
      double d;
      std::memcpy(&d, p, 8);
      a.values[i] = static_cast<float>(d);
    }
  }
  return a;
}

void write_npy(const std::string& path, const std::vector<int64_t>& shape,
               const std::vector<float>& values, bool fp16) {
  std::string dims;  // Python tuple syntax: "()", "(3,)", "(2, 3)"
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string header = std::string("{'descr': '") + (fp16 ? "<f2" : "<f4") +
                       "', 'fortran_order': False, 'shape': (" + dims + "), }";
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  for (float v : values) {
    if (fp16) {
      const uint16_t h = fp32_to_fp16(v);
      out.append(reinterpret_cast<const char*>(&h), 2);
    } else {
      out.append(reinterpret_cast<const char*>(&v), 4);
    }
  }
  write_file_atomic(path, out.data(), out.size());
}

}  // namespace anetrain
