// The driver seam: the few operations the ANE runtime needs from Apple's private
// AppleNeuralEngine framework (../shared/reference/ane.md, "The private API call sequence"),
// behind one interface. On a Mac the framework driver implements it; in tests the fake driver
// (fake_driver.h) implements it with the MIL interpreter and enforces the hardware's known rules,
// so the runtime's real orchestration code runs end to end on Linux.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace anetrain::ane {

// An IOSurface-like buffer: dense packed fp16 values of a [1, C, 1, W] tensor.
struct Surface {
  int64_t channels = 0, width = 0;
  std::vector<uint16_t> fp16;  // channels * width values
  int64_t bytes() const { return channels * width * 2; }
};

// A failure reported by the driver, with the framework's error code where it has one.
class DriverError : public std::runtime_error {
 public:
  DriverError(const std::string& what, int code = 0) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

class AneDriver {
 public:
  virtual ~AneDriver() = default;
  virtual std::string name() const = 0;
  // Compiles MIL text with its weight files ("@model_path/weights/x.bin" -> bytes) and loads
  // the result; returns a handle. Throws DriverError (e.g. when the per-process compile budget
  // is spent).
  virtual int64_t compile_and_load(const std::string& mil_text,
                                   const std::map<std::string, std::string>& weight_files) = 0;
  // Runs a loaded program synchronously. Inputs and outputs are given in the order the
  // program's function declares them.
  virtual void evaluate(int64_t program, const std::vector<const Surface*>& inputs,
                        const std::vector<Surface*>& outputs) = 0;
  virtual void unload(int64_t program) = 0;
  // Compiles this process has done so far.
  virtual int64_t compiles() const = 0;
};

}  // namespace anetrain::ane
