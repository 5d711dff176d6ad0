// `anetrain sample`: loads a checkpoint directory or a bare weights file and continues a
// prompt: text when the checkpoint records a tokenizer, token ids otherwise (or with --ids).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <sstream>

#include "backends/backend.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/parallel.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/generate.h"
#include "train/sampler.h"

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
      throw UserError("anetrain sample: --prompt token '" + word + "' is not an id in [0, " +
                      std::to_string(vocab_size) +
                      "); until a tokenizer is configured, prompts are token ids like \"1 42 7\"");
    ids.push_back(static_cast<int32_t>(value));
  }
  if (ids.empty()) throw UserError("anetrain sample: --prompt holds no token ids");
  return ids;
}

// The checkpoint's config with --set applied: only the keys that choose how the backend runs,
// never the model's shape or training settings, which the weights were trained with.
RunConfig backend_config(RunConfig config, const Args& args) {
  const std::vector<std::string> overrides = args.all("set");
  for (const std::string& kv : overrides) {
    const std::string key = kv.substr(0, kv.find('='));
    if (key != "ane_pipeline" && key != "compile_budget" && key != "ane_program_form" &&
        key != "ane_surface_budget_mb")
      throw UserError("anetrain sample: --set " + key +
                      ": sampling takes only the backend keys ane_pipeline, compile_budget, "
                      "ane_program_form and ane_surface_budget_mb; the model's keys come from "
                      "the checkpoint");
  }
  apply_overrides(config, overrides);
  return config;
}

int run_sample(const Args& args) {
  const InferenceModel loaded = load_inference_model(args.get("checkpoint"), args.get("adapters"));
  const ModelConfig& mc = loaded.config.model;
  SamplerOptions so;
  so.temperature = static_cast<float>(args.get_double("temperature"));
  so.top_p = static_cast<float>(args.get_double("top-p"));
  if (!std::isfinite(so.temperature) || so.temperature < 0)
    throw UserError("anetrain sample: --temperature must be a number >= 0");
  if (!(so.top_p > 0 && so.top_p <= 1))
    throw UserError("anetrain sample: --top-p must be in (0, 1]");
  const long long max_tokens = args.get_int("max-tokens");
  if (max_tokens < 0) throw UserError("anetrain sample: --max-tokens must be >= 0");

  // With a tokenizer the prompt is text (empty: start a new document); without one it is ids,
  // and id 1 (BOS in Llama's vocabulary) is the default.
  std::unique_ptr<Tokenizer> tokenizer;
  if (!loaded.tokenizer_spec.empty() && !args.has("ids")) {
    tokenizer = load_tokenizer(loaded.tokenizer_spec);
    if (!loaded.tokenizer_checksum.empty() && tokenizer->checksum() != loaded.tokenizer_checksum)
      throw UserError("tokenizer '" + loaded.tokenizer_spec +
                      "' changed since the checkpoint was trained (checksum mismatch); pass "
                      "--ids to sample token ids");
    if (tokenizer->vocab_size() > mc.vocab_size)
      throw UserError("tokenizer '" + loaded.tokenizer_spec + "' has " +
                      std::to_string(tokenizer->vocab_size()) +
                      " ids but the model's vocab_size "
                      "is " +
                      std::to_string(mc.vocab_size) + ": pass --ids to sample token ids");
  }
  std::vector<int32_t> tokens;
  if (tokenizer) {
    tokens.push_back(tokenizer->document_separator());
    for (int32_t id : tokenizer->encode(args.get("prompt"))) tokens.push_back(id);
  } else {
    tokens = parse_prompt(args.has("prompt") ? args.get("prompt") : "1", mc.vocab_size);
  }
  Sampler sampler(so, static_cast<uint64_t>(args.get_int("seed")));

  init_thread_pool();
  std::unique_ptr<Backend> backend = make_backend(
      args.get("backend"), BackendOptions::from(backend_config(loaded.config, args).train));
  backend->prepare_run(mc);
  // A vocabulary padded beyond the tokenizer's ids (a common practice) samples only ids it has.
  generate(mc, *backend, loaded.params.data(), tokens, max_tokens, sampler,
           tokenizer ? tokenizer->vocab_size() : mc.vocab_size);
  if (tokenizer) {
    // Prompt and continuation decoded together (SentencePiece drops a leading space from the
    // first piece it decodes, so decoding the continuation alone would glue words together);
    // the leading separator is not text.
    std::string text = tokenizer->decode(std::vector<int32_t>(tokens.begin() + 1, tokens.end()));
    std::printf("%s\n", text.c_str());
  } else {
    for (size_t i = 0; i < tokens.size(); ++i) std::printf(i ? " %d" : "%d", tokens[i]);
    std::printf("\n");
  }
  return 0;
}

}  // namespace

Command sample_command() {
  return {
      .name = "sample",
      .summary = "continue a prompt with a trained checkpoint",
      .flags =
          {
              {.name = "checkpoint",
               .value = "DIR|FILE",
               .help = "a run directory (train --out), or a bare model.safetensors (token ids: "
                       "no tokenizer)",
               .required = true},
              {.name = "adapters",
               .value = "DIR",
               .help = "LoRA adapters (a 'train --lora-rank' run directory) merged into the "
                       "--checkpoint model, which must be the base they were trained on (a "
                       "LoRA run directory given as --checkpoint merges its recorded base)"},
              {.name = "prompt",
               .value = "TEXT",
               .help = "text to continue when the checkpoint records a tokenizer (default: "
                       "empty, a new document); token ids like \"1 42 7\" otherwise (default: 1)"},
              {.name = "max-tokens",
               .value = "N",
               .default_value = "64",
               .help = "tokens to generate"},
              {.name = "temperature",
               .value = "T",
               .default_value = "0.8",
               .help = "softmax temperature; 0 picks the most likely token"},
              {.name = "top-p",
               .value = "P",
               .default_value = "0.9",
               .help = "nucleus sampling: draw from the smallest set of tokens holding P of the "
                       "probability, in (0, 1]"},
              {.name = "seed", .value = "N", .default_value = "42", .help = "sampling seed"},
              {.name = "backend",
               .value = "cpu|ane",
               .default_value = "cpu",
               .help = "where the forward pass runs"},
              {.name = "set",
               .value = "KEY=VALUE",
               .help = "a backend key: ane_pipeline, compile_budget, ane_program_form or "
                       "ane_surface_budget_mb ('anetrain help config')",
               .repeated = true},
              {.name = "ids", .help = "prompt and output as token ids even with a tokenizer"},
          },
      .run = run_sample,
  };
}

}  // namespace anetrain
