#include "cli/config_flags.h"

namespace anetrain {

RunConfig config_from_flags(const Args& args) {
  RunConfig config = load_config(args.require("config"));
  for (const std::string& kv : args.all("set")) apply_override(config, kv);
  config.model.validate();
  return config;
}

}  // namespace anetrain
