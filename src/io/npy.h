// NumPy's .npy format (version 1.0 written; 1.0, 2.0 and 3.0 read), for tensors exchanged with
// numpy and PyTorch users: the magic "\x93NUMPY", a version, a header length, then an ASCII
// Python dict {'descr': '<f4', 'fortran_order': False, 'shape': (1, 64, 1, 32), } padded with
// spaces and a newline so the data starts at a multiple of 64, then the data in C order.
// Read: little-endian float16, float32 or float64, C order; anything else is a one-line
// UserError naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace anetrain {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> values;  // numel(shape) values, C order
};

NpyArray read_npy(const std::string& path);
// Writes `values` as '<f2' (fp16 = true, rounded to nearest even) or '<f4', atomically.
void write_npy(const std::string& path, const std::vector<int64_t>& shape,
               const std::vector<float>& values, bool fp16);

}  // namespace anetrain
