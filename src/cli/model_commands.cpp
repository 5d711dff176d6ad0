// `anetrain convert IN OUT --to FORMAT` and `anetrain info PATH`: models in and out of the
// formats model/weights.h registers, opened through train/model_source.h.
#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "model/lora.h"
#include "model/params.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_files.h"
#include "train/model_source.h"

namespace anetrain {
namespace {

// Writes `params` (laid out for source's config) to --out in the --to format and --dtype, with
// the source's config, step and tokenizer; `what` names the command in messages.
void write_model_as(const Args& args, const std::string& what, const ModelSource& source,
                    const std::vector<float>& params) {
  const std::string out = args.get("out");
  const WeightFormat to = weight_format_named(args.get("to"));
  const std::string dtype = args.get("dtype");
  WeightsMetadata metadata{.config = source.config, .step = source.step, .dtype = dtype};
  if (!source.tokenizer_spec.empty())
    metadata.tokenizer_files = read_tokenizer_files(*load_tokenizer(source.tokenizer_spec));
  write_weights(to, out, ParamLayout(source.config.model), params.data(), metadata);
  std::printf(
      "%s -> %s (%s, %s, %zu parameters, tokenizer: %s)\n", what.c_str(), out.c_str(),
      weight_format_name(to).c_str(), dtype.c_str(), params.size(),
      metadata.tokenizer_files.kind.empty() ? "none" : metadata.tokenizer_files.kind.c_str());
}

// --out must be new and --dtype known, before any model is read.
void check_output_flags(const Args& args, const std::string& command) {
  const std::string dtype = args.get("dtype");
  if (dtype != "f32" && dtype != "f16")
    throw UserError("anetrain " + command + ": --dtype '" + dtype + "' is unknown: use f32 or f16");
  weight_format_named(args.get("to"));
  if (std::filesystem::exists(args.get("out")))
    throw UserError("anetrain " + command + ": '" + args.get("out") +
                    "' exists: choose another path or remove it");
}

int run_convert(const Args& args) {
  check_output_flags(args, "convert");
  const ModelSource source = open_model_source(args.operand());
  write_model_as(args, args.operand(), source, read_model_params(source));
  return 0;
}

// The base with a LoRA run's adapters merged in (W + alpha/r B A, in fp32), as a plain model.
int run_merge(const Args& args) {
  check_output_flags(args, "merge");
  const ModelSource source = open_adapters_source(args.get("adapters"), args.get("base"));
  write_model_as(args, args.get("base") + " + " + args.get("adapters"), source,
                 read_model_params(source));
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
  std::printf("tokenizer     %s\n",
              s.tokenizer_spec.empty() ? "none recorded" : s.tokenizer_spec.c_str());
  if (s.lora) {
    const LoraConfig& c = s.lora->config;
    std::printf("LoRA          adapters rank %d, alpha %g, on %s, %" PRId64
                " parameters; over the base %s (sha256 %s)\n",
                c.rank, c.alpha, join_lora_targets(c.targets).c_str(),
                LoraLayout(m, c).params().total(), s.lora->base_path.c_str(),
                s.lora->base_sha256.c_str());
  }
  if (s.step < 0) {
    std::printf("step          not recorded\n");
  } else {
    const TrainConfig& t = s.config.train;
    const int64_t tokens = s.step * t.batch_size * t.grad_accum * m.seq_len;
    std::printf("step          %" PRId64 " (%" PRId64
                " tokens seen at batch %d x seq %d x accum %d)\n",
                s.step, tokens, t.batch_size, m.seq_len, t.grad_accum);
  }
  return 0;
}

std::string format_list() {
  std::string list;
  for (const std::string& name : weight_format_names()) list += (list.empty() ? "" : "|") + name;
  return list;
}

// Where and how convert and merge write: --out, --to (required unless `default_to` is given),
// --dtype.
std::vector<Flag> output_flags(const std::string& default_to) {
  return {{.name = "out",
           .value = "PATH",
           .help = "where to write (a file, or a directory for hf); must not exist",
           .required = true},
          {.name = "to",
           .value = format_list(),
           .default_value = default_to,
           .help = "the format",
           .required = default_to.empty()},
          {.name = "dtype",
           .value = "f32|f16",
           .default_value = "f32",
           .help = "tensor element type where the format offers both"}};
}

}  // namespace

std::vector<Command> model_commands() {
  return {
      {.name = "convert",
       .summary = "write a model in another format (llama2.c, Hugging Face, GGUF, anetrain)",
       .operand = "IN",
       .flags = output_flags(""),
       .notes = "IN: a checkpoint directory, model.safetensors, a llama2.c .bin, a Hugging Face "
                "directory or a GGUF file",
       .run = run_convert},
      {.name = "merge",
       .summary = "merge LoRA adapters into their base model and write it in any format",
       .flags =
           std::vector<Flag>{
               {.name = "base",
                .value = "PATH",
                .help = "the base model the adapters were trained on (any format; checked "
                        "against the sha256 the adapters recorded)",
                .required = true},
               {.name = "adapters",
                .value = "DIR",
                .help = "the run directory of a 'train --lora-rank' run",
                .required = true}} +
           output_flags("anetrain"),
       .notes = "example: anetrain merge --base stories15M.bin --adapters runs/lora --out "
                "merged.bin --to llama2c",
       .run = run_merge},
      {.name = "info",
       .summary = "a model's format, architecture, parameter count, tokenizer and step",
       .operand = "PATH",
       .flags = {},
       .run = run_info},
  };
}

}  // namespace anetrain
