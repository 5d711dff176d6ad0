#include "cli/commands.h"

namespace anetrain {

const std::vector<Command>& all_commands() {
  static const std::vector<Command> table = [] {
    std::vector<Command> t = {train_command(), sample_command(), eval_command(), bench_command()};
    for (auto group : {model_commands(), tokenizer_commands(), data_commands(), ane_commands()})
      t.insert(t.end(), group.begin(), group.end());
    t.push_back(probe_command());
    return t;
  }();
  return table;
}

}  // namespace anetrain
