#include "train/host_ops.h"

#include <algorithm>
#include <vector>

#include "core/gemm.h"
#include "core/parallel.h"

namespace anetrain {

void embedding_forward(const int32_t* tokens, const float* table, int64_t D, int64_t T, float* x) {
  parallel_for(D, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t t = 0; t < T; ++t) x[c * T + t] = table[tokens[t] * D + c];
  });
}

void embedding_backward(const int32_t* tokens, const float* dx, int64_t D, int64_t T,
                        float* dtable) {
  // Split by channel: a token repeated in the batch hits the same row, but each thread owns
  // distinct columns, so there are no races and the sum order is fixed.
  parallel_for(D, [&](int64_t c0, int64_t c1) {
    for (int64_t t = 0; t < T; ++t) {
      float* row = dtable + tokens[t] * D;
      for (int64_t c = c0; c < c1; ++c) row[c] += dx[c * T + t];
    }
  });
}

void fill_zero(float* x, int64_t n) {
  parallel_for(
      n, [&](int64_t i0, int64_t i1) { std::fill(x + i0, x + i1, 0.0f); }, 1 << 16);
}

void add(const float* a, const float* b, int64_t n, float* out) {
  parallel_for(
      n,
      [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) out[i] = a[i] + b[i];
      },
      4096);
}

namespace {
// GEMM beta for a gradient write: 0 overwrites (BLAS does not read C then), 1 accumulates.
float beta(GradWrite write) { return write == GradWrite::kAccumulate ? 1.0f : 0.0f; }
}  // namespace

void classifier_grad(const float* dlogits, const float* xnorm, int64_t V, int64_t D, int64_t T,
                     float* dw, GradWrite write) {
  gemm(Trans::kYes, Trans::kYes, V, D, T, 1.0f, dlogits, V, xnorm, T, beta(write), dw, D);
}

void weight_grad(const float* dy, const float* x, int64_t out, int64_t in, int64_t T, float* dw,
                 GradWrite write) {
  gemm(Trans::kNo, Trans::kYes, out, in, T, 1.0f, dy, T, x, T, beta(write), dw, in);
}

}  // namespace anetrain
