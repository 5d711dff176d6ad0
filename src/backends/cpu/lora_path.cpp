#include "backends/cpu/lora_path.h"

#include <vector>

#include "core/gemm.h"

namespace anetrain {
namespace {

// A buffer of n floats for this thread, kept between calls: slot 0 for dropout's masked input,
// slot 1 for a masked input-gradient share.
float* thread_scratch(int slot, int64_t n) {
  thread_local std::vector<float> buffers[2];
  std::vector<float>& buffer = buffers[slot];
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(n);
  return buffer.data();
}

// drop * x, or x itself without a mask.
const float* dropped_input(const float* drop, const float* x, int64_t n) {
  if (!drop) return x;
  float* out = thread_scratch(0, n);
  for (int64_t i = 0; i < n; ++i) out[i] = drop[i] * x[i];
  return out;
}

// dx += drop * (A^T g), or dx += A^T g without a mask.
void add_input_share(const float* a, const float* g, int64_t r, int64_t in, int64_t T,
                     const float* drop, float* dx) {
  if (!drop) {
    gemm(Trans::kYes, Trans::kNo, in, T, r, 1.0f, a, in, g, T, 1.0f, dx, T);
    return;
  }
  float* share = thread_scratch(1, in * T);
  gemm(Trans::kYes, Trans::kNo, in, T, r, 1.0f, a, in, g, T, 0.0f, share, T);
  for (int64_t i = 0; i < in * T; ++i) dx[i] += drop[i] * share[i];
}

}  // namespace

void lora_forward(const LoraWeights& w, const float* x, int64_t T, float* ax, float* y) {
  gemm(Trans::kNo, Trans::kNo, w.r, T, w.in, 1.0f, w.a, w.in, x, T, 0.0f, ax, T);
  gemm(Trans::kNo, Trans::kNo, w.out, T, w.r, w.scale, w.b, w.r, ax, T, 1.0f, y, T);
}

void lora_backward(const LoraWeights& w, const float* dy, const float* x, const float* ax,
                   int64_t T, float* g, float* da, float* db, float* dx, GradWrite write,
                   const float* drop) {
  const float beta = write == GradWrite::kAccumulate ? 1.0f : 0.0f;
  gemm(Trans::kNo, Trans::kYes, w.out, w.r, T, w.scale, dy, T, ax, T, beta, db, w.r);
  gemm(Trans::kYes, Trans::kNo, w.r, T, w.out, w.scale, w.b, w.r, dy, T, 0.0f, g, T);
  gemm(Trans::kNo, Trans::kYes, w.r, w.in, T, 1.0f, g, T, dropped_input(drop, x, w.in * T), T, beta,
       da, w.in);
  if (dx) add_input_share(w.a, g, w.r, w.in, T, drop, dx);
}

void lora_forward(const LoraAdapter& adapter, int64_t in, int64_t out, const float* x, int64_t T,
                  float* y) {
  if (!adapter.active()) return;
  lora_forward({adapter.a, adapter.b, adapter.r, in, out, adapter.scale},
               dropped_input(adapter.drop, x, in * T), T, adapter.ax, y);
}

void lora_input_grad(const LoraAdapter& adapter, int64_t in, int64_t out, const float* dy,
                     int64_t T, float* dx) {
  if (!adapter.active()) return;
  const int64_t r = adapter.r;
  gemm(Trans::kYes, Trans::kNo, r, T, out, adapter.scale, adapter.b, r, dy, T, 0.0f,
       adapter.scratch, T);
  add_input_share(adapter.a, adapter.scratch, r, in, T, adapter.drop, dx);
}

}  // namespace anetrain
