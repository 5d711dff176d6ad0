// The adapter path's forward and backward (backends/cpu/lora_path.h) against a double-precision
// reference and its centered finite differences.
#include "backends/cpu/lora_path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "support/test_util.h"

namespace anetrain {
namespace {
using namespace anetrain::testing;

constexpr int64_t R = 3, IN = 7, OUT = 5, T = 6;
constexpr float kScale = 1.75f;

// sum over (o, t) of rw[o, t] * scale * (B A X)[o, t], in double.
double reference_loss(const std::vector<double>& a, const std::vector<double>& b,
                      const std::vector<double>& x, const std::vector<float>& rw) {
  double loss = 0;
  for (int64_t o = 0; o < OUT; ++o)
    for (int64_t t = 0; t < T; ++t) {
      double y = 0;
      for (int64_t k = 0; k < R; ++k) {
        double ax = 0;
        for (int64_t i = 0; i < IN; ++i) ax += a[k * IN + i] * x[i * T + t];
        y += b[o * R + k] * ax;
      }
      loss += rw[o * T + t] * kScale * y;
    }
  return loss;
}

std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// Centered differences of the reference loss in each element of `which` (0: A, 1: B, 2: X).
std::vector<double> numeric_grad(int which, const std::vector<float>& a,
                                 const std::vector<float>& b, const std::vector<float>& x,
                                 const std::vector<float>& rw) {
  std::vector<double> p[3] = {widen(a), widen(b), widen(x)};
  std::vector<double> grad(p[which].size());
  const double h = 1e-4;
  for (size_t i = 0; i < grad.size(); ++i) {
    const double keep = p[which][i];
    p[which][i] = keep + h;
    const double up = reference_loss(p[0], p[1], p[2], rw);
    p[which][i] = keep - h;
    const double down = reference_loss(p[0], p[1], p[2], rw);
    p[which][i] = keep;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                  const char* what) {
  double scale = 0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  ASSERT_GT(scale, 0) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * scale) << what << "[" << i << "]";
}

TEST(LoraOps, ForwardAddsTheScaledAdapterPath) {
  init_thread_pool();
  const std::vector<float> a = random_normal(1, R * IN, 0.5), b = random_normal(2, OUT * R, 0.5);
  const std::vector<float> x = random_normal(3, IN * T, 1.0);
  std::vector<float> y = random_normal(4, OUT * T, 1.0), ax(R * T);
  const std::vector<float> y0 = y;
  lora_forward({a.data(), b.data(), R, IN, OUT, kScale}, x.data(), T, ax.data(), y.data());
  for (int64_t o = 0; o < OUT; ++o)
    for (int64_t t = 0; t < T; ++t) {
      double delta = 0;
      for (int64_t k = 0; k < R; ++k) {
        double s = 0;
        for (int64_t i = 0; i < IN; ++i) s += static_cast<double>(a[k * IN + i]) * x[i * T + t];
        delta += b[o * R + k] * s;
      }
      EXPECT_NEAR(y[o * T + t], y0[o * T + t] + kScale * delta, 1e-5);
    }
}

TEST(LoraOps, BackwardMatchesFiniteDifferences) {
  init_thread_pool();
  const std::vector<float> a = random_normal(5, R * IN, 0.5), b = random_normal(6, OUT * R, 0.5);
  const std::vector<float> x = random_normal(7, IN * T, 1.0);
  const std::vector<float> dy = random_normal(8, OUT * T, 1.0);  // d loss / d y
  const LoraWeights w{a.data(), b.data(), R, IN, OUT, kScale};
  std::vector<float> ax(R * T), y(OUT * T, 0.0f), g(R * T);
  lora_forward(w, x.data(), T, ax.data(), y.data());
  std::vector<float> da(R * IN, 9.0f), db(OUT * R, 9.0f), dx(IN * T, 0.0f);
  lora_backward(w, dy.data(), x.data(), ax.data(), T, g.data(), da.data(), db.data(), dx.data(),
                GradWrite::kOverwrite);
  expect_close(da, numeric_grad(0, a, b, x, dy), "dA");
  expect_close(db, numeric_grad(1, a, b, x, dy), "dB");
  expect_close(dx, numeric_grad(2, a, b, x, dy), "dX");

  // Accumulating adds the same gradients again; dX always accumulates.
  std::vector<float> da2 = da, db2 = db, dx2 = dx;
  lora_backward(w, dy.data(), x.data(), ax.data(), T, g.data(), da2.data(), db2.data(), dx2.data(),
                GradWrite::kAccumulate);
  for (size_t i = 0; i < da.size(); ++i)
    EXPECT_NEAR(da2[i], 2 * da[i], 1e-5 * std::abs(da[i]) + 1e-6);
  for (size_t i = 0; i < db.size(); ++i)
    EXPECT_NEAR(db2[i], 2 * db[i], 1e-5 * std::abs(db[i]) + 1e-6);
  for (size_t i = 0; i < dx.size(); ++i)
    EXPECT_NEAR(dx2[i], 2 * dx[i], 1e-5 * std::abs(dx[i]) + 1e-6);
}

// With B = 0, as a fresh adapter starts, the path adds nothing and A gets no gradient, but B
// does (LoRA's first step moves B only).
TEST(LoraOps, AFreshAdapterAddsNothingAndTrainsBFirst) {
  init_thread_pool();
  const std::vector<float> a = random_normal(9, R * IN, 0.5), b(OUT * R, 0.0f);
  const std::vector<float> x = random_normal(10, IN * T, 1.0), dy = random_normal(11, OUT * T, 1);
  const LoraWeights w{a.data(), b.data(), R, IN, OUT, kScale};
  std::vector<float> ax(R * T), y = random_normal(12, OUT * T, 1.0), g(R * T);
  const std::vector<float> y0 = y;
  lora_forward(w, x.data(), T, ax.data(), y.data());
  EXPECT_EQ(y, y0);
  std::vector<float> da(R * IN), db(OUT * R), dx(IN * T, 0.0f);
  lora_backward(w, dy.data(), x.data(), ax.data(), T, g.data(), da.data(), db.data(), dx.data(),
                GradWrite::kOverwrite);
  EXPECT_TRUE(std::all_of(da.begin(), da.end(), [](float v) { return v == 0.0f; }));
  EXPECT_TRUE(std::all_of(dx.begin(), dx.end(), [](float v) { return v == 0.0f; }));
  EXPECT_TRUE(std::any_of(db.begin(), db.end(), [](float v) { return v != 0.0f; }));
}

// Dropout in the kernels' form: the adapter sees drop * X, and its input-gradient share is
// masked the same way (kernels.h LoraAdapter); the gradient of drop * X is drop * dX, so the
// masked share is dX of the dropped input through the chain rule.
TEST(LoraOps, DropoutMasksTheAdaptersInputAndItsGradientShare) {
  init_thread_pool();
  const std::vector<float> a = random_normal(13, R * IN, 0.5), b = random_normal(14, OUT * R, 0.5);
  const std::vector<float> x = random_normal(15, IN * T, 1.0), dy = random_normal(16, OUT * T, 1);
  std::vector<float> drop(IN * T), dropped(IN * T);
  for (int64_t i = 0; i < IN * T; ++i) {
    drop[i] = i % 3 == 0 ? 0.0f : 1.5f;  // p = 1/3
    dropped[i] = drop[i] * x[i];
  }
  std::vector<float> ax(R * T), scratch(R * T), y(OUT * T, 0.0f), y_want(OUT * T, 0.0f);
  LoraAdapter ad{.a = a.data(),
                 .b = b.data(),
                 .ax = ax.data(),
                 .scratch = scratch.data(),
                 .drop = drop.data(),
                 .r = R,
                 .scale = kScale};
  lora_forward(ad, IN, OUT, x.data(), T, y.data());
  std::vector<float> ax_want(R * T);
  lora_forward({a.data(), b.data(), R, IN, OUT, kScale}, dropped.data(), T, ax_want.data(),
               y_want.data());
  EXPECT_EQ(y, y_want);
  EXPECT_EQ(ax, ax_want);

  std::vector<float> dx(IN * T, 1.0f), share(IN * T, 0.0f);
  lora_input_grad(ad, IN, OUT, dy.data(), T, dx.data());
  ad.drop = nullptr;
  lora_input_grad(ad, IN, OUT, dy.data(), T, share.data());
  for (int64_t i = 0; i < IN * T; ++i) {
    EXPECT_NEAR(dx[i], 1.0f + drop[i] * share[i], 1e-6) << i;
    if (drop[i] == 0.0f) EXPECT_EQ(dx[i], 1.0f) << i;
  }
}

}  // namespace
}  // namespace anetrain
