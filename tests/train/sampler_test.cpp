// The sampler refuses settings and logits it cannot sample from (issue 17: a NaN top-p or
// temperature, or non-finite logits, read past its buffer), and samples what it should.
#include "train/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using testing::user_error_of;

TEST(Sampler, RefusesSettingsOutsideTheirRange) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (SamplerOptions bad : {SamplerOptions{nan, 0.9f}, SamplerOptions{-1.0f, 0.9f},
                             SamplerOptions{INFINITY, 0.9f}, SamplerOptions{0.8f, nan},
                             SamplerOptions{0.8f, 0.0f}, SamplerOptions{0.8f, 1.5f}})
    EXPECT_THROW(Sampler(bad, 1), UserError) << bad.temperature << " " << bad.top_p;
  EXPECT_NO_THROW(Sampler({0.0f, 1.0f}, 1));
}

TEST(Sampler, NonFiniteLogitsAreAnErrorNotAToken) {
  Sampler greedy({0.0f, 1.0f}, 1), nucleus({0.8f, 0.9f}, 1);
  std::vector<float> logits = {0.5f, 2.0f, -1.0f, 0.0f};
  EXPECT_EQ(greedy.sample(logits.data(), 4), 1);
  logits[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_NE(user_error_of([&] { greedy.sample(logits.data(), 4); }).find("non-finite logit"),
            std::string::npos);
  logits[2] = INFINITY;
  EXPECT_THROW(nucleus.sample(logits.data(), 4), UserError);
}

}  // namespace
}  // namespace anetrain
