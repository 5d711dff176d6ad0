// `anetrain convert IN OUT --to FORMAT` and `anetrain info PATH`: models in and out of the
// formats model/weights.h registers, opened through train/model_source.h.
#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "model/params.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_files.h"
#include "train/model_source.h"

namespace anetrain {
namespace {

int run_convert(const Args& args) {
  const std::string out = args.get("out");
  const WeightFormat to = weight_format_named(args.get("to"));
  const std::string dtype = args.get("dtype");
  if (dtype != "f32" && dtype != "f16")
    throw UserError("anetrain convert: --dtype '" + dtype + "' is unknown: use f32 or f16");
  if (std::filesystem::exists(out))
    throw UserError("anetrain convert: '" + out + "' exists: choose another path or remove it");
  const ModelSource source = open_model_source(args.operand());
  const std::vector<float> params = read_model_params(source);
  WeightsMetadata metadata{.config = source.config, .step = source.step, .dtype = dtype};
  if (!source.tokenizer_spec.empty())
    metadata.tokenizer_files = read_tokenizer_files(*load_tokenizer(source.tokenizer_spec));
  write_weights(to, out, ParamLayout(source.config.model), params.data(), metadata);
  std::printf("%s -> %s (%s, %s, %zu parameters, tokenizer: %s)\n", args.operand().c_str(),
              out.c_str(), weight_format_name(to).c_str(), dtype.c_str(), params.size(),
              metadata.tokenizer_files.kind.empty() ? "none" : metadata.tokenizer_files.kind.c_str());
  return 0;
}

int run_info(const Args& args) {
  const ModelSource s = open_model_source(args.operand());
  const ModelConfig& m = s.config.model;
  const ParamLayout layout(m);
  std::printf("path          %s\n", s.path.c_str());
  std::printf("format        %s\n", s.checkpoint ? "anetrain checkpoint directory"
                                                  : weight_format_name(s.format).c_str());
  std::printf(
      "architecture  Llama: dim %d, hidden %d, %d layers, %d heads (%d kv heads, head dim %d), "
      "vocab %d, seq_len %d, %s embeddings, norm_eps %g, rope_theta %g\n",
      m.dim, m.hidden_dim, m.n_layers, m.n_heads, m.n_kv_heads, m.head_dim(), m.vocab_size,
      m.seq_len, m.tied_embeddings ? "tied" : "untied", m.norm_eps, m.rope_theta);
  std::printf("parameters    %" PRId64 " (%.1f M)\n", layout.total(), layout.total() / 1e6);
  std::printf("tokenizer     %s\n", s.tokenizer_spec.empty() ? "none recorded"
                                                              : s.tokenizer_spec.c_str());
  if (s.step < 0) {
    std::printf("step          not recorded\n");
  } else {
    const TrainConfig& t = s.config.train;
    const int64_t tokens = s.step * t.batch_size * t.grad_accum * m.seq_len;
    std::printf("step          %" PRId64 " (%" PRId64 " tokens seen at batch %d x seq %d x accum %d)\n",
                s.step, tokens, t.batch_size, m.seq_len, t.grad_accum);
  }
  return 0;
}

std::string format_list() {
  std::string list;
  for (const std::string& name : weight_format_names()) list += (list.empty() ? "" : "|") + name;
  return list;
}

}  // namespace

std::vector<Command> model_commands() {
  return {
      {.name = "convert",
       .summary = "write a model in another format (llama2.c, Hugging Face, GGUF, anetrain)",
       .operand = "IN",
       .flags = {{.name = "out",
                  .value = "PATH",
                  .help = "where to write (a file, or a directory for hf); must not exist",
                  .required = true},
                 {.name = "to", .value = format_list(), .help = "the format", .required = true},
                 {.name = "dtype",
                  .value = "f32|f16",
                  .default_value = "f32",
                  .help = "tensor element type where the format offers both"}},
       .notes = "IN: a checkpoint directory, model.safetensors, a llama2.c .bin, a Hugging Face "
                "directory or a GGUF file",
       .run = run_convert},
      {.name = "info",
       .summary = "a model's format, architecture, parameter count, tokenizer and step",
       .operand = "PATH",
       .flags = {},
       .run = run_info},
  };
}

}  // namespace anetrain
