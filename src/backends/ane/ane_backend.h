// The ANE backend: the training step's kernels as ANE programs (programs/kernel_programs.h),
// dynamic pipeline — each program built and compiled once per shape, the current fp32 weights
// converted to fp16 and staged into the input surface at every dispatch — dispatched through an
// AneDriver (runtime/driver.h): Apple's framework on a Mac, or the fake driver, which runs the
// programs in the fp16 interpreter while enforcing the hardware's rules.
//
// Split of work, as in the seed: the ANE runs attention/FFN forward, FFN backward, both SDPA
// backward parts and QKV backward, one sequence per dispatch, each kernel as the plan of
// programs its form prescribes (kernel_programs.h; proven by default). The classifier and its
// loss, RMSNorm's rms_inv tap, the forward RMSNorm itself in the proven form, and the Wo^T dy
// product of sdpa_backward1 in the fused form are computed on the host CPU by design (they are
// host work in the seed too), not as a fallback. The lse tap is not produced: this backend's
// sdpa_backward1 recomputes P from q and k on the ANE.
//
// LoRA adapters (kernels.h LoraAdapter) run inside the programs, their values in the input
// surface in both pipelines (kernel_programs.h), so changing them never recompiles; a static
// program over a frozen base is compiled once and found again every step.
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
  // recompiles whenever the weights change, so a run restarts before its compile budget);
  // options.ane_program_form and ane_surface_budget_mb: how the programs are written.
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
  const ProgramOptions& program_options() const { return options_; }
  // Compiles one static-pipeline step needs at most, for a model of n_layers blocks of the
  // shape prepare_run saw: one per program with weights per block, plus the programs without
  // weights once (their text never changes).
  int64_t compiles_per_step(int n_layers) const {
    return weighted_programs_ * n_layers + unweighted_programs_;
  }

 private:
  // Kernel arguments bound to the program's slots by name (a slot's order and channels are the
  // program's business); nullptr outputs are discarded. Every slot must be bound, and nothing
  // else.
  using Inputs = std::map<std::string, const float*>;
  using Outputs = std::map<std::string, float*>;
  struct LoadedPlan {
    KernelPlan plan;
    std::vector<int64_t> handles;  // one per part
  };
  // Runs kernel k's plan with the given weights once per sequence.
  // LoRA adapters in `w` bind their own slots (dropout masks, forward taps).
  void run_kernel(const KernelDims& d, Kernel k, const BlockWeights& w, Inputs inputs,
                  Outputs outputs);
  // The loaded plan for these weights, compiling its parts when needed. Dynamic: built and
  // compiled once per program_key(k, d), then only its surface weights are refreshed. Static:
  // rebuilt with the weights baked in, each part compiled the first time its text is seen.
  LoadedPlan& load_plan(const KernelDims& d, Kernel k, const BlockWeights& w);
  int64_t compile(const std::string& name, const std::string& text, const std::string& weights);
  std::vector<float> evaluate(const KernelProgram& part, int64_t handle,
                              const std::map<std::string, std::vector<float>>& slots);

  std::unique_ptr<AneDriver> driver_;
  std::string pipeline_;
  int compile_budget_;
  ProgramOptions options_;
  int n_layers_ = 0;  // of the run (prepare_run); 0 before one
  int64_t weighted_programs_ = 0, unweighted_programs_ = 0;  // per block (prepare_run)
  cpu::CpuBackend host_;
  // Dynamic pipeline: program_key(kernel, dims) -> plan and its handles.
  std::map<ProgramKey, LoadedPlan> dynamic_plans_;
  // Static pipeline: MIL text + weight file -> loaded program, least recently used first; the
  // plan last built (what the current dispatch packs); each shape's head grouping, found once.
  LoadedPlan static_plan_;
  std::map<std::string, int64_t> compiled_;
  std::vector<std::string> compiled_order_;
  std::map<ProgramKey, int64_t> group_heads_;
};

}  // namespace anetrain::ane
