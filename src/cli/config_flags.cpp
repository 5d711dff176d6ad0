#include "cli/config_flags.h"

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

}  // namespace anetrain
