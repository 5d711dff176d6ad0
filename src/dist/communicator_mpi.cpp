// open_communicator() over MPI, for a build with MPI (CMake found it).
// The C API only: the deprecated C++ bindings mpi.h would otherwise pull in need a library of
// their own.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <sched.h>

#include <climits>
#include <cstdint>
#include <cstdio>

#include "core/error.h"
#include "dist/communicator.h"

namespace anetrain {
namespace {

// MPI counts are ints: larger buffers go in pieces of this many elements.
constexpr int64_t kPiece = int64_t{1} << 30;

int as_count(int64_t n, const char* what) {
  if (n < 0 || n > INT_MAX)
    throw UserError(std::string(what) + " of " + std::to_string(n) +
                    " elements exceeds MPI's 2^31-1 per rank: use more ranks or a smaller model");
  return static_cast<int>(n);
}

std::vector<int> as_counts(const std::vector<int64_t>& v, const char* what) {
  std::vector<int> out;
  for (int64_t x : v) out.push_back(as_count(x, what));
  return out;
}

class MpiRequests final : public PendingReduction {
 public:
  // `counts`: arrays the operation reads until it finishes (MPI requires them kept).
  explicit MpiRequests(std::vector<MPI_Request> requests, std::vector<int> counts = {})
      : requests_(std::move(requests)), counts_(std::move(counts)) {}
  ~MpiRequests() override {
    if (!requests_.empty()) wait();
  }
  bool test() override {
    int done = 0;
    MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE);
    return done != 0;
  }
  void wait() override {
    MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  }

 private:
  std::vector<MPI_Request> requests_;
  std::vector<int> counts_;
};

struct Place {
  int rank, size, local_rank, local_size;
};

// A color for the set of CPUs this process may run on: processes with equal sets share cores.
int affinity_color() {
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  uint32_t h = 2166136261u;  // FNV-1a over the mask
  const auto* bytes = reinterpret_cast<const unsigned char*>(&set);
  for (size_t i = 0; i < sizeof set; ++i) h = (h ^ bytes[i]) * 16777619u;
  return static_cast<int>(h & 0x7fffffff);
#else
  return 0;  // no affinity masks (macOS): every process on the machine may use every core
#endif
}

Place start_mpi() {
  int provided = 0;
  // FUNNELED: only the main thread calls MPI; the thread pool never does.
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  Place p{};
  MPI_Comm_rank(MPI_COMM_WORLD, &p.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &p.size);
  // The ranks on this machine whose CPU sets are the same (a launcher that binds each rank to
  // its own cores leaves every rank alone in its group).
  MPI_Comm machine, same_cores;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, p.rank, MPI_INFO_NULL, &machine);
  MPI_Comm_split(machine, affinity_color(), p.rank, &same_cores);
  MPI_Comm_rank(same_cores, &p.local_rank);
  MPI_Comm_size(same_cores, &p.local_size);
  MPI_Comm_free(&same_cores);
  MPI_Comm_free(&machine);
  return p;
}

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(Place p) : Communicator(p.rank, p.size, p.local_rank, p.local_size) {}
  ~MpiCommunicator() override { MPI_Finalize(); }

  void sum(double* values, int64_t n) override { sum_pieces(values, n, MPI_DOUBLE); }
  void sum(float* values, int64_t n) override { sum_pieces(values, n, MPI_FLOAT); }

  std::unique_ptr<PendingReduction> start_sum(float* values, int64_t n) override {
    std::vector<MPI_Request> requests;
    for (int64_t at = 0; at < n; at += kPiece) {
      requests.emplace_back();
      MPI_Iallreduce(MPI_IN_PLACE, values + at, static_cast<int>(std::min(kPiece, n - at)),
                     MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &requests.back());
    }
    return std::make_unique<MpiRequests>(std::move(requests));
  }

  std::unique_ptr<PendingReduction> start_sum_scatter(const float* send, float* receive,
                                                      const std::vector<int64_t>& counts) override {
    std::vector<int> c = as_counts(counts, "a gradient shard");
    std::vector<MPI_Request> requests(1);
    MPI_Ireduce_scatter(send, receive, c.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &requests[0]);
    return std::make_unique<MpiRequests>(std::move(requests), std::move(c));
  }

  void gather_everywhere(float* data, const std::vector<int64_t>& counts,
                         const std::vector<int64_t>& offsets) override {
    const std::vector<int> c = as_counts(counts, "a weight shard");
    const std::vector<int> o = as_counts(offsets, "a weight offset");
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, c.data(), o.data(), MPI_FLOAT,
                   MPI_COMM_WORLD);
  }

  void broadcast(void* data, int64_t bytes) override {
    auto* p = static_cast<char*>(data);
    for (int64_t at = 0; at < bytes; at += kPiece)
      MPI_Bcast(p + at, static_cast<int>(std::min(kPiece, bytes - at)), MPI_BYTE, 0,
                MPI_COMM_WORLD);
  }

  void gather_to_root(const float* part, float* whole, const std::vector<int64_t>& counts,
                      const std::vector<int64_t>& offsets) override {
    const std::vector<int> c = as_counts(counts, "a state shard");
    const std::vector<int> o = as_counts(offsets, "a state offset");
    MPI_Gatherv(part, c[rank()], MPI_FLOAT, whole, c.data(), o.data(), MPI_FLOAT, 0,
                MPI_COMM_WORLD);
  }

  void scatter_from_root(const float* whole, float* part, const std::vector<int64_t>& counts,
                         const std::vector<int64_t>& offsets) override {
    const std::vector<int> c = as_counts(counts, "a state shard");
    const std::vector<int> o = as_counts(offsets, "a state offset");
    MPI_Scatterv(whole, c.data(), o.data(), MPI_FLOAT, part, c[rank()], MPI_FLOAT, 0,
                 MPI_COMM_WORLD);
  }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  template <typename T>
  void sum_pieces(T* values, int64_t n, MPI_Datatype type) {
    for (int64_t at = 0; at < n; at += kPiece)
      MPI_Allreduce(MPI_IN_PLACE, values + at, static_cast<int>(std::min(kPiece, n - at)), type,
                    MPI_SUM, MPI_COMM_WORLD);
  }
};

}  // namespace

bool built_with_mpi() { return true; }

std::unique_ptr<Communicator> open_communicator() {
  if (launcher_world_size() <= 1) return single_process();
  return std::make_unique<MpiCommunicator>(start_mpi());
}

}  // namespace anetrain
