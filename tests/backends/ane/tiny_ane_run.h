// The 3-layer tiny training the ANE tests compare across backends and drivers: loss scaling
// on (fp16 gradients need it), 50 steps unless told otherwise.
#pragma once

#include <string>
#include <vector>

namespace anetrain::testing {

inline std::vector<std::string> tiny_ane_run(const std::string& data, const std::string& pipeline,
                                             const std::string& out, const std::string& backend) {
  return {"train",
          "--config",
          "tiny",
          "--set",
          "n_layers=3",
          "--set",
          "batch_size=2",
          "--set",
          "loss_scale=1024",
          "--set",
          "dynamic_loss_scale=true",
          "--set",
          "ane_pipeline=" + pipeline,
          "--data",
          data,
          "--steps",
          "50",
          "--out",
          out,
          "--backend",
          backend};
}

}  // namespace anetrain::testing
