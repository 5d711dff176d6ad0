// classifier_loss on the CPU: final RMSNorm, logits = Wcls xnorm (token-major [T, V] so the
// softmax over the vocabulary reads contiguous memory), cross-entropy and its input gradient.
#include <cmath>
#include <vector>

#include "backends/cpu/cpu_backend.h"
#include "backends/cpu/rmsnorm.h"
#include "backends/cpu/vec_math.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/parallel.h"
#include "core/vector_clones.h"

namespace anetrain::cpu {
namespace {

// One token's logits row [V] -> its dlogits, (softmax - onehot) * grad_scale, in place; returns
// -log softmax[target], from the shifted logit so it never takes log(0). A free function so
// that it is cloned for AVX-512 (vector_clones.h): the exp over the vocabulary is most of it.
ANETRAIN_AVX512_CLONES double cross_entropy_row(float* row, int64_t V, int32_t target,
                                                float grad_scale) {
  const float max = max_of(row, V);
  const float target_logit = row[target] - max;
  const float sum = exp_shifted_sum(row, V, max);
  const float inv = grad_scale / sum;
  for (int64_t v = 0; v < V; ++v) row[v] *= inv;
  row[target] -= grad_scale;
  return std::log(static_cast<double>(sum)) - target_logit;
}

}  // namespace

void CpuBackend::classifier_loss(const KernelDims& d, const ClassifierLossArgs& a) {
  const int64_t D = d.D, V = d.V, T = d.T();
  rmsnorm_forward(a.x, a.norm_w, D, T, d.norm_eps, a.xnorm, a.rms_inv);
  // logits[t, v] = sum_c xnorm[c, t] wcls[v, c]
  gemm(Trans::kYes, Trans::kYes, T, V, D, 1.0f, a.xnorm, T, a.wcls, D, 0.0f, a.logits, V);
  if (a.targets == nullptr) return;

  // Per-token losses land in fixed slots and are summed in order afterwards, so the total
  // does not depend on how tokens were split across threads.
  // Reused across steps (no allocation). Workers must use this thread's buffer through a
  // pointer: naming a thread_local inside the parallel lambda would reach each worker's own.
  thread_local std::vector<double> token_loss_buffer;
  token_loss_buffer.resize(T);
  double* token_loss = token_loss_buffer.data();
  parallel_for(T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int32_t target = a.targets[t];
      ANETRAIN_CHECK(target >= 0 && target < V, "target id out of range");  // loaders validate ids
      token_loss[t] = cross_entropy_row(a.logits + t * V, V, target, a.grad_scale);
    }
  });
  double total = 0.0;
  for (int64_t t = 0; t < T; ++t) total += token_loss[t];
  *a.loss_sum = total;
  // dxnorm[c, t] = sum_v wcls[v, c] dlogits[t, v]
  gemm(Trans::kYes, Trans::kYes, D, T, V, 1.0f, a.wcls, D, a.logits, V, 0.0f, a.dxnorm, T);
}

}  // namespace anetrain::cpu
