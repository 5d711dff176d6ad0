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

  void attention_forward(const KernelDims& d, const AttentionForwardArgs& a) override;
  void ffn_forward(const KernelDims& d, const FfnForwardArgs& a) override;
  void ffn_backward(const KernelDims& d, const FfnBackwardArgs& a) override;
  void sdpa_backward1(const KernelDims& d, const SdpaBackward1Args& a) override;
  void sdpa_backward2(const KernelDims& d, const SdpaBackward2Args& a) override;
  void qkv_backward(const KernelDims& d, const QkvBackwardArgs& a) override;
  void classifier_loss(const KernelDims& d, const ClassifierLossArgs& a) override;
};

}  // namespace anetrain::cpu
