// The Backend interface: one slot per fused kernel (kernels/kernels.h), each with the
// contract written there. A backend answers supports() honestly; the trainer asks before it
// starts and refuses to run rather than falling back to another backend.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace anetrain {

// What a run asks of its backend beyond the kernels, from the config keys of the same names
// (`anetrain help config`). A backend reads the fields that are its own and ignores the rest.
struct BackendOptions {
  std::string ane_pipeline = "dynamic";  // ANE: "dynamic" or "static"
  int compile_budget = 100;              // ANE static pipeline: compiles per process
  static BackendOptions from(const TrainConfig& train) {
    return {.ane_pipeline = train.ane_pipeline, .compile_budget = train.compile_budget};
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

  virtual void attention_forward(const KernelDims& d, const AttentionForwardArgs& a) = 0;
  virtual void ffn_forward(const KernelDims& d, const FfnForwardArgs& a) = 0;
  virtual void ffn_backward(const KernelDims& d, const FfnBackwardArgs& a) = 0;
  virtual void sdpa_backward1(const KernelDims& d, const SdpaBackward1Args& a) = 0;
  virtual void sdpa_backward2(const KernelDims& d, const SdpaBackward2Args& a) = 0;
  virtual void qkv_backward(const KernelDims& d, const QkvBackwardArgs& a) = 0;
  virtual void classifier_loss(const KernelDims& d, const ClassifierLossArgs& a) = 0;
};

// Creates a backend by name ("cpu", "ane"). Throws UserError naming the backend and the
// reason when it is unknown or unavailable on this machine; never substitutes another.
std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options = {});

// Throws UserError if `backend` does not support every kernel at `dims`.
void require_all_kernels(const Backend& backend, const KernelDims& dims);

}  // namespace anetrain
