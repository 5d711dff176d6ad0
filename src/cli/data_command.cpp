// `anetrain data prepare --tokenizer SPEC --input PATH... --out DIR [--val-fraction F]
//  [--text-field NAME] [--shard-tokens N] [--force]`
#include <cstdio>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "data/prepare.h"

namespace anetrain {

int run_data_command(const std::vector<std::string>& argv) {
  if (argv.empty() || argv[0] != "prepare")
    throw UserError("anetrain data: expected 'prepare' (run 'anetrain help')");
  Args args("data prepare", std::vector<std::string>(argv.begin() + 1, argv.end()),
            {"tokenizer", "input", "out", "val-fraction", "text-field", "shard-tokens"},
            {"force", "quiet"});
  PrepareOptions o;
  o.tokenizer_spec = args.require("tokenizer");
  o.inputs = args.all("input");
  if (o.inputs.empty()) args.require("input");
  o.out_dir = args.require("out");
  o.val_fraction = args.get_double("val-fraction", o.val_fraction);
  o.text_field = args.get("text-field", o.text_field);
  o.shard_tokens = args.get_int("shard-tokens", o.shard_tokens);
  o.force = args.has("force");
  o.progress = !args.has("quiet");
  const PrepareResult r = prepare_dataset(o);
  std::printf("prepared %s: %lld train tokens (%lld documents), %lld val tokens (%lld documents), "
              "%lld skipped, %.1f MB in %.1f s (%.2f MB/s)\n",
              o.out_dir.c_str(), static_cast<long long>(r.train_tokens),
              static_cast<long long>(r.train_documents), static_cast<long long>(r.val_tokens),
              static_cast<long long>(r.val_documents), static_cast<long long>(r.skipped),
              r.bytes / 1e6, r.seconds, r.bytes / 1e6 / std::max(r.seconds, 1e-9));
  return 0;
}

}  // namespace anetrain
