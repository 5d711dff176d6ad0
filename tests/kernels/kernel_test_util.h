// Shared scaffolding of the kernel tests (forward_test.cpp, gradient_test.cpp): the model
// shapes they run at, seeded random data at realistic scale, centered finite differences of a
// double scalar function, and a relative+absolute comparison that reports the worst coordinate.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ostream>
#include <string>
#include <vector>

#include "core/rng.h"
#include "kernels/kernels.h"

namespace anetrain::kernel_test {

// One set of dimensions. Odd S and V so no size lines up with a vector width by accident.
struct Case {
  const char* name;
  int64_t D, F, H, G, V, B, S;
  // Std of Wq and Wk. Realistic values (0.1) give nearly flat attention, which would hide a
  // wrong softmax backward; the "sharp" case raises it so the probabilities are peaked.
  double qk_std;
  float norm_eps, rope_theta;
};

inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

inline KernelDims dims_of(const Case& c) {
  return {.D = c.D,
          .F = c.F,
          .H = c.H,
          .G = c.G,
          .E = c.D / c.H,
          .V = c.V,
          .B = c.B,
          .S = c.S,
          .norm_eps = c.norm_eps,
          .rope_theta = c.rope_theta};
}

// gqa/mha/mqa: 2 query heads per kv head, one kv head per query head, one kv head for all.
// mha also uses Llama 3's RoPE theta and mqa a huge norm_eps, so a kernel that hard-codes
// theta = 10000 or drops eps (invisible at eps = 1e-5 and x ~ N(0, 1)) fails somewhere.
// sharp: peaked attention. wide: T = 135 tokens and D = 64, so the CPU backend's parallel_for
// really splits tokens and rows across threads (the small cases mostly run inline).
// long: S = 300 spans three causal query tiles of the CPU attention (128, 128 and a partial
// 44; backends/cpu/softmax_rows.h), so the tiles' key ranges and masks are checked too.
inline std::vector<Case> kernel_cases() {
  return {
      {"gqa", 32, 48, 4, 2, 37, 2, 7, 0.1, 1e-5f, 10000.0f},
      {"mha", 32, 48, 4, 4, 37, 2, 7, 0.1, 1e-5f, 500000.0f},
      {"mqa", 32, 48, 4, 1, 37, 2, 7, 0.1, 0.5f, 10000.0f},
      {"sharp", 32, 48, 4, 2, 37, 2, 7, 0.4, 1e-5f, 10000.0f},
      {"wide", 64, 96, 8, 2, 53, 3, 45, 0.1, 1e-5f, 10000.0f},
      {"long", 32, 48, 4, 2, 37, 1, 300, 0.4, 1e-5f, 10000.0f},
  };
}

inline std::string case_name(const ::testing::TestParamInfo<Case>& info) { return info.param.name; }

inline std::vector<float> normal(Rng& rng, int64_t n, double std, double mean = 0.0) {
  std::vector<float> out(n);
  for (auto& v : out) v = static_cast<float>(mean + std * rng.normal());
  return out;
}

inline std::vector<int32_t> random_tokens(Rng& rng, int64_t n, int64_t V) {
  std::vector<int32_t> out(n);
  for (auto& v : out) v = static_cast<int32_t>(rng.below(static_cast<uint64_t>(V)));
  return out;
}

// The parameters of one layer plus the head, at the scales the tests use: weights
// N(0, 0.05) (inside the 0.02..0.1 of a trained small model), norm weights 1 + N(0, 0.1).
struct Weights {
  std::vector<float> attn_norm, wq, wk, wv, wo;
  std::vector<float> ffn_norm, w1, w3, w2;
  std::vector<float> final_norm, wcls;
};

inline Weights random_weights(const KernelDims& d, double qk_std, Rng& rng) {
  Weights w;
  w.attn_norm = normal(rng, d.D, 0.1, 1.0);
  w.wq = normal(rng, d.QD() * d.D, qk_std);
  w.wk = normal(rng, d.KD() * d.D, qk_std);
  w.wv = normal(rng, d.KD() * d.D, 0.05);
  w.wo = normal(rng, d.D * d.QD(), 0.05);
  w.ffn_norm = normal(rng, d.D, 0.1, 1.0);
  w.w1 = normal(rng, d.F * d.D, 0.05);
  w.w3 = normal(rng, d.F * d.D, 0.05);
  w.w2 = normal(rng, d.D * d.F, 0.05);
  w.final_norm = normal(rng, d.D, 0.1, 1.0);
  // Larger than the rest so the softmax over the vocabulary is not flat.
  w.wcls = normal(rng, d.V * d.D, 0.1);
  return w;
}

struct Tolerance {
  double atol, rtol;  // pass when |actual - expected| <= atol + rtol * |expected|
};

// Values at a set of coordinates of one tensor; `index` are flat indices into it.
struct Sampled {
  std::vector<int64_t> index;
  std::vector<double> value;
};

// All of `candidates` while checking each is cheap, otherwise a fixed-seed random sample of
// `sample` of them that always keeps the first and the last (where off-by-one errors live).
inline std::vector<int64_t> subsample(const std::vector<int64_t>& candidates, Rng& rng,
                                      int64_t max_full = 2048, int64_t sample = 64) {
  const int64_t n = static_cast<int64_t>(candidates.size());
  if (n <= max_full) return candidates;
  std::vector<int64_t> picked = {0, n - 1};
  while (static_cast<int64_t>(picked.size()) < sample) {
    const int64_t i = static_cast<int64_t>(rng.below(static_cast<uint64_t>(n)));
    if (std::find(picked.begin(), picked.end(), i) == picked.end()) picked.push_back(i);
  }
  std::sort(picked.begin(), picked.end());
  std::vector<int64_t> out;
  for (int64_t i : picked) out.push_back(candidates[i]);
  return out;
}

// Coordinates 0..n-1 of a tensor to check by finite differences (see subsample).
inline std::vector<int64_t> coordinates(int64_t n, Rng& rng) {
  std::vector<int64_t> all(n);
  for (int64_t i = 0; i < n; ++i) all[i] = i;
  return subsample(all, rng);
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

inline std::vector<float> to_float(const std::vector<double>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  return out;
}

inline Sampled all_of(const std::vector<double>& v) {
  Sampled s;
  for (size_t i = 0; i < v.size(); ++i) s.index.push_back(static_cast<int64_t>(i));
  s.value = v;
  return s;
}

// Step of the centered differences. In double, truncation error ~h^2 * f''' and rounding error
// ~1e-16 * |L| / h are both far below 1e-8 for the O(1) losses here, so the differences are
// exact to much better than the fp32 kernels they judge.
constexpr double kFdStep = 1e-6;

// dL/dx[i] by centered differences at each i in `coords`; `loss` reads x (which this perturbs
// in place and restores).
template <typename LossFn>
Sampled fd_gradient(std::vector<double>& x, const std::vector<int64_t>& coords, LossFn&& loss) {
  Sampled g;
  g.index = coords;
  for (int64_t i : coords) {
    const double saved = x[i];
    x[i] = saved + kFdStep;
    const double up = loss();
    x[i] = saved - kFdStep;
    const double down = loss();
    x[i] = saved;
    g.value.push_back((up - down) / (2 * kFdStep));
  }
  return g;
}

// expected + prior at the sampled coordinates: what an accumulating kernel should hold.
inline Sampled plus(Sampled s, const std::vector<float>& prior) {
  for (size_t n = 0; n < s.index.size(); ++n) s.value[n] += prior[s.index[n]];
  return s;
}

inline bool verbose() { return std::getenv("ANETRAIN_KERNEL_TEST_VERBOSE") != nullptr; }

// Compares actual[i] with the expected values at the sampled coordinates. On failure, names
// the tensor, how many coordinates fail, and the worst one (by how far past its tolerance it
// is) as [row, col] of a row-major tensor with `cols` columns. With
// ANETRAIN_KERNEL_TEST_VERBOSE set it also prints the observed errors of passing checks, which
// is how the tolerances were chosen.
inline ::testing::AssertionResult close(const std::string& what, const float* actual,
                                        const Sampled& expected, int64_t cols, Tolerance tol) {
  int64_t failures = 0, worst = -1, worst_abs_at = -1;
  double worst_ratio = 0, max_abs = 0, max_expected = 0;
  for (size_t n = 0; n < expected.index.size(); ++n) {
    const int64_t i = expected.index[n];
    const double a = actual[i], b = expected.value[n];
    // A NaN anywhere counts as infinitely wrong, so it fails and is reported as the worst.
    double err = std::fabs(a - b);
    if (std::isnan(err)) err = INFINITY;
    const double ratio = err / (tol.atol + tol.rtol * std::fabs(b));
    if (ratio > 1) ++failures;
    if (worst < 0 || ratio > worst_ratio) worst_ratio = ratio, worst = static_cast<int64_t>(n);
    if (worst_abs_at < 0 || err > max_abs) max_abs = err, worst_abs_at = i;
    max_expected = std::max(max_expected, std::fabs(b));
  }
  if (worst < 0) return ::testing::AssertionFailure() << what << ": nothing compared";
  const int64_t wi = expected.index[worst];
  char line[512];
  std::snprintf(line, sizeof line,
                "%s: %lld of %zu coordinates out of tolerance (atol %.1e, rtol %.1e); worst at "
                "[%lld, %lld]: actual %.9g expected %.9g (|err| %.3g, %.3gx the tolerance); "
                "max |err| %.3g at [%lld, %lld]; max |expected| %.3g",
                what.c_str(), static_cast<long long>(failures), expected.index.size(), tol.atol,
                tol.rtol, static_cast<long long>(wi / cols), static_cast<long long>(wi % cols),
                static_cast<double>(actual[wi]), expected.value[worst],
                std::fabs(actual[wi] - expected.value[worst]), worst_ratio, max_abs,
                static_cast<long long>(worst_abs_at / cols),
                static_cast<long long>(worst_abs_at % cols), max_expected);
  if (failures > 0) return ::testing::AssertionFailure() << line;
  if (verbose()) std::printf("[observed] %s\n", line);
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult close(const std::string& what, const std::vector<float>& actual,
                                        const std::vector<double>& expected, int64_t cols,
                                        Tolerance tol) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure()
           << what << ": size " << actual.size() << " vs " << expected.size();
  return close(what, actual.data(), all_of(expected), cols, tol);
}

}  // namespace anetrain::kernel_test
