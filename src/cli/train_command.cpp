#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "train/trainer.h"

namespace anetrain {

int run_train_command(const std::vector<std::string>& argv, const std::vector<std::string>& full_argv) {
  Args args("train", argv, {"config", "set", "data", "val", "steps", "out", "backend", "seed", "tokenizer",
             "precision"},
            {"resume"});
  RunConfig config = config_from_flags(args);
  if (args.has("precision")) config.train.precision = args.get("precision");
  TrainOptions opts;
  opts.data = args.require("data");
  opts.tokenizer = args.get("tokenizer");
  opts.val_glob = args.get("val");
  opts.out_dir = args.require("out");
  opts.steps = args.get_int("steps", 0);
  if (!args.has("steps")) args.require("steps");
  opts.resume = args.has("resume");
  opts.backend = args.get("backend", "cpu");
  opts.seed_given = args.has("seed");
  const long long seed = args.get_int("seed", 1337);
  if (seed < 0) throw UserError("anetrain train: --seed must be a non-negative integer");
  opts.seed = static_cast<uint64_t>(seed);
  opts.restart_argv = full_argv;
  train(config, opts);
  return 0;
}

}  // namespace anetrain
