// The global gradient norm that clipping divides by: sqrt(sum g^2) over every gradient, summed
// in a fixed order so it does not depend on threads, ranks or when each part was summed.
//
// [0, n) is cut into grad_norm_blocks(n) fixed blocks, block b being [n*b/K, n*(b+1)/K); each
// block's sum of squares is a partial, and the norm sums the partials in order. Data
// parallelism sums the partials of each rank's shard (dist/grad_exchange.h); GradNorm sums the
// blocks of each weight gradient as soon as backward finishes it, just after it was written,
// so the step's tail after backward is the optimizer's pass alone.
#pragma once

#include <cstdint>
#include <vector>

namespace anetrain {

// K for n gradients: blocks of about 16K floats (at least 64 blocks), small enough that most
// blocks lie inside one weight tensor.
int64_t grad_norm_blocks(int64_t n);
// The first gradient of block b of K over n.
inline int64_t grad_norm_block_start(int64_t n, int64_t blocks, int64_t b) {
  return n * b / blocks;
}

// The sums of squares of blocks [first, end) into partial[first, end).
void grad_norm_partials(const float* grads, int64_t n, int64_t first, int64_t end, double* partial);
// sqrt of the sum of all grad_norm_blocks(n) partials, in order.
double norm_of_partials(const std::vector<double>& partial);
double global_grad_norm(const float* grads, int64_t n);

// The global norm of one buffer of gradients, summed as parts of it become final: start(),
// then finished(begin, end) for ranges whose values will not change again this step (from any
// thread; ranges must not overlap), then finish(), which sums what no range covered and
// returns global_grad_norm's bits whichever ranges came.
class GradNorm {
 public:
  void start(const float* grads, int64_t n);
  void finished(int64_t begin, int64_t end);
  double finish();
  // Blocks summed so far (by finished()).
  int64_t blocks_summed() const;

 private:
  const float* grads_ = nullptr;
  int64_t n_ = 0, blocks_ = 0;
  std::vector<double> partial_;
  std::vector<char> done_;  // per block: its partial is summed (written by one range only)
};

}  // namespace anetrain
