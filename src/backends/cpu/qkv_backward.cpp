// qkv_backward on the CPU: the input gradient of the three projections, summed.
#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/elementwise.h"
#include "core/gemm.h"

namespace anetrain::cpu {

void CpuBackend::qkv_backward(const KernelDims& d, const QkvBackwardArgs& a) {
  const int64_t D = d.D, T = d.T(), QD = d.QD(), KD = d.KD();
  if (qkv_adjacent(d, a.wq, a.wk, a.wv, a.dq, a.dk, a.dv)) {
    // One product over K = QD + 2 KD instead of three accumulated ones.
    gemm(Trans::kYes, Trans::kNo, D, T, QD + 2 * KD, 1.0f, a.wq, D, a.dq, T, 0.0f, a.dxnorm, T);
    return;
  }
  gemm(Trans::kYes, Trans::kNo, D, T, QD, 1.0f, a.wq, D, a.dq, T, 0.0f, a.dxnorm, T);
  gemm(Trans::kYes, Trans::kNo, D, T, KD, 1.0f, a.wk, D, a.dk, T, 1.0f, a.dxnorm, T);
  gemm(Trans::kYes, Trans::kNo, D, T, KD, 1.0f, a.wv, D, a.dv, T, 1.0f, a.dxnorm, T);
}

}  // namespace anetrain::cpu
