#include "backends/cpu/elementwise.h"

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "backends/cpu/vec_math.h"
#include "core/parallel.h"
#include "core/vector_clones.h"

namespace anetrain::cpu {

namespace {

// cos/sin of pos * theta^(-2i/E) for i < E/2, pos < S. Cached per (E, S, theta) because every
// layer of every step reuses them; entries are never evicted (a run uses a handful of shapes),
// so a returned reference stays valid while other threads add entries.
struct RopeTable {
  std::vector<float> cos_table, sin_table;  // [E/2, S]
};

const RopeTable& rope_table(int64_t E, int64_t S, float theta) {
  static std::mutex mutex;
  static std::map<std::tuple<int64_t, int64_t, float>, std::unique_ptr<RopeTable>> tables;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = tables[{E, S, theta}];
  if (!slot) {
    slot = std::make_unique<RopeTable>();
    slot->cos_table.resize(E / 2 * S);
    slot->sin_table.resize(E / 2 * S);
    for (int64_t i = 0; i < E / 2; ++i) {
      // llama2.c computes the frequency in float: theta^(-(2i)/E).
      const float freq = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(E));
      for (int64_t s = 0; s < S; ++s) {
        const float angle = static_cast<float>(s) * freq;
        slot->cos_table[i * S + s] = std::cos(angle);
        slot->sin_table[i * S + s] = std::sin(angle);
      }
    }
  }
  return *slot;
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

namespace {

// The spans the pool's threads run: free functions so that they are cloned (vector_clones.h).
ANETRAIN_AVX512_CLONES void swiglu_forward_span(const float* __restrict h1,
                                                const float* __restrict h3, int64_t n,
                                                float* __restrict gate) {
  for (int64_t i = 0; i < n; ++i) gate[i] = h1[i] * sigmoid(h1[i]) * h3[i];
}

ANETRAIN_AVX512_CLONES void swiglu_backward_span(const float* __restrict h1,
                                                 const float* __restrict h3, int64_t n,
                                                 float* __restrict dgate_in_dh3,
                                                 float* __restrict dh1) {
  for (int64_t i = 0; i < n; ++i) {
    const float x = h1[i], sig = sigmoid(x), silu = x * sig, dgate = dgate_in_dh3[i];
    // d silu(x)/dx = sig * (1 + x * (1 - sig))
    dh1[i] = dgate * h3[i] * sig * (1.0f + x * (1.0f - sig));
    dgate_in_dh3[i] = dgate * silu;
  }
}

}  // namespace

void swiglu_forward(const float* h1, const float* h3, int64_t n, float* gate) {
  parallel_for(
      n, [&](int64_t i0, int64_t i1) { swiglu_forward_span(h1 + i0, h3 + i0, i1 - i0, gate + i0); },
      4096);
}

void swiglu_backward(const float* h1, const float* h3, int64_t n, float* dgate_in_dh3, float* dh1) {
  parallel_for(
      n,
      [&](int64_t i0, int64_t i1) {
        swiglu_backward_span(h1 + i0, h3 + i0, i1 - i0, dgate_in_dh3 + i0, dh1 + i0);
      },
      4096);
}

void rope_rotate_qk(float* q, float* k, const KernelDims& d, float direction) {
  if (k == q + d.QD() * d.T()) return rope_rotate(q, d.H + d.G, d, direction);
  rope_rotate(q, d.H, d, direction);
  rope_rotate(k, d.G, d, direction);
}

}  // namespace anetrain::cpu
