// .npy files: our writer's arrays load in numpy with their shape, dtype and values, numpy's
// arrays (float16/32/64, any rank) read back, and what we cannot read is a one-line error
// naming the file.
#include "io/npy.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "core/error.h"
#include "core/fp16.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

int python(const std::string& code) {
  const std::string command = "/usr/bin/python3 -c \"" + code + "\"";
  return std::system(command.c_str());
}

TEST(Npy, RoundTripsAndMeetsNumpy) {
  TempDir dir;
  const std::vector<float> values = {1.0f, -2.5f, 3.14159f, 1e-3f, 65504.0f, 0.0f};
  write_npy(dir.file("f4.npy"), {2, 3}, values, false);
  write_npy(dir.file("f2.npy"), {6}, values, true);
  const NpyArray f4 = read_npy(dir.file("f4.npy")), f2 = read_npy(dir.file("f2.npy"));
  EXPECT_EQ(f4.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f4.values, values);
  EXPECT_EQ(f2.shape, (std::vector<int64_t>{6}));
  for (size_t i = 0; i < values.size(); ++i)
    EXPECT_EQ(f2.values[i], fp16_to_fp32(fp32_to_fp16(values[i])));
  // numpy reads ours, and writes what we read.
  ASSERT_EQ(python("import numpy as np; a = np.load('" + dir.file("f4.npy") +
                   "'); assert a.dtype == np.float32 and a.shape == (2, 3) and a[1, 1] == 65504; "
                   "b = np.load('" +
                   dir.file("f2.npy") +
                   "'); assert b.dtype == np.float16 and b.shape == (6,); "
                   "np.save('" +
                   dir.file("np64.npy") +
                   "', np.arange(24, dtype=np.float64).reshape(1, 2, 3, 4) / 8); "
                   "np.save('" +
                   dir.file("np0.npy") + "', np.float32(7))"),
            0);
  const NpyArray np64 = read_npy(dir.file("np64.npy"));
  EXPECT_EQ(np64.shape, (std::vector<int64_t>{1, 2, 3, 4}));
  ASSERT_EQ(np64.values.size(), 24u);
  EXPECT_EQ(np64.values[23], 23.0f / 8);
  const NpyArray scalar = read_npy(dir.file("np0.npy"));
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(scalar.values, std::vector<float>{7.0f});
}

TEST(Npy, WhatItCannotReadIsAOneLineError) {
  TempDir dir;
  ASSERT_EQ(python("import numpy as np; np.save('" + dir.file("int.npy") +
                   "', np.arange(4, dtype=np.int32)); np.save('" + dir.file("fortran.npy") +
                   "', np.asfortranarray(np.ones((2, 3), dtype=np.float32)))"),
            0);
  std::ofstream(dir.file("text.npy")) << "not an array";
  write_npy(dir.file("short.npy"), {4}, {1, 2, 3, 4}, false);
  std::string bytes = read_bytes(dir.file("short.npy"));
  std::ofstream(dir.file("short.npy"), std::ios::binary) << bytes.substr(0, bytes.size() - 2);
  for (const auto& [file, why] :
       std::vector<std::pair<std::string, std::string>>{{"int.npy", "dtype '<i4'"},
                                                        {"fortran.npy", "Fortran order"},
                                                        {"text.npy", "no .npy magic"},
                                                        {"short.npy", "data bytes"}}) {
    const std::string message = user_error_of([&] { read_npy(dir.file(file)); });
    EXPECT_NE(message.find(dir.file(file)), std::string::npos) << message;
    EXPECT_NE(message.find(why), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace anetrain
