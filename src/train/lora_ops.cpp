#include "train/lora_ops.h"

#include "core/gemm.h"

namespace anetrain {

void lora_forward(const LoraWeights& w, const float* x, int64_t T, float* ax, float* y) {
  gemm(Trans::kNo, Trans::kNo, w.r, T, w.in, 1.0f, w.a, w.in, x, T, 0.0f, ax, T);
  gemm(Trans::kNo, Trans::kNo, w.out, T, w.r, w.scale, w.b, w.r, ax, T, 1.0f, y, T);
}

void lora_backward(const LoraWeights& w, const float* dy, const float* x, const float* ax,
                   int64_t T, float* g, float* da, float* db, float* dx, GradWrite write) {
  const float beta = write == GradWrite::kAccumulate ? 1.0f : 0.0f;
  gemm(Trans::kNo, Trans::kYes, w.out, w.r, T, w.scale, dy, T, ax, T, beta, db, w.r);
  gemm(Trans::kYes, Trans::kNo, w.r, T, w.out, w.scale, w.b, w.r, dy, T, 0.0f, g, T);
  gemm(Trans::kNo, Trans::kYes, w.r, w.in, T, 1.0f, g, T, x, T, beta, da, w.in);
  if (dx) gemm(Trans::kYes, Trans::kNo, w.in, T, w.r, 1.0f, w.a, w.in, g, T, 1.0f, dx, T);
}

}  // namespace anetrain
