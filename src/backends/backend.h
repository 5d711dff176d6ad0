// The Backend interface: one method per fused kernel of kernels/kernel_table.h, each with the
// contract of kernels/kernels.h. A backend answers supports() honestly; the trainer asks
// before it starts and refuses to run rather than falling back to another backend.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/profiler.h"
#include "kernels/kernel_table.h"

// Declares (in Backend) or overrides (in a backend) every kernel's method,
// `void attention_forward(const KernelDims& d, const AttentionForwardArgs& a)` and so on.
#define ANETRAIN_KERNEL_METHOD(Id, name) \
  virtual void name(const KernelDims& d, const Id##Args& a) = 0;
#define ANETRAIN_KERNEL_OVERRIDE(Id, name) \
  void name(const KernelDims& d, const Id##Args& a) override;

namespace anetrain {

// What a run asks of its backend beyond the kernels, from the config keys of the same names
// (`anetrain help config`). A backend reads the fields that are its own and ignores the rest.
struct BackendOptions {
  std::string ane_pipeline = "dynamic";  // ANE: "dynamic" or "static"
  int compile_budget = 100;              // ANE static pipeline: compiles per process
  std::string ane_program_form = "proven";  // ANE: "proven" or "fused" (kernel_programs.h)
  int ane_surface_budget_mb = 16;           // ANE proven form: largest surface
  static BackendOptions from(const TrainConfig& train) {
    return {.ane_pipeline = train.ane_pipeline,
            .compile_budget = train.compile_budget,
            .ane_program_form = train.ane_program_form,
            .ane_surface_budget_mb = train.ane_surface_budget_mb};
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Whether this backend can run kernel k at these dimensions.
  virtual bool supports(Kernel k, const KernelDims& dims) const = 0;
  // True when kernels run off the CPU (the ANE): the host's weight-gradient GEMMs then run on
  // a host thread while the next kernels execute, as the seed overlaps them.
  virtual bool overlaps_host_work() const { return false; }
  // True when sdpa_backward1 must hand P and dP ([H, B, S, S]) to sdpa_backward2 (the ANE's
  // programs do). False lets a backend recompute them per head inside part 2, so attention
  // memory stays one S x S block per thread instead of H x B of them.
  virtual bool materializes_attention_probs() const { return true; }

  // Optional hooks; the defaults do nothing.
  // Before a run's first step: throws UserError when this backend cannot run `model` under its
  // options (e.g. a compile budget below what one step needs).
  virtual void prepare_run(const ModelConfig& model) { (void)model; }
  // Before every step but a process's first: why the process must checkpoint and restart
  // (exec itself with --resume) before that step, or "" to go on.
  virtual std::string restart_reason() const { return ""; }

  ANETRAIN_KERNELS(ANETRAIN_KERNEL_METHOD)

  // One kernel call as the trainer makes it: timed under the kernel's profiler row with the
  // FLOPs of its formula (kernels/kernel_table.h), then run by the method above.
  template <class Args>
  void run(const KernelDims& d, const Args& a) {
    constexpr Kernel k = kernel_of<Args>;
    ProfileScope scope(kernel_profile_row(k), kernel_flops(d, a));
    call(d, a);
  }

 private:
#define ANETRAIN_KERNEL_CALL(Id, name) \
  void call(const KernelDims& d, const Id##Args& a) { name(d, a); }
  ANETRAIN_KERNELS(ANETRAIN_KERNEL_CALL)
#undef ANETRAIN_KERNEL_CALL
};

// Creates a backend by name ("cpu", "ane"). Throws UserError naming the backend and the
// reason when it is unknown or unavailable on this machine; never substitutes another.
std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options = {});

// Throws UserError if `backend` does not support every kernel at `dims`.
void require_all_kernels(const Backend& backend, const KernelDims& dims);

}  // namespace anetrain
