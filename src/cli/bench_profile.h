// The profile `anetrain bench --profile` prints after the timed steps: where the step's time
// goes (per kernel and host stage, with GFLOPS for compute and GB/s for memory-bound work),
// each GEMM shape inside the step beside the same product timed alone, and, with a measured
// bandwidth, the step against its bound: its GEMMs at their stand-alone speed plus its
// memory-bound host work at the bandwidth.
#pragma once

namespace anetrain {

struct BenchProfile {
  double steps = 0;            // timed steps the profiler saw
  double median_ms = 0;        // the step's median time
  double bandwidth_gbs = 0;    // measured in the same run; 0 when not measured
  bool host_overlaps = false;  // host work ran beside the kernels (ANE): no bound is printed
};

// Prints it and stops the profiler (the stand-alone GEMM runs must not count).
void print_bench_profile(const BenchProfile& run);

}  // namespace anetrain
