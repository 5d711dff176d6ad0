#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "train/trainer.h"

namespace anetrain {
namespace {

int run_train(const Args& args) {
  RunConfig config = config_from_flags(args);
  if (args.has("precision")) config.train.precision = args.get("precision");
  TrainOptions opts;
  opts.data = args.get("data");
  opts.tokenizer = args.get("tokenizer");
  opts.val_glob = args.get("val");
  opts.out_dir = args.get("out");
  opts.steps = args.get_int("steps");
  opts.resume = args.has("resume");
  opts.backend = args.get("backend");
  opts.seed_given = args.has("seed");
  const long long seed = args.get_int("seed");
  if (seed < 0) throw UserError("anetrain train: --seed must be a non-negative integer");
  opts.seed = static_cast<uint64_t>(seed);
  opts.restart_argv = args.invocation();
  train(config, opts);
  return 0;
}

}  // namespace

Command train_command() {
  const TrainOptions defaults;
  return {
      .name = "train",
      .summary = "train a model: progress lines, validation, metrics.jsonl, checkpoints in --out",
      .flags =
          config_flags() +
          std::vector<Flag>{
              {.name = "data",
               .value = "DIR|GLOB",
               .help =
                   "a dataset directory from 'anetrain data prepare', or a glob of token shards "
                   "(quote it: 'data/train_*.bin')",
               .required = true},
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
