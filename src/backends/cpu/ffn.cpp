// ffn_forward and ffn_backward on the CPU: SwiGLU, W2(silu(W1 x) * W3 x), and its input
// gradients. Weight gradients are host work (train/host_ops.h).
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/lora_path.h"
#include "backends/cpu/rmsnorm.h"
#include "backends/cpu/vec_math.h"
#include "core/gemm.h"
#include "core/parallel.h"

namespace anetrain::cpu {

void CpuBackend::ffn_forward(const KernelDims& d, const FfnForwardArgs& a) {
  const int64_t D = d.D, F = d.F, T = d.T();
  rmsnorm_forward(a.x, a.norm_w, D, T, d.norm_eps, a.xnorm, a.rms_inv);
  gemm(Trans::kNo, Trans::kNo, F, T, D, 1.0f, a.w1, D, a.xnorm, T, 0.0f, a.h1, T);
  gemm(Trans::kNo, Trans::kNo, F, T, D, 1.0f, a.w3, D, a.xnorm, T, 0.0f, a.h3, T);
  lora_forward(a.lora_1, D, F, a.xnorm, T, a.h1);
  lora_forward(a.lora_3, D, F, a.xnorm, T, a.h3);
  parallel_for(
      F * T,
      [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) a.gate[i] = a.h1[i] * sigmoid(a.h1[i]) * a.h3[i];
      },
      4096);
  gemm(Trans::kNo, Trans::kNo, D, T, F, 1.0f, a.w2, F, a.gate, T, 0.0f, a.y, T);
}

void CpuBackend::ffn_backward(const KernelDims& d, const FfnBackwardArgs& a) {
  const int64_t D = d.D, F = d.F, T = d.T();
  // dgate = W2^T dy, held in dh3 until the element-wise pass splits it into dh1 and dh3.
  gemm(Trans::kYes, Trans::kNo, F, T, D, 1.0f, a.w2, F, a.dy, T, 0.0f, a.dh3, T);
  lora_input_grad(a.lora_2, F, D, a.dy, T, a.dh3);
  parallel_for(
      F * T,
      [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const float x = a.h1[i], sig = sigmoid(x), silu = x * sig, dgate = a.dh3[i];
          // d silu(x)/dx = sig * (1 + x * (1 - sig))
          a.dh1[i] = dgate * a.h3[i] * sig * (1.0f + x * (1.0f - sig));
          a.dh3[i] = dgate * silu;
        }
      },
      4096);
  gemm(Trans::kYes, Trans::kNo, D, T, F, 1.0f, a.w1, D, a.dh1, T, 0.0f, a.dxnorm, T);
  gemm(Trans::kYes, Trans::kNo, D, T, F, 1.0f, a.w3, D, a.dh3, T, 1.0f, a.dxnorm, T);
}

}  // namespace anetrain::cpu
