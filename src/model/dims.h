// The dimensions of one kernel call: everything about the model a kernel (kernels/kernels.h)
// or an ANE program (backends/ane/programs) may depend on, plus the micro-batch. It is the
// only view of the model they get, so a model option that changes what a kernel computes
// (an FFN activation, a norm variant) belongs here; nothing rebuilds a ModelConfig from it.
//
// The comparison is defaulted: every field, present or added later, takes part in ==, < and
// therefore in every cache keyed on it (the ANE backend's compiled programs).
#pragma once

#include <compare>
#include <cstdint>

#include "model/config.h"

namespace anetrain {

struct KernelDims {
  int64_t D = 0, F = 0, H = 0, G = 0, E = 0, V = 0, B = 0, S = 0;  // model/config.h letters
  float norm_eps = 0, rope_theta = 0;

  int64_t T() const { return B * S; }
  int64_t QD() const { return H * E; }
  int64_t KD() const { return G * E; }
  int64_t R() const { return H / G; }  // query heads per kv head

  auto operator<=>(const KernelDims&) const = default;

  static KernelDims from(const ModelConfig& c, int64_t batch, int64_t seq) {
    return {.D = c.dim,
            .F = c.hidden_dim,
            .H = c.n_heads,
            .G = c.n_kv_heads,
            .E = c.head_dim(),
            .V = c.vocab_size,
            .B = batch,
            .S = seq,
            .norm_eps = c.norm_eps,
            .rope_theta = c.rope_theta};
  }
};

}  // namespace anetrain
