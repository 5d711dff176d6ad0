// The mock's cumulative event counters (anemock.h describes each), shared by the files that
// count events; counts.cpp reports them.
#pragma once

#include <atomic>
#include <cstdint>

namespace anemock {

struct Counters {
  std::atomic<int64_t> surfaces_created{0}, compiles{0}, loads{0}, failed_loads{0}, unloads{0},
      evaluates{0}, loaded_models{0};
  std::atomic<int64_t> process_compiles{0};  // never reset: the compile budget is per process
  std::atomic<int> fail_next_loads{0};
};

Counters& counters();

}  // namespace anemock
