// anetrain's one thread pool: the OpenMP runtime, which oneDNN also uses. Owning a single
// runtime and pinning its workers one per core avoids the 2-core trap described in
// ../shared/reference/machine-and-baselines.md (unpinned workers sharing a core halve speed).
//
// parallel_for splits [0, n) into fixed contiguous chunks, one per thread, so results that
// depend on the partition (none should, but reductions might) are identical run to run.
#pragma once

#include <cstdint>
#include <functional>

namespace anetrain {

// Before init_thread_pool: this process is number local_rank of local_size processes of one
// job allowed on the same cores, which split them (dist/communicator.h).
void share_cores(int local_rank, int local_size);

// Pins worker i to CPU i of the process's allowed set (of its share of it: share_cores), once.
// Safe to call repeatedly.
void init_thread_pool(int num_threads = 0);
int num_threads();

// Gives the calling thread back every CPU the process was allowed before init_thread_pool
// pinned it to one. For exec(): the new image inherits the caller's mask, and would otherwise
// start with one core (and one thread) where the process had all of them.
void restore_process_affinity();

// fn(begin, end) over disjoint chunks covering [0, n). Runs inline when n is small.
void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                  int64_t min_chunk = 1);

}  // namespace anetrain
