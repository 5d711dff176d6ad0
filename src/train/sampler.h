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
  // A temperature that is not a finite number >= 0, or a top_p outside (0, 1], is a UserError.
  Sampler(SamplerOptions options, uint64_t seed);
  // Non-finite logits (a diverged or damaged model) are a UserError, never a garbage token.
  int32_t sample(const float* logits, int vocab_size);

 private:
  SamplerOptions options_;
  Rng rng_;
  std::vector<std::pair<float, int32_t>> sorted_;
};

}  // namespace anetrain
