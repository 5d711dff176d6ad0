#include <unistd.h>

#include <cstdio>
#include <new>
#include <optional>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "dist/communicator.h"
#include "model/lora.h"
#include "model/memory.h"
#include "train/model_source.h"
#include "train/trainer.h"

namespace anetrain {
namespace {

// The keys that fix a model's parameters (seq_len does not: a pretrained model fine-tunes on
// shorter or longer windows), as text for messages.
std::vector<std::pair<std::string, std::string>> architecture(const ModelConfig& m) {
  char eps[32], theta[32];
  std::snprintf(eps, sizeof eps, "%g", m.norm_eps);
  std::snprintf(theta, sizeof theta, "%g", m.rope_theta);
  return {{"dim", std::to_string(m.dim)},
          {"hidden_dim", std::to_string(m.hidden_dim)},
          {"n_layers", std::to_string(m.n_layers)},
          {"n_heads", std::to_string(m.n_heads)},
          {"n_kv_heads", std::to_string(m.n_kv_heads)},
          {"vocab_size", std::to_string(m.vocab_size)},
          {"tied_embeddings", m.tied_embeddings ? "true" : "false"},
          {"norm_eps", eps},
          {"rope_theta", theta}};
}

void require_architecture(const ModelConfig& given, const ModelSource& init,
                          const std::string& where) {
  const auto want = architecture(init.config.model), have = architecture(given);
  for (size_t i = 0; i < want.size(); ++i)
    if (want[i].second != have[i].second)
      throw UserError(where + " sets " + have[i].first + " = " + have[i].second + " but the " +
                      "--init model '" + init.path + "' has " + want[i].first + " = " +
                      want[i].second + ": its architecture comes from the file; drop the setting");
}

// --init: the model's architecture from the file, the training keys from --config (default:
// the tiny preset's) and --set; any model key given that contradicts the file is an error.
RunConfig config_for_init(const Args& args) {
  const ModelSource init = open_model_source(args.get("init"));
  RunConfig config;  // the training keys' defaults, unless --config names others
  if (args.has("config")) {
    config = load_config(args.get("config"));
    require_architecture(config.model, init, "--config " + args.get("config"));
  }
  config.model = init.config.model;
  config.preset = init.config.preset;
  apply_overrides(config, args.all("set"));
  require_architecture(config.model, init, "--set");
  config.model.validate();
  return config;
}

// What an out-of-memory run asked for, so the message says which setting to change.
std::string out_of_memory_message(const RunConfig& config, const std::optional<LoraConfig>& lora) {
  const TrainConfig& t = config.train;
  const TrainingMemory m = training_memory(config.model, t.batch_size, config.model.seq_len,
                                           t.recompute, 8.0, lora ? &*lora : nullptr);
  const double gb = 1e9;
  const double machine = static_cast<double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  char text[512];
  std::snprintf(text, sizeof text,
                "out of memory: this run needs about %.3g GB (%.3g GB of weights, gradients and "
                "optimizer state for dim %d x %d layers, vocab %d; %.3g GB of activations for "
                "batch_size %d x seq_len %d) and this machine has %.3g GB: use a smaller model, "
                "batch_size or seq_len, or --set recompute=true",
                m.total() / gb, m.state_bytes / gb, config.model.dim, config.model.n_layers,
                config.model.vocab_size, m.activation_bytes / gb, t.batch_size,
                config.model.seq_len, machine / gb);
  return text;
}

int run_train(const Args& args) {
  if (!args.has("init") && !args.has("config"))
    throw UserError(
        "anetrain train: --config is required unless --init gives the model (run "
        "'anetrain train --help')");
  RunConfig config = args.has("init") ? config_for_init(args) : config_from_flags(args);
  if (args.has("precision")) config.train.precision = args.get("precision");
  TrainOptions opts;
  opts.data = args.get("data");
  opts.tokenizer = args.get("tokenizer");
  opts.val_glob = args.get("val");
  opts.out_dir = args.get("out");
  opts.steps = args.get_int("steps");
  opts.resume = args.has("resume");
  opts.force = args.has("force");
  opts.init = args.get("init");
  opts.lora = lora_from_flags(args, "anetrain train");
  opts.backend = args.get("backend");
  opts.seed_given = args.has("seed");
  opts.verify_data = !args.has("no-verify");
  const long long seed = args.get_int("seed");
  if (seed < 0) throw UserError("anetrain train: --seed must be a non-negative integer");
  opts.seed = static_cast<uint64_t>(seed);
  opts.restart_argv = args.invocation();
  opts.exchange.overlap = !args.has("no-overlap");
  opts.exchange.shard_optimizer = args.has("shard-optimizer");
  if (args.has("bucket-mb")) {
    const double mb = args.get_double("bucket-mb");
    if (!(mb >= 0.01 && mb <= 4096))
      throw UserError(
          "anetrain train: --bucket-mb must be between 0.01 and 4096 (MB of "
          "gradients per reduction)");
    opts.exchange.bucket_bytes = static_cast<int64_t>(mb * (1 << 20));
  }
  const std::unique_ptr<Communicator> job = open_communicator();
  TrainResult result;
  try {
    try {
      result = train(config, opts, *job);
    } catch (const std::bad_alloc&) {
      throw UserError(out_of_memory_message(config, opts.lora));
    }
  } catch (const std::exception& e) {
    if (!job->distributed()) throw;
    // One rank's error ends the whole job at once: the others would wait for it forever.
    std::fprintf(stderr, "anetrain (%s): error: %s\n", job->who().c_str(), e.what());
    job->abort(1);
  }
  // The shell's convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM.
  return result.stopped_by_signal ? 128 + result.stopped_by_signal : 0;
}

}  // namespace

Command train_command() {
  const TrainOptions defaults;
  return {
      .name = "train",
      .summary = "train a model: progress lines, validation, metrics.jsonl, checkpoints in --out",
      .flags =
          config_flags(/*config_required=*/false) +
          std::vector<Flag>{
              {.name = "data",
               .value = "DIR|GLOB",
               .help =
                   "a dataset directory from 'anetrain data prepare', or a glob of token shards "
                   "(quote it: 'data/train_*.bin')",
               .required = true},
              {.name = "no-verify",
               .help = "skip the sha256 check of a dataset directory's shards against its "
                       "manifest (which shards there are and their sizes are still checked)"},
              {.name = "val",
               .value = "GLOB",
               .help =
                   "validation shards (default: the dataset's validation split; none for a glob)"},
              {.name = "steps",
               .value = "N",
               .help = "the run's total optimizer steps; with --resume training continues until N",
               .required = true},
              {.name = "out",
               .value = "DIR",
               .help = "run directory: checkpoint, metrics.jsonl, samples (plot: "
                       "tools/plot_metrics.py)",
               .required = true},
              {.name = "resume", .help = "continue from the checkpoint in --out, bit-exactly"},
              {.name = "shard-optimizer",
               .help = "under mpirun: each rank keeps the optimizer state of its own shard of "
                       "the parameters only (ZeRO stage 1; memory per rank / ranks)"},
              {.name = "no-overlap",
               .help = "under mpirun: reduce gradients after the backward pass instead of in "
                       "buckets during it (for comparison)"},
              {.name = "bucket-mb",
               .value = "N",
               .help = "under mpirun: MB of gradients per overlapped reduction (default 8)"},
              {.name = "force",
               .help = "start a fresh run in an --out that holds model weights but no "
                       "checkpoint, overwriting them"},
              {.name = "init",
               .value = "PATH",
               .help = "fine-tune: start from this model's weights (a checkpoint directory, "
                       "model.safetensors, a llama2.c .bin, a Hugging Face directory, GGUF) with "
                       "a fresh optimizer; its architecture comes from the file, and its "
                       "tokenizer when it carries one"},
          } +
          lora_flags("LoRA: train rank-R adapters over the frozen --init model instead of its "
                     "weights; the checkpoint holds the adapters (see 'anetrain merge')") +
          std::vector<Flag>{
              {.name = "backend",
               .value = "cpu|ane",
               .default_value = defaults.backend,
               .help = "where the kernels run; ane needs macOS on Apple silicon"},
              {.name = "seed",
               .value = "N",
               .default_value = std::to_string(defaults.seed),
               .help = "initialisation and data-order seed (a resumed run keeps its own)"},
              {.name = "tokenizer",
               .value = "SPEC",
               .help = "bytes | sp:PATH.model | gpt2:DIR (default: the dataset's, else the "
                       "checkpoint's); used for the samples shown at validation"},
              {.name = "precision",
               .value = "fp32|bf16",
               .help = "GEMM input precision (default: the config key 'precision'); bf16 needs "
                       "AVX-512 BF16 or AMX"},
          },
      .notes =
          "example: anetrain train --config tiny --set vocab_size=4096 \\\n"
          "           --data data/prepared/moby-dick-4096 --steps 1000 --out runs/moby",
      .run = run_train,
  };
}

}  // namespace anetrain
