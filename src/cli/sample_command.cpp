// `anetrain sample`: loads a checkpoint and continues a prompt of token ids (text arrives with
// the tokenizer issue). Each new token reruns the forward pass over the context; causal
// attention makes the padding after the last real token irrelevant to its logits.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include "backends/backend.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/parallel.h"
#include "train/checkpoint.h"
#include "train/sampler.h"
#include "train/transformer.h"

namespace anetrain {
namespace {

std::vector<int32_t> parse_prompt(const std::string& text, int vocab_size) {
  std::vector<int32_t> ids;
  std::string normalized = text;
  std::replace(normalized.begin(), normalized.end(), ',', ' ');
  std::istringstream in(normalized);
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    long value = std::strtol(word.c_str(), &end, 10);
    if (*end != '\0' || value < 0 || value >= vocab_size)
      throw UserError("anetrain sample: --prompt token '" + word +
                      "' is not an id in [0, " + std::to_string(vocab_size) +
                      "); until a tokenizer is configured, prompts are token ids like \"1 42 7\"");
    ids.push_back(static_cast<int32_t>(value));
  }
  if (ids.empty()) throw UserError("anetrain sample: --prompt holds no token ids");
  return ids;
}

}  // namespace

int run_sample_command(const std::vector<std::string>& argv) {
  Args args("sample", argv,
            {"checkpoint", "prompt", "max-tokens", "temperature", "top-p", "seed", "backend"}, {});
  const std::string dir = args.require("checkpoint");
  const TrainingState state = load_training_state(dir);
  const ModelConfig& mc = state.config.model;
  SamplerOptions so;
  so.temperature = static_cast<float>(args.get_double("temperature", 0.8));
  so.top_p = static_cast<float>(args.get_double("top-p", 0.9));
  if (so.temperature < 0) throw UserError("anetrain sample: --temperature must be >= 0");
  if (so.top_p <= 0 || so.top_p > 1) throw UserError("anetrain sample: --top-p must be in (0, 1]");
  const long long max_tokens = args.get_int("max-tokens", 64);
  if (max_tokens < 0) throw UserError("anetrain sample: --max-tokens must be >= 0");
  // Llama's SentencePiece vocabularies use id 1 for BOS, so that is the default prompt.
  std::vector<int32_t> tokens = parse_prompt(args.get("prompt", "1"), mc.vocab_size);
  Sampler sampler(so, static_cast<uint64_t>(args.get_int("seed", 42)));

  init_thread_pool();
  std::unique_ptr<Backend> backend = make_backend(args.get("backend", "cpu"));
  ParamLayout layout(mc);
  std::vector<float> params(layout.total());
  load_model_weights((std::filesystem::path(dir) / "model.safetensors").string(), layout,
                     params.data());

  // The context window is seq_len; the model is rebuilt only when the padded length grows.
  std::unique_ptr<Transformer> model;
  std::vector<int32_t> window;
  for (long long i = 0; i < max_tokens; ++i) {
    const int64_t context = std::min<int64_t>(tokens.size(), mc.seq_len);
    const int64_t padded = std::min<int64_t>(mc.seq_len, (context + 63) / 64 * 64);
    if (!model || model->dims().S != padded) {
      model = std::make_unique<Transformer>(mc, *backend, 1, padded, false, false);
      window.assign(padded, 0);
    }
    std::fill(window.begin(), window.end(), 0);
    std::copy(tokens.end() - context, tokens.end(), window.begin());
    model->forward(params.data(), window.data(), nullptr);
    const float* logits = model->logits() + (context - 1) * mc.vocab_size;
    tokens.push_back(sampler.sample(logits, mc.vocab_size));
  }
  for (size_t i = 0; i < tokens.size(); ++i) std::printf(i ? " %d" : "%d", tokens[i]);
  std::printf("\n");
  return 0;
}

}  // namespace anetrain
