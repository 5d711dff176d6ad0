#include "backends/cpu/elementwise.h"

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "core/parallel.h"

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

void rope_rotate_qk(float* q, float* k, const KernelDims& d, float direction) {
  if (k == q + d.QD() * d.T()) return rope_rotate(q, d.H + d.G, d, direction);
  rope_rotate(q, d.H, d, direction);
  rope_rotate(k, d.G, d, direction);
}

}  // namespace anetrain::cpu
