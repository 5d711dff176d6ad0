#include "train/sampler.h"

#include <algorithm>
#include <cmath>

namespace anetrain {

int32_t Sampler::sample(const float* logits, int V) {
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
