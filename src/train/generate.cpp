#include "train/generate.h"

#include <algorithm>
#include <memory>

#include "core/error.h"
#include "train/transformer.h"

namespace anetrain {

void generate(const ModelConfig& mc, Backend& backend, const float* params,
              std::vector<int32_t>& tokens, int64_t max_tokens, Sampler& sampler, int sampled_vocab,
              const std::function<void(int32_t)>& on_token) {
  ANETRAIN_CHECK(!tokens.empty(), "generation needs at least one prompt token");
  ANETRAIN_CHECK(sampled_vocab > 0 && sampled_vocab <= mc.vocab_size,
                 "sampled_vocab outside the model's vocabulary");
  std::unique_ptr<Transformer> model;
  std::vector<int32_t> window;
  for (int64_t i = 0; i < max_tokens; ++i) {
    const int64_t context = std::min<int64_t>(static_cast<int64_t>(tokens.size()), mc.seq_len);
    const int64_t padded = std::min<int64_t>(mc.seq_len, (context + 63) / 64 * 64);
    if (!model || model->dims().S != padded) {
      model = std::make_unique<Transformer>(mc, backend, 1, padded, false, false);
      window.assign(padded, 0);
    }
    std::fill(window.begin(), window.end(), 0);
    std::copy(tokens.end() - context, tokens.end(), window.begin());
    model->forward(params, window.data(), nullptr);
    const int32_t next =
        sampler.sample(model->logits() + (context - 1) * mc.vocab_size, sampled_vocab);
    tokens.push_back(next);
    if (on_token) on_token(next);
  }
}

}  // namespace anetrain
