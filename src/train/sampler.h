// Next-token sampling from logits: greedy (temperature 0), temperature, and nucleus (top-p).
#pragma once

#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace anetrain {

struct SamplerOptions {
  float temperature = 0.8f;  // 0: always the most likely token
  float top_p = 0.9f;        // keep the smallest set of tokens whose probability reaches top_p
};

class Sampler {
 public:
  Sampler(SamplerOptions options, uint64_t seed) : options_(options), rng_(seed) {}
  int32_t sample(const float* logits, int vocab_size);

 private:
  SamplerOptions options_;
  Rng rng_;
  std::vector<std::pair<float, int32_t>> sorted_;
};

}  // namespace anetrain
