// Data parallelism's step: every rank's gradients summed over the job, one global gradient
// norm, and (with a sharded optimizer) the updated weights shared again.
//
// Plain data parallel: gradients are summed with allreduce, and every rank updates every
// parameter with identical inputs, so the weights stay identical. ZeRO stage 1
// (shard_optimizer): gradients are reduce-scattered so that each rank receives the sum for its
// own shard of the parameters, updates only that shard (its optimizer holds state for the
// shard alone: Optimizer::restrict_to), and the shards are all-gathered back into every rank's
// weights. Shards are whole blocks of the gradient norm's fixed partition (train/grad_norm.h), so
// the norm is the same sum in the same order either way.
//
// Overlap: during the last micro-batch's backward pass the model reports each range of
// gradients as soon as it is final (Transformer::GradReady); ranges are gathered into buckets
// of about bucket_bytes and each bucket's reduction starts at once (non-blocking), so the
// exchange runs while later layers' gradients are computed. finish() waits for the rest.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/aligned_buffer.h"
#include "dist/communicator.h"

namespace anetrain {

struct ExchangeOptions {
  bool overlap = true;           // reduce buckets during backward (false: one reduction after it)
  bool shard_optimizer = false;  // ZeRO stage 1
  int64_t bucket_bytes = 8 << 20;
};

// Which parameters each rank updates: rank r owns [offsets[r], offsets[r] + counts[r]) and the
// norm blocks [first_block, end_block) covering them. Unsharded, every rank owns everything.
struct ShardPlan {
  std::vector<int64_t> counts, offsets;
  int64_t first_block = 0, end_block = 0;  // this rank's
  int64_t begin = 0, end = 0;              // this rank's parameters
  bool sharded = false;
};
ShardPlan plan_shards(int64_t n_params, int rank, int size, bool sharded);

class GradExchange {
 public:
  GradExchange(Communicator& comm, int64_t n_params, const ExchangeOptions& options);

  const ShardPlan& plan() const { return plan_; }
  bool overlapping() const { return options_.overlap && comm_.distributed(); }

  // Gradients [begin, end) of `grads` are final for this step; ranges come from the end of the
  // layout towards its start. Starts a bucket's reduction when enough has gathered.
  void ready(float* grads, int64_t begin, int64_t end);
  // After the backward pass: every reduction done; grads[plan().begin, plan().end) hold the
  // sum over all ranks (the rest of grads is undefined when sharded).
  void finish(float* grads);
  // *value summed over all ranks, in place.
  void sum_over_ranks(double* value) { comm_.sum(value, 1); }
  // The global norm of the summed gradients, bit-identical on every rank and to
  // global_grad_norm over the whole summed vector.
  double norm(const float* grads);
  // After the update of this rank's parameters: every rank's updated shard into every rank's
  // params (nothing to do unsharded).
  void share_updated(float* params);

  // Seconds this step spent waiting for communication (finish, norm, share_updated).
  double wait_seconds() const { return wait_seconds_; }

 private:
  void launch(float* grads, int64_t begin, int64_t end);

  Communicator& comm_;
  ExchangeOptions options_;
  int64_t n_;
  ShardPlan plan_;
  FloatBuffer shard_grads_;  // sharded: this rank's summed gradients as they arrive
  std::vector<std::unique_ptr<PendingReduction>> pending_;
  int64_t launched_begin_;  // [launched_begin_, n) is being reduced this step
  int64_t ready_begin_;     // [ready_begin_, launched_begin_) is final, not yet launched
  bool in_order_ = true;    // ready() ranges arrived back to back from the end
  double wait_seconds_ = 0;
};

}  // namespace anetrain
