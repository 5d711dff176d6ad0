#include "core/gemm_alone.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/rng.h"

namespace anetrain {

double time_gemm_alone(const GemmShape& shape, int repeats) {
  ANETRAIN_CHECK(repeats > 0);
  const Trans ta = shape.trans_a == 'T' ? Trans::kYes : Trans::kNo;
  const Trans tb = shape.trans_b == 'T' ? Trans::kYes : Trans::kNo;
  const int64_t m = shape.m, n = shape.n, k = shape.k;
  // Dense storage: op(A) [m, k] is stored [k, m] when transposed; likewise B.
  const int64_t lda = ta == Trans::kYes ? m : k, ldb = tb == Trans::kYes ? k : n;
  // A then B in one buffer, so that one region can cover either or both.
  FloatBuffer ab(m * k + k * n), c(m * n, 0.0f);
  Rng rng(5);
  for (auto& v : ab) v = static_cast<float>(rng.normal());
  const float* a = ab.data();
  const float* b = ab.data() + m * k;
  std::unique_ptr<Bf16ReadOnlyRegion> region;
  if (shape.a_pre_rounded || shape.b_pre_rounded)
    region = std::make_unique<Bf16ReadOnlyRegion>(
        shape.a_pre_rounded ? a : b,
        (shape.a_pre_rounded ? m * k : 0) + (shape.b_pre_rounded ? k * n : 0));
  const float beta = shape.accumulate ? 1.0f : 0.0f;
  std::vector<double> seconds;
  for (int i = 0; i <= repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    gemm(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c.data(), n);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (i > 0) seconds.push_back(s);
  }
  std::sort(seconds.begin(), seconds.end());
  return seconds[seconds.size() / 2];
}

}  // namespace anetrain
