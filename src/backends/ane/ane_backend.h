// The ANE backend: the training step's kernels as ANE programs (programs/kernel_programs.h),
// dynamic pipeline — each program built and compiled once per shape, the current fp32 weights
// converted to fp16 and staged into the input surface at every dispatch — dispatched through an
// AneDriver (runtime/driver.h): Apple's framework on a Mac, or the fake driver, which runs the
// programs in the fp16 interpreter while enforcing the hardware's rules.
//
// Split of work, as in the seed: the ANE runs attention/FFN forward, FFN backward, both SDPA
// backward parts and QKV backward, one sequence per dispatch. The classifier and its loss,
// RMSNorm's rms_inv tap and the Wo^T dy product of sdpa_backward1 are computed on the host
// CPU by design (they are host work in the seed too), not as a fallback. The lse tap is not
// produced: this backend's sdpa_backward1 recomputes P from q and k on the ANE.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "backends/ane/program_key.h"
#include "backends/ane/programs/kernel_programs.h"
#include "backends/ane/runtime/driver.h"
#include "backends/backend.h"
#include "backends/cpu/cpu_backend.h"

namespace anetrain::ane {

// "ane": Apple's framework where available; with ANETRAIN_ANE_DRIVER=fake in the environment,
// the fake driver (for running the real orchestration on Linux; documented in the README).
// Throws UserError("ANE backend unavailable: <reason>; use --backend cpu") otherwise.
std::unique_ptr<Backend> make_ane_backend(const BackendOptions& options = {});

class AneBackend final : public Backend {
 public:
  // options.ane_pipeline: "dynamic" (compile once per shape) or "static" (weights baked:
  // recompiles whenever the weights change, so a run restarts before its compile budget).
  explicit AneBackend(std::unique_ptr<AneDriver> driver, BackendOptions options = {});
  std::string name() const override { return "ane"; }
  bool supports(Kernel k, const KernelDims& dims) const override;
  bool overlaps_host_work() const override { return true; }
  // Static pipeline: refuses a budget below one step's compiles.
  void prepare_run(const ModelConfig& model) override;
  // Static pipeline: restart when the next step's compiles would cross the budget.
  std::string restart_reason() const override;

  ANETRAIN_KERNELS(ANETRAIN_KERNEL_OVERRIDE)

  AneDriver& driver() { return *driver_; }
  const std::string& pipeline() const { return pipeline_; }
  // Compiles one training step needs at most, for a model of n_layers blocks (static
  // pipeline: one per program per block; dynamic: one per program per shape, once).
  int64_t compiles_per_step(int n_layers) const {
    return static_cast<int64_t>(ane_program_kernels().size()) * n_layers;
  }

 private:
  // Kernel arguments bound to the program's slots by name (a slot's order and channels are the
  // program's business); nullptr outputs are discarded. Every slot must be bound, and nothing
  // else.
  using Inputs = std::map<std::string, const float*>;
  using Outputs = std::map<std::string, float*>;
  // Runs kernel k's program with the given weights once per sequence.
  void run_program(const KernelDims& d, Kernel k, const BlockWeights& w, const Inputs& inputs,
                   const Outputs& outputs);
  // The loaded program for these weights, compiling it when needed; sets *handle. Dynamic:
  // built and compiled once per program_key(k, d), then only its surface weights are refreshed.
  // Static: rebuilt with the weights baked in, compiled the first time its text is seen.
  const KernelProgram& load_program(const KernelDims& d, Kernel k, const BlockWeights& w,
                                    int64_t* handle);
  int64_t compile(Kernel k, const std::string& text, const std::string& weights);

  struct LoadedProgram {
    KernelProgram program;
    int64_t handle;
  };

  std::unique_ptr<AneDriver> driver_;
  std::string pipeline_;
  int compile_budget_;
  int n_layers_ = 0;  // of the run (prepare_run); 0 before one
  cpu::CpuBackend host_;
  // Dynamic pipeline: program_key(kernel, dims) -> program and its handle.
  std::map<ProgramKey, LoadedProgram> dynamic_programs_;
  // Static pipeline: MIL text + weight file -> loaded program, oldest first; the program last
  // built (what the current dispatch packs).
  KernelProgram static_program_;
  std::map<std::string, int64_t> compiled_;
  std::vector<std::string> compiled_order_;
};

}  // namespace anetrain::ane
