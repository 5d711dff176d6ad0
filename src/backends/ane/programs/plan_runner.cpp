#include "backends/ane/programs/plan_runner.h"

#include <algorithm>

#include "backends/cpu/rmsnorm.h"
#include "core/error.h"

namespace anetrain::ane {

void run_plan(const KernelPlan& plan, const BlockWeights& w, const KernelDims& d,
              SequenceTensors& values, const PartRunner& run_part) {
  const int64_t S = d.S;
  if (plan.host_norm) {
    // Host work in the proven form, as in the seed's dynamic pipeline: the CPU backend's RMSNorm.
    const std::vector<float>& x = values.at("x");
    std::vector<float> xnorm(x.size()), rms_inv(S);
    cpu::rmsnorm_forward(x.data(), w.*plan.host_norm, static_cast<int64_t>(x.size()) / S, S,
                         d.norm_eps, xnorm.data(), rms_inv.data());
    values["xnorm"] = std::move(xnorm);
  }
  for (size_t i = 0; i < plan.parts.size(); ++i) {
    const KernelProgram& part = plan.parts[i];
    SequenceTensors slots;
    for (const SurfaceSlot& s : part.inputs) {
      auto it = values.find(s.name);
      ANETRAIN_CHECK(it != values.end(), "ANE " + part.name() + ": no tensor '" + s.name + "'");
      ANETRAIN_CHECK(static_cast<int64_t>(it->second.size()) >= (s.offset + s.channels) * S,
                     "ANE " + part.name() + ": tensor '" + s.name + "' is too small");
      slots[s.name].assign(it->second.begin() + s.offset * S,
                           it->second.begin() + (s.offset + s.channels) * S);
    }
    const std::vector<float> surface = run_part(i, slots);
    ANETRAIN_CHECK(static_cast<int64_t>(surface.size()) == part.output_channels() * S,
                   "ANE " + part.name() + ": output surface of the wrong size");
    int64_t channel = 0;
    for (const SurfaceSlot& s : part.outputs) {
      std::vector<float>& t = values[s.name];
      if (static_cast<int64_t>(t.size()) < (s.offset + s.channels) * S)
        t.resize((s.offset + s.channels) * S, 0.0f);
      std::copy(surface.begin() + channel * S, surface.begin() + (channel + s.channels) * S,
                t.begin() + s.offset * S);
      channel += s.channels;
    }
  }
}

}  // namespace anetrain::ane
