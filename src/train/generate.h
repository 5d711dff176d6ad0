// Autoregressive generation for sampling and for the trainer's validation-time samples.
// Each new token reruns the forward pass over the (at most seq_len) context; causal attention
// makes the zero padding after the last real token irrelevant to its logits. The model is
// rebuilt only when the padded length (a multiple of 64) grows.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "backends/backend.h"
#include "model/config.h"
#include "train/sampler.h"

namespace anetrain {

// Appends max_tokens sampled ids to tokens (which must not be empty), each below
// `sampled_vocab` (<= the model's vocab_size): a vocabulary padded beyond the tokenizer's ids
// never yields an id the tokenizer cannot decode. on_token, if given, is called with each new
// id as it is produced.
void generate(const ModelConfig& config, Backend& backend, const float* params,
              std::vector<int32_t>& tokens, int64_t max_tokens, Sampler& sampler, int sampled_vocab,
              const std::function<void(int32_t)>& on_token = {});

}  // namespace anetrain
