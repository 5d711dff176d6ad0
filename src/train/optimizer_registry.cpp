// The optimizers the config key `optimizer` chooses from. A new one is its maker's declaration
// and one line in the table.
#include <memory>

#include "core/error.h"
#include "train/optimizer.h"

namespace anetrain {

// Each defined in the optimizer's own file (train/adamw.cpp, train/lion.cpp).
std::unique_ptr<Optimizer> make_adamw(const TrainConfig& config, const ParamLayout& layout);
std::unique_ptr<Optimizer> make_lion(const TrainConfig& config, const ParamLayout& layout);

const std::vector<OptimizerKind>& optimizer_kinds() {
  static const std::vector<OptimizerKind> kinds = {
      {"adamw", "AdamW, decoupled weight decay (torch.optim.AdamW)", make_adamw},
      {"lion", "Lion, the sign of an interpolated momentum", make_lion},
  };
  return kinds;
}

const OptimizerKind& optimizer_kind(const std::string& name) {
  std::string known;
  for (const OptimizerKind& kind : optimizer_kinds()) {
    if (kind.name == name) return kind;
    known += (known.empty() ? "" : ", ") + kind.name;
  }
  throw UserError("optimizer '" + name + "' is unknown: use one of " + known);
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& config, const ParamLayout& layout) {
  const OptimizerKind& kind = optimizer_kind(config.optimizer);
  std::unique_ptr<Optimizer> optimizer = kind.make(config, layout);
  ANETRAIN_CHECK(optimizer->name() == kind.name, "optimizer registered under another name");
  return optimizer;
}

}  // namespace anetrain
