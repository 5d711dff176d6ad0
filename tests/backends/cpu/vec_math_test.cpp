// The CPU backend's inline math (backends/cpu/vec_math.h) against libm and plain loops.
#include "backends/cpu/vec_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace anetrain::cpu {
namespace {

TEST(VecMath, ExpIsWithinAFewUlpOfLibm) {
  double worst = 0;
  for (float x = -87.0f; x <= 88.0f; x += 0.00731f) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(exp_vectorizable(x) - want) / want);
  }
  EXPECT_LT(worst, 4e-7);  // about 3 ulp of float
  EXPECT_EQ(exp_vectorizable(0.0f), 1.0f);
  // Clamped ends: tiny but positive below -87, finite above 88.
  EXPECT_GT(exp_vectorizable(-1000.0f), 0.0f);
  EXPECT_LT(exp_vectorizable(-1000.0f), 1e-37f);
  EXPECT_TRUE(std::isfinite(exp_vectorizable(1000.0f)));
}

TEST(VecMath, SigmoidSaturatesCleanly) {
  EXPECT_NEAR(sigmoid(0.0f), 0.5f, 1e-7f);
  EXPECT_NEAR(sigmoid(3.0f), 1.0 / (1.0 + std::exp(-3.0)), 1e-7);
  EXPECT_EQ(sigmoid(200.0f), 1.0f);
  EXPECT_GE(sigmoid(-200.0f), 0.0f);
  EXPECT_LT(sigmoid(-200.0f), 1e-37f);
}

TEST(VecMath, LaneReductionsMatchPlainLoops) {
  // Lengths around the 16-lane width, including tails and n = 1.
  for (int64_t n : {1, 15, 16, 17, 33, 1000}) {
    std::vector<float> x(n), y(n);
    for (int64_t i = 0; i < n; ++i) {
      x[i] = std::sin(0.37f * static_cast<float>(i)) * 3.0f;
      y[i] = std::cos(0.11f * static_cast<float>(i));
    }
    double max = x[0], dot_ref = 0, exp_ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      max = std::max<double>(max, x[i]);
      dot_ref += static_cast<double>(x[i]) * y[i];
    }
    for (int64_t i = 0; i < n; ++i) exp_ref += std::exp(static_cast<double>(x[i]) - max);
    EXPECT_EQ(max_of(x.data(), n), static_cast<float>(max)) << n;
    EXPECT_NEAR(dot(x.data(), y.data(), n), dot_ref, 1e-5 * (1 + std::abs(dot_ref))) << n;
    std::vector<float> e = x;
    const float s = exp_shifted_sum(e.data(), n, static_cast<float>(max));
    EXPECT_NEAR(s, exp_ref, 1e-5 * exp_ref) << n;
    for (int64_t i = 0; i < n; ++i)
      EXPECT_NEAR(e[i], std::exp(static_cast<double>(x[i]) - max), 1e-6) << n << " " << i;
  }
}

}  // namespace
}  // namespace anetrain::cpu
