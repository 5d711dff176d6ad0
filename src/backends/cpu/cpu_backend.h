// The CPU backend: every kernel of kernels/kernels.h in fp32, GEMMs through core/gemm.h and
// element-wise work in vectorized loops on the pinned pool. It is the numerical reference the
// other backends are tested against, and what Linux users train with.
#pragma once

#include "backends/backend.h"

namespace anetrain::cpu {

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  bool supports(Kernel, const KernelDims&) const override { return true; }
  bool materializes_attention_probs() const override { return false; }

  ANETRAIN_KERNELS(ANETRAIN_KERNEL_OVERRIDE)  // in the files of this folder
};

}  // namespace anetrain::cpu
