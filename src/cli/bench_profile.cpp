#include "cli/bench_profile.h"

#include <cstdio>
#include <set>
#include <string>

#include "core/gemm.h"
#include "core/gemm_alone.h"
#include "core/profiler.h"

namespace anetrain {
namespace {

// "onednn-sgemm" or "onednn-sgemm+openblas": the libraries that ran one shape's calls.
std::string joined(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : "+") + name;
  return out;
}

std::string rate(double amount, double seconds) {
  return amount > 0 ? std::to_string(static_cast<int>(amount / seconds / 1e9)) : "-";
}

// The step's stages, per step. Host work that overlaps kernels (ANE backend) is counted in
// full, so the column can add up to more than 100%. Returns the seconds of memory-bound work
// (stages that counted bytes) and the bytes they moved, over all steps.
std::pair<double, double> print_stages(const BenchProfile& run) {
  std::printf("\n%-28s %8s %10s %8s %10s %8s\n", "where the step goes", "calls", "ms/step", "%",
              "GFLOPS", "GB/s");
  double total = 0, bound_seconds = 0, bytes = 0;
  const double step_seconds = run.median_ms / 1e3;
  for (const auto& [name, e] : Profiler::get().entries()) {
    std::printf("%-28s %8.0f %10.2f %7.1f%% %10s %8s\n", name.c_str(), e.calls / run.steps,
                e.seconds / run.steps * 1e3, 100.0 * e.seconds / run.steps / step_seconds,
                rate(e.flops, e.seconds).c_str(), rate(e.bytes, e.seconds).c_str());
    total += e.seconds;
    if (e.bytes > 0) bound_seconds += e.seconds, bytes += e.bytes;
  }
  std::printf("%-28s %8s %10.2f %7.1f%%\n", "(sum of the above)", "", total / run.steps * 1e3,
              100.0 * total / run.steps / step_seconds);
  std::printf("GB/s: the bytes memory-bound work must read and write, over its time");
  if (run.bandwidth_gbs > 0)
    std::printf(" (the memory bandwidth measured now: %.1f GB/s)", run.bandwidth_gbs);
  std::printf(".\n");
  return {bound_seconds, bytes};
}

// Each GEMM shape's time inside the step beside the same product timed alone. Returns the
// seconds of every gemm() call in the step and the seconds they would take alone.
std::pair<double, double> print_gemms(const BenchProfile& run) {
  Profiler& profiler = Profiler::get();
  profiler.enable(false);  // the solo runs below must not count
  if (profiler.gemms().empty()) return {0, 0};
  std::printf("\n%-40s %6s %9s %7s %10s %10s  %s\n", "GEMMs by shape (inside the rows above)",
              "calls", "ms/step", "%", "GFLOPS", "alone", "library");
  double seconds = 0, flops = 0, alone_seconds = 0;
  const double step_seconds = run.median_ms / 1e3;
  for (const auto& [shape, e] : profiler.gemms()) {
    char name[96];
    std::snprintf(name, sizeof(name), "%c%c m%lld n%lld k%lld%s%s", shape.trans_a, shape.trans_b,
                  static_cast<long long>(shape.m), static_cast<long long>(shape.n),
                  static_cast<long long>(shape.k), shape.accumulate ? " C+=" : "",
                  shape.a_pre_rounded   ? " (A pre-rounded)"
                  : shape.b_pre_rounded ? " (B pre-rounded)"
                                        : "");
    const double alone = time_gemm_alone(shape);
    std::printf("%-40s %6.0f %9.2f %6.1f%% %10.0f %10.0f  %s\n", name, e.calls / run.steps,
                e.seconds / run.steps * 1e3, 100.0 * e.seconds / run.steps / step_seconds,
                e.flops / e.seconds / 1e9, gemm_flops(shape.m, shape.n, shape.k) / alone / 1e9,
                joined(e.libraries).c_str());
    seconds += e.seconds, flops += e.flops;
    alone_seconds += alone * e.calls;
  }
  std::printf("%-40s %6s %9.2f %6.1f%% %10.0f %10.0f\n", "(all gemm() calls)", "",
              seconds / run.steps * 1e3, 100.0 * seconds / run.steps / step_seconds,
              flops / seconds / 1e9, flops / alone_seconds / 1e9);
  std::printf(
      "GFLOPS: inside the step, and the same product repeated alone on warm operands.\n"
      "Attention's per-head products (attention_gemm: fp32, or bf16 inputs in bf16 mode; inside\n"
      "parallel regions) are not listed.\n");
  const std::string store = gemm_choice_store();
  if (!store.empty())
    std::printf(
        "library: what ran the fp32 products, each chosen by measurement on this machine the "
        "first\n"
        "time it was met, stored in %s\n",
        store.c_str());
  return {seconds, alone_seconds};
}

}  // namespace

void print_bench_profile(const BenchProfile& run) {
  const auto [memory_seconds, memory_bytes] = print_stages(run);
  const auto [gemm_seconds, gemm_alone_seconds] = print_gemms(run);
  if (run.bandwidth_gbs <= 0 || run.host_overlaps) return;
  // Per step. What is neither a gemm() call nor memory-bound host work has no bound here.
  const double gemms_alone = gemm_alone_seconds / run.steps * 1e3;
  const double memory_at_bandwidth = memory_bytes / (run.bandwidth_gbs * 1e9) / run.steps * 1e3;
  const double bound = gemms_alone + memory_at_bandwidth;
  const double neither = run.median_ms - (gemm_seconds + memory_seconds) / run.steps * 1e3;
  std::printf(
      "\nbound: the GEMMs alone %.2f ms + the memory-bound host work at %.1f GB/s %.2f ms = %.2f "
      "ms;\nthe step took %.2f ms, %.2fx the bound, of which %.2f ms were neither (attention's "
      "per-head\nproducts, softmax, RoPE, SwiGLU and the other element-wise work inside kernels)\n",
      gemms_alone, run.bandwidth_gbs, memory_at_bandwidth, bound, run.median_ms,
      run.median_ms / bound, neither);
}

}  // namespace anetrain
