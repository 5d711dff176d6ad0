#include "dist/grad_exchange.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/profiler.h"
#include "train/grad_norm.h"

namespace anetrain {
namespace {

using Clock = std::chrono::steady_clock;

// Times a wait into `total` (and the profiler).
class WaitTimer {
 public:
  explicit WaitTimer(double& total) : total_(total), scope_("dist wait") {}
  ~WaitTimer() { total_ += std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  double& total_;
  ProfileScope scope_;
  Clock::time_point start_ = Clock::now();
};

}  // namespace

ShardPlan plan_shards(int64_t n_params, int rank, int size, bool sharded) {
  ShardPlan plan;
  plan.sharded = sharded && size > 1;
  const int64_t blocks = grad_norm_blocks(n_params);
  if (plan.sharded && size > blocks)
    throw UserError("shard_optimizer splits the parameters into " + std::to_string(blocks) +
                    " blocks, fewer than the job's " + std::to_string(size) +
                    " ranks: run at most " + std::to_string(blocks) +
                    " ranks, or set shard_optimizer=false");
  for (int r = 0; r < size; ++r) {
    int64_t b0 = 0, b1 = blocks;
    if (plan.sharded) b0 = blocks * r / size, b1 = blocks * (r + 1) / size;
    const int64_t p0 = grad_norm_block_start(n_params, blocks, b0),
                  p1 = grad_norm_block_start(n_params, blocks, b1);
    plan.offsets.push_back(p0);
    plan.counts.push_back(p1 - p0);
    if (r == rank) plan.first_block = b0, plan.end_block = b1, plan.begin = p0, plan.end = p1;
  }
  return plan;
}

GradExchange::GradExchange(Communicator& comm, int64_t n_params, const ExchangeOptions& options)
    : comm_(comm),
      options_(options),
      n_(n_params),
      plan_(plan_shards(n_params, comm.rank(), comm.size(), options.shard_optimizer)),
      launched_begin_(n_params),
      ready_begin_(n_params) {
  if (plan_.sharded) shard_grads_ = FloatBuffer(plan_.end - plan_.begin);
}

void GradExchange::launch(float* grads, int64_t begin, int64_t end) {
  if (begin >= end) return;
  if (!plan_.sharded) {
    pending_.push_back(comm_.start_sum(grads + begin, end - begin));
    return;
  }
  // Each rank receives the part of [begin, end) inside its shard.
  std::vector<int64_t> counts(comm_.size());
  for (int r = 0; r < comm_.size(); ++r) {
    const int64_t lo = std::max(begin, plan_.offsets[r]);
    const int64_t hi = std::min(end, plan_.offsets[r] + plan_.counts[r]);
    counts[r] = std::max<int64_t>(0, hi - lo);
  }
  const int64_t mine = std::max(begin, plan_.begin) - plan_.begin;
  float* receive = shard_grads_.data() + std::min<int64_t>(mine, shard_grads_.size());
  pending_.push_back(comm_.start_sum_scatter(grads + begin, receive, counts));
}

void GradExchange::ready(float* grads, int64_t begin, int64_t end) {
  if (!overlapping() || !in_order_) return;
  if (end != ready_begin_ || begin > end) {
    in_order_ = false;  // finish() reduces whatever was not launched, in one piece
    return;
  }
  ready_begin_ = begin;
  if ((launched_begin_ - ready_begin_) * static_cast<int64_t>(sizeof(float)) >=
      options_.bucket_bytes) {
    launch(grads, ready_begin_, launched_begin_);
    launched_begin_ = ready_begin_;
  }
  // MPI libraries progress non-blocking operations when called: poke the ones in flight.
  for (auto& p : pending_) p->test();
}

void GradExchange::finish(float* grads) {
  wait_seconds_ = 0;
  if (!comm_.distributed()) return;
  launch(grads, 0, launched_begin_);
  {
    WaitTimer timer(wait_seconds_);
    for (auto& p : pending_) p->wait();
  }
  pending_.clear();
  launched_begin_ = ready_begin_ = n_;
  in_order_ = true;
  if (plan_.sharded) std::copy(shard_grads_.begin(), shard_grads_.end(), grads + plan_.begin);
}

double GradExchange::norm(const float* grads) {
  if (!plan_.sharded) return global_grad_norm(grads, n_);
  std::vector<double> partial(grad_norm_blocks(n_), 0.0);
  grad_norm_partials(grads, n_, plan_.first_block, plan_.end_block, partial.data());
  {
    // Each block is non-zero on one rank only: the sum is exact, the same bits everywhere.
    WaitTimer timer(wait_seconds_);
    comm_.sum(partial.data(), static_cast<int64_t>(partial.size()));
  }
  return norm_of_partials(partial);
}

void GradExchange::share_updated(float* params) {
  if (!plan_.sharded) return;
  WaitTimer timer(wait_seconds_);
  comm_.gather_everywhere(params, plan_.counts, plan_.offsets);
}

}  // namespace anetrain
