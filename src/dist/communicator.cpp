#include "dist/communicator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace anetrain {
namespace {

class Finished final : public PendingReduction {
 public:
  bool test() override { return true; }
  void wait() override {}
};

class SingleProcess final : public Communicator {
 public:
  SingleProcess() : Communicator(0, 1, 0, 1) {}
  void sum(double*, int64_t) override {}
  void sum(float*, int64_t) override {}
  std::unique_ptr<PendingReduction> start_sum(float*, int64_t) override {
    return std::make_unique<Finished>();
  }
  std::unique_ptr<PendingReduction> start_sum_scatter(const float* send, float* receive,
                                                      const std::vector<int64_t>& counts) override {
    std::copy(send, send + counts.at(0), receive);
    return std::make_unique<Finished>();
  }
  void gather_everywhere(float*, const std::vector<int64_t>&,
                         const std::vector<int64_t>&) override {}
  void broadcast(void*, int64_t) override {}
  void gather_to_root(const float* part, float* whole, const std::vector<int64_t>& counts,
                      const std::vector<int64_t>& offsets) override {
    std::copy(part, part + counts.at(0), whole + offsets.at(0));
  }
  void scatter_from_root(const float* whole, float* part, const std::vector<int64_t>& counts,
                         const std::vector<int64_t>& offsets) override {
    std::copy(whole + offsets.at(0), whole + offsets.at(0) + counts.at(0), part);
  }
  [[noreturn]] void abort(int code) override { std::exit(code); }
};

}  // namespace

std::string Communicator::who() const {
  if (!distributed()) return "";
  return "rank " + std::to_string(rank_) + " of " + std::to_string(size_);
}

void Communicator::broadcast(std::string& text) {
  int64_t n = static_cast<int64_t>(text.size());
  broadcast(&n, sizeof n);
  text.resize(static_cast<size_t>(n));
  broadcast(text.data(), n);
}

bool Communicator::any(bool flag) {
  double v = flag ? 1.0 : 0.0;
  sum(&v, 1);
  return v > 0.0;
}

bool Communicator::same_everywhere(uint64_t value) {
  uint64_t root_value = value;
  broadcast(&root_value, sizeof root_value);
  return !any(root_value != value);
}

std::unique_ptr<Communicator> single_process() { return std::make_unique<SingleProcess>(); }

int launcher_world_size() {
  // Open MPI's mpirun, MPICH/Intel MPI's hydra (PMI), MVAPICH.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"}) {
    if (const char* v = std::getenv(name)) {
      const int n = std::atoi(v);
      if (n >= 1) return n;
    }
  }
  return 1;
}

}  // namespace anetrain
