#include "backends/cpu/lora_path.h"

#include <vector>

#include "core/gemm.h"

namespace anetrain {
namespace {

// A buffer of n floats for this thread, kept between calls (dropout's masked input or share).
float* thread_scratch(int64_t n) {
  thread_local std::vector<float> buffer;
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(n);
  return buffer.data();
}

}  // namespace

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

void lora_forward(const LoraAdapter& adapter, int64_t in, int64_t out, const float* x, int64_t T,
                  float* y) {
  if (!adapter.active()) return;
  if (adapter.drop) {
    float* dropped = thread_scratch(in * T);
    for (int64_t i = 0; i < in * T; ++i) dropped[i] = adapter.drop[i] * x[i];
    x = dropped;
  }
  lora_forward({adapter.a, adapter.b, adapter.r, in, out, adapter.scale}, x, T, adapter.ax, y);
}

void lora_input_grad(const LoraAdapter& adapter, int64_t in, int64_t out, const float* dy,
                     int64_t T, float* dx) {
  if (!adapter.active()) return;
  const int64_t r = adapter.r;
  gemm(Trans::kYes, Trans::kNo, r, T, out, adapter.scale, adapter.b, r, dy, T, 0.0f,
       adapter.scratch, T);
  if (!adapter.drop) {
    gemm(Trans::kYes, Trans::kNo, in, T, r, 1.0f, adapter.a, in, adapter.scratch, T, 1.0f, dx, T);
    return;
  }
  float* share = thread_scratch(in * T);
  gemm(Trans::kYes, Trans::kNo, in, T, r, 1.0f, adapter.a, in, adapter.scratch, T, 0.0f, share, T);
  for (int64_t i = 0; i < in * T; ++i) dx[i] += adapter.drop[i] * share[i];
}

}  // namespace anetrain
