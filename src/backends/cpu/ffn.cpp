// ffn_forward and ffn_backward on the CPU: SwiGLU, W2(silu(W1 x) * W3 x), and its input
// gradients. Weight gradients are host work (train/host_ops.h).
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/lora_path.h"
#include "backends/cpu/rmsnorm.h"
#include "backends/cpu/elementwise.h"
#include "core/gemm.h"

namespace anetrain::cpu {

void CpuBackend::ffn_forward(const KernelDims& d, const FfnForwardArgs& a) {
  const int64_t D = d.D, F = d.F, T = d.T();
  rmsnorm_forward(a.x, a.norm_w, D, T, d.norm_eps, a.xnorm, a.rms_inv);
  gemm(Trans::kNo, Trans::kNo, F, T, D, 1.0f, a.w1, D, a.xnorm, T, 0.0f, a.h1, T);
  gemm(Trans::kNo, Trans::kNo, F, T, D, 1.0f, a.w3, D, a.xnorm, T, 0.0f, a.h3, T);
  lora_forward(a.lora_1, D, F, a.xnorm, T, a.h1);
  lora_forward(a.lora_3, D, F, a.xnorm, T, a.h3);
  swiglu_forward(a.h1, a.h3, F * T, a.gate);
  gemm(Trans::kNo, Trans::kNo, D, T, F, 1.0f, a.w2, F, a.gate, T, 0.0f, a.y, T);
}

void CpuBackend::ffn_backward(const KernelDims& d, const FfnBackwardArgs& a) {
  const int64_t D = d.D, F = d.F, T = d.T();
  // dgate = W2^T dy, held in dh3 until the element-wise pass splits it into dh1 and dh3.
  gemm(Trans::kYes, Trans::kNo, F, T, D, 1.0f, a.w2, F, a.dy, T, 0.0f, a.dh3, T);
  lora_input_grad(a.lora_2, F, D, a.dy, T, a.dh3);
  swiglu_backward(a.h1, a.h3, F * T, a.dh3, a.dh1);
  gemm(Trans::kYes, Trans::kNo, D, T, F, 1.0f, a.w1, D, a.dh1, T, 0.0f, a.dxnorm, T);
  gemm(Trans::kYes, Trans::kNo, D, T, F, 1.0f, a.w3, D, a.dh3, T, 1.0f, a.dxnorm, T);
}

}  // namespace anetrain::cpu
