// The processes of one training job and the collective operations between them.
//
// A job is either this process alone (rank 0 of 1: every operation is a copy or nothing), or
// one rank of an MPI job started by a launcher (`mpirun -np N anetrain train ...`). The trainer
// and the gradient exchange (dist/grad_exchange.h) are written once against this interface;
// which one a process gets is decided by open_communicator(), by build and environment.
//
// All operations are collective: every rank calls them in the same order. Counts are in
// elements; buffers larger than MPI's int counts are split by the implementation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace anetrain {

// An operation started and not yet finished (a non-blocking reduction).
class PendingReduction {
 public:
  virtual ~PendingReduction() = default;
  // Lets the operation progress without waiting; true once it has finished.
  virtual bool test() = 0;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // This process's place among the job's processes on this machine allowed on the same CPUs
  // (the same affinity mask), which split those cores between them (core/parallel.h).
  int local_rank() const { return local_rank_; }
  int local_size() const { return local_size_; }
  bool is_root() const { return rank_ == 0; }
  bool distributed() const { return size_ > 1; }
  // "rank 1 of 4" (used to prefix a rank's own messages); "" for a single process.
  std::string who() const;

  // Element-wise sum over all ranks, result on every rank.
  virtual void sum(double* values, int64_t n) = 0;
  virtual void sum(float* values, int64_t n) = 0;
  // Starts summing `values` in place over all ranks; the caller keeps it alive until done.
  virtual std::unique_ptr<PendingReduction> start_sum(float* values, int64_t n) = 0;
  // Starts a reduce-scatter: the element-wise sum of every rank's `send` (sum of counts
  // elements); rank r receives the counts[r] elements starting at sum of counts[0..r) into
  // `receive`. `send` and `receive` must not overlap.
  virtual std::unique_ptr<PendingReduction> start_sum_scatter(
      const float* send, float* receive, const std::vector<int64_t>& counts) = 0;
  // Every rank contributes its own part of `data` (rank r: counts[r] elements at offsets[r])
  // and receives every other rank's, in place.
  virtual void gather_everywhere(float* data, const std::vector<int64_t>& counts,
                                 const std::vector<int64_t>& offsets) = 0;
  // Rank 0's bytes to every rank.
  virtual void broadcast(void* data, int64_t bytes) = 0;
  // Rank r's `part` (counts[r] floats) into rank 0's `whole` at offsets[r] (whole is unused
  // elsewhere), or the reverse.
  virtual void gather_to_root(const float* part, float* whole, const std::vector<int64_t>& counts,
                              const std::vector<int64_t>& offsets) = 0;
  virtual void scatter_from_root(const float* whole, float* part,
                                 const std::vector<int64_t>& counts,
                                 const std::vector<int64_t>& offsets) = 0;
  // Ends every process of the job at once with `code` (after this process's own message).
  [[noreturn]] virtual void abort(int code) = 0;

  // Helpers built on the operations above.
  void broadcast(std::string& text);
  bool any(bool flag);                   // true on every rank when true on one
  bool same_everywhere(uint64_t value);  // true when every rank passed the same value

 protected:
  Communicator(int rank, int size, int local_rank, int local_size)
      : rank_(rank), size_(size), local_rank_(local_rank), local_size_(local_size) {}

 private:
  int rank_, size_, local_rank_, local_size_;
};

// This process alone: rank 0 of 1.
std::unique_ptr<Communicator> single_process();

// The job this process belongs to: an MPI job when a launcher started it (Open MPI, MPICH and
// other PMI launchers set variables in its environment) and anetrain was built with MPI; this
// process alone otherwise. Under a launcher without MPI support built in, a UserError says how
// to get it, rather than N processes each training alone into the same directory.
std::unique_ptr<Communicator> open_communicator();

// How many processes the launcher that started this one says the job has (1: no launcher).
int launcher_world_size();

// True when this build can run under an MPI launcher.
bool built_with_mpi();

}  // namespace anetrain
