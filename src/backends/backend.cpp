#include "backends/backend.h"

#include "backends/ane/ane_backend.h"
#include "backends/cpu/cpu_backend.h"
#include "core/error.h"

namespace anetrain {

std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& options) {
  if (name == "cpu") return std::make_unique<cpu::CpuBackend>();
  if (name == "ane") return ane::make_ane_backend(options);
  throw UserError("unknown backend '" + name + "': use cpu or ane");
}

void require_all_kernels(const Backend& backend, const KernelDims& dims) {
  for (Kernel k : kAllKernels) {
    if (!backend.supports(k, dims))
      throw UserError("backend '" + backend.name() + "' does not support kernel " + kernel_name(k) +
                      " at these dimensions; use --backend cpu");
  }
}

}  // namespace anetrain
