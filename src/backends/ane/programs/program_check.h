// Verifies the ANE kernel programs: each kernel's plan (all its parts, plan_runner.h) runs in
// the fp16 reference interpreter (mil/interpreter.h), or through an ANE driver, on realistic
// inputs — the CPU backend's own activations of a random block (backends/kernel_calls.h) — and
// the kernel's outputs are compared with the CPU backend's fp32 kernel, tensor by tensor,
// within the kernel's tolerance (ane_kernel(k).tolerance).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "backends/kernel_calls.h"
#include "model/config.h"

namespace anetrain::ane {

struct SlotError {
  std::string slot;
  double max_abs = 0, max_ref = 0;  // max |ane - cpu| and max |cpu|
  double relative() const { return max_ref > 0 ? max_abs / max_ref : max_abs; }
};

struct KernelCheck {
  std::string kernel, variant, form;
  int64_t parts = 0, ops = 0;  // programs in the kernel's plan, and their ops together
  std::vector<SlotError> slots;
  double tolerance = 0;  // on the worst slot's max_abs / max|cpu| (ane_kernel(k).tolerance)
  double compile_ms = 0, evaluate_ms = 0;  // through a driver only (compile includes load)
  const SlotError& worst() const;
  bool passed() const { return worst().relative() <= tolerance; }
};

struct KernelProgram;
// The input surface exactly as the runtime packs it: each activation slot at its position
// (KernelProgram::input_positions), and (dynamic variant) each weight's M in its column range;
// zeros elsewhere.
std::vector<float> pack_input_surface(const KernelProgram& program,
                                      const std::map<std::string, std::vector<float>>& values);

class AneDriver;
struct ProgramOptions;
// Evaluates a loaded program through `driver`: the input slots packed and rounded to fp16, the
// output surface back as float. Driver errors propagate (DriverError).
std::vector<float> evaluate_program(AneDriver& driver, int64_t handle, const KernelProgram& program,
                                    const std::map<std::string, std::vector<float>>& values);

// With `driver`, each program is compiled, loaded and evaluated through it (as on a Mac through
// the framework driver) instead of in the interpreter directly. With lora.rank > 0 the kernels
// that take LoRA adapters get them (backends/kernel_calls.h), on the ANE and the CPU alike, and
// their taps are compared too.
std::vector<KernelCheck> check_kernel_programs(const ModelConfig& config,
                                               const ProgramOptions& options, uint64_t seed = 1,
                                               AneDriver* driver = nullptr,
                                               const CallLora& lora = {});

}  // namespace anetrain::ane
