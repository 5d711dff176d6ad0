#include "core/parallel.h"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <vector>

namespace anetrain {
namespace {
bool g_initialized = false;
int g_local_rank = 0, g_local_size = 1;
cpu_set_t g_allowed_at_start;  // the process's CPUs before the pool pinned its threads
bool g_have_allowed = false;
}  // namespace

void restore_process_affinity() {
  if (g_have_allowed) sched_setaffinity(0, sizeof(g_allowed_at_start), &g_allowed_at_start);
}

void share_cores(int local_rank, int local_size) {
  g_local_rank = local_rank;
  g_local_size = local_size;
}

void init_thread_pool(int requested) {
  if (g_initialized) return;
  g_initialized = true;
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  g_allowed_at_start = allowed;
  g_have_allowed = true;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  // Processes of one job allowed on the same cores split them: each takes an equal share
  // (at least one core), from its own first core.
  const int ncpu = static_cast<int>(cpus.size());
  const bool shared = g_local_size > 1;
  int threads = requested > 0 ? requested : (shared ? ncpu / g_local_size : ncpu);
  threads = std::max(1, threads);
  const int first = shared ? (g_local_rank * threads) % ncpu : 0;
  omp_set_dynamic(0);
  omp_set_num_threads(threads);
  // Each OpenMP worker pins itself to its own core. The master pins last-but-first, i.e. it is
  // worker 0; pinning inside the region means later regions reuse the same pinned threads.
#pragma omp parallel num_threads(threads)
  {
    int id = omp_get_thread_num();
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[(first + id) % cpus.size()], &one);
    sched_setaffinity(0, sizeof(one), &one);
  }
}

int num_threads() { return omp_get_max_threads(); }

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk) {
  if (n <= 0) return;
  int threads = omp_get_max_threads();
  if (threads <= 1 || n < 2 * min_chunk) {
    fn(0, n);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, n / min_chunk);
#pragma omp parallel for schedule(static, 1) num_threads(static_cast <int>(chunks))
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t begin = n * c / chunks, end = n * (c + 1) / chunks;
    fn(begin, end);
  }
}

}  // namespace anetrain
