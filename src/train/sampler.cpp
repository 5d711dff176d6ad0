#include "train/sampler.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace anetrain {

Sampler::Sampler(SamplerOptions options, uint64_t seed) : options_(options), rng_(seed) {
  if (!std::isfinite(options.temperature) || options.temperature < 0)
    throw UserError("sampling temperature " + std::to_string(options.temperature) +
                    " is not a finite number >= 0");
  if (!(options.top_p > 0 && options.top_p <= 1))
    throw UserError("sampling top-p " + std::to_string(options.top_p) + " is not in (0, 1]");
}

int32_t Sampler::sample(const float* logits, int V) {
  for (int v = 0; v < V; ++v)
    if (!std::isfinite(logits[v]))
      throw UserError("the model produced a non-finite logit (token " + std::to_string(v) +
                      "): its weights are damaged or diverged");
  const int32_t argmax = static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  if (options_.temperature <= 0.0f) return argmax;
  const float max = logits[argmax];
  sorted_.resize(V);
  double sum = 0.0;
  for (int v = 0; v < V; ++v) {
    const float p = std::exp((logits[v] - max) / options_.temperature);
    sorted_[v] = {p, v};
    sum += p;
  }
  std::sort(sorted_.begin(), sorted_.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  });
  // Nucleus: the shortest prefix of the sorted distribution with mass >= top_p.
  double kept = 0.0;
  size_t n = 0;
  while (n < sorted_.size() && kept < options_.top_p * sum) kept += sorted_[n++].first;
  double r = rng_.uniform() * kept;
  for (size_t i = 0; i < n; ++i) {
    r -= sorted_[i].first;
    if (r <= 0.0) return sorted_[i].second;
  }
  return sorted_[n - 1].second;
}

}  // namespace anetrain
