#include "cli/config_flags.h"

#include "core/error.h"

namespace anetrain {

std::vector<Flag> config_flags(bool config_required) {
  return {
      {.name = "config",
       .value = "PRESET|FILE.json",
       .help = std::string("a preset (tiny, stories15M, stories42M, stories110M, layer768) or a "
                           "JSON file of config keys ('anetrain help config')") +
               (config_required ? "" : "; required unless --init gives the model"),
       .required = config_required},
      {.name = "set",
       .value = "KEY=VALUE",
       .help = "override one config key, e.g. --set lr=3e-4 ('anetrain help config' lists them)",
       .repeated = true},
  };
}

RunConfig config_from_flags(const Args& args) {
  RunConfig config = load_config(args.get("config"));
  apply_overrides(config, args.all("set"));
  config.model.validate();
  config.train.validate();
  return config;
}

std::vector<Flag> operator+(std::vector<Flag> a, const std::vector<Flag>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Flag adapters_flag() {
  return {.name = "adapters",
          .value = "DIR",
          .help =
              "LoRA adapters (a 'train --lora-rank' run directory) merged into the "
              "--checkpoint model, which must be the base they were trained on (a LoRA run "
              "directory given as --checkpoint merges its recorded base)"};
}

std::vector<Flag> lora_flags(const std::string& rank_help) {
  return {
      {.name = "lora-rank", .value = "R", .help = rank_help},
      {.name = "lora-alpha",
       .value = "A",
       .help = "LoRA: the adapters' update is scaled by A / R (default 16)"},
      {.name = "lora-targets",
       .value = "LIST",
       .help = "LoRA: the weights to adapt in every block, of wq,wk,wv,wo,w1,w2,w3 "
               "(default: all seven)"},
      {.name = "lora-dropout",
       .value = "P",
       .help = "LoRA: dropout on the adapters' inputs while training, in [0, 1) (default 0)"},
  };
}

std::optional<LoraConfig> lora_from_flags(const Args& args, const std::string& command) {
  if (!args.has("lora-rank")) {
    for (const char* flag : {"lora-alpha", "lora-targets", "lora-dropout"})
      if (args.has(flag))
        throw UserError(command + ": --" + flag +
                        " needs --lora-rank R (the adapters' rank, e.g. 8)");
    return std::nullopt;
  }
  LoraConfig lora;
  const long long rank = args.get_int("lora-rank");
  if (rank < 1 || rank > 1 << 20)
    throw UserError(command + ": --lora-rank must be a positive integer (e.g. 8)");
  lora.rank = static_cast<int>(rank);
  if (args.has("lora-alpha")) lora.alpha = static_cast<float>(args.get_double("lora-alpha"));
  if (args.has("lora-targets")) lora.targets = parse_lora_targets(args.get("lora-targets"));
  if (args.has("lora-dropout")) lora.dropout = static_cast<float>(args.get_double("lora-dropout"));
  return lora;
}

}  // namespace anetrain
