#include "backends/cpu/elementwise.h"

#include <cmath>
#include <mutex>
#include <vector>

#include "core/parallel.h"

namespace anetrain::cpu {

void rmsnorm_forward(const float* x, const float* w, int64_t C, int64_t T, float eps, float* out,
                     float* rms_inv) {
  // Token blocks in parallel; within a block, channels outer and tokens inner so every loop is
  // a contiguous, vectorizable stream.
  parallel_for(
      T,
      [&](int64_t t0, int64_t t1) {
        const int64_t n = t1 - t0;
        std::vector<float> sumsq(n, 0.0f);
        for (int64_t c = 0; c < C; ++c) {
          const float* row = x + c * T + t0;
          for (int64_t t = 0; t < n; ++t) sumsq[t] += row[t] * row[t];
        }
        for (int64_t t = 0; t < n; ++t)
          rms_inv[t0 + t] = 1.0f / std::sqrt(sumsq[t] / static_cast<float>(C) + eps);
        for (int64_t c = 0; c < C; ++c) {
          const float* row = x + c * T + t0;
          float* o = out + c * T + t0;
          const float wc = w[c];
          for (int64_t t = 0; t < n; ++t) o[t] = row[t] * rms_inv[t0 + t] * wc;
        }
      },
      64);
}

namespace {

// cos/sin of pos * theta^(-2i/E) for i < E/2, pos < S, computed in double then rounded,
// cached per (E, S, theta) because every layer of every step reuses them.
struct RopeTable {
  int64_t E = 0, S = 0;
  float theta = 0;
  std::vector<float> cos_table, sin_table;  // [E/2, S]
};

const RopeTable& rope_table(int64_t E, int64_t S, float theta) {
  static std::mutex mutex;
  static RopeTable table;
  std::lock_guard<std::mutex> lock(mutex);
  if (table.E != E || table.S != S || table.theta != theta) {
    table.E = E, table.S = S, table.theta = theta;
    table.cos_table.resize(E / 2 * S);
    table.sin_table.resize(E / 2 * S);
    for (int64_t i = 0; i < E / 2; ++i) {
      // llama2.c computes the frequency in float: theta^(-(2i)/E).
      const float freq = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(E));
      for (int64_t s = 0; s < S; ++s) {
        const float angle = static_cast<float>(s) * freq;
        table.cos_table[i * S + s] = std::cos(angle);
        table.sin_table[i * S + s] = std::sin(angle);
      }
    }
  }
  return table;
}

}  // namespace

void rope_rotate(float* x, int64_t heads, const KernelDims& d, float direction) {
  const int64_t E = d.E, S = d.S, T = d.T();
  const RopeTable& table = rope_table(E, S, d.rope_theta);
  const int64_t pairs = heads * E / 2;
  parallel_for(pairs, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t i = p % (E / 2);  // pair index within its head
      float* r0 = x + (2 * p) * T;
      float* r1 = r0 + T;
      const float* cs = table.cos_table.data() + i * S;
      const float* sn = table.sin_table.data() + i * S;
      for (int64_t b = 0; b < d.B; ++b) {
        float* a = r0 + b * S;
        float* c = r1 + b * S;
        for (int64_t s = 0; s < S; ++s) {
          const float co = cs[s], si = direction * sn[s];
          const float u = a[s], v = c[s];
          a[s] = u * co - v * si;
          c[s] = u * si + v * co;
        }
      }
    }
  });
}

}  // namespace anetrain::cpu
