// The optimizers the config key `optimizer` chooses from. A new one is one line here.
#include <memory>

#include "core/error.h"
#include "train/adamw.h"
#include "train/lion.h"
#include "train/optimizer.h"

namespace anetrain {
namespace {

template <class T>
std::unique_ptr<Optimizer> make(const TrainConfig& config, const ParamLayout& layout) {
  return std::make_unique<T>(config, layout);
}

}  // namespace

const std::vector<OptimizerKind>& optimizer_kinds() {
  static const std::vector<OptimizerKind> kinds = {
      {"adamw", "AdamW, decoupled weight decay (torch.optim.AdamW)", make<AdamW>},
      {"lion", "Lion, the sign of an interpolated momentum", make<Lion>},
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
