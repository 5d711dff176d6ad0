#include "backends/ane/programs/plan_runner.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace anetrain::ane {
namespace {

// xnorm = x * (mean_c x^2 + eps)^-1/2 * gain, in fp32: host work in the proven form, as in
// the seed's dynamic pipeline.
std::vector<float> host_rmsnorm(const std::vector<float>& x, const float* gain, int64_t C,
                                int64_t S, float eps) {
  std::vector<float> sum(S, 0.0f), out(x.size());
  for (int64_t c = 0; c < C; ++c)
    for (int64_t s = 0; s < S; ++s) sum[s] += x[c * S + s] * x[c * S + s];
  for (int64_t s = 0; s < S; ++s) sum[s] = 1.0f / std::sqrt(sum[s] / static_cast<float>(C) + eps);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t s = 0; s < S; ++s) out[c * S + s] = x[c * S + s] * sum[s] * gain[c];
  return out;
}

}  // namespace

void run_plan(const KernelPlan& plan, const BlockWeights& w, const KernelDims& d,
              SequenceTensors& values, const PartRunner& run_part) {
  const int64_t S = d.S;
  if (plan.host_norm) {
    const std::vector<float>& x = values.at("x");
    values["xnorm"] =
        host_rmsnorm(x, w.*plan.host_norm, static_cast<int64_t>(x.size()) / S, S, d.norm_eps);
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
