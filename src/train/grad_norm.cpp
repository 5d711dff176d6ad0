#include "train/grad_norm.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "core/profiler.h"

namespace anetrain {

int64_t grad_norm_blocks(int64_t n) { return std::max<int64_t>(64, n / 16384); }

void grad_norm_partials(const float* grads, int64_t n, int64_t first, int64_t end,
                        double* partial) {
  const int64_t blocks = grad_norm_blocks(n);
  parallel_for(end - first, [&](int64_t b0, int64_t b1) {
    for (int64_t b = first + b0; b < first + b1; ++b) {
      // 32 independent lanes, summed in a fixed order so the result does not depend on the
      // machine or threads. With 8 the loop waits on the adds' latency instead of on memory;
      // GCC 12 compiles `omp simd reduction` here into a slower loop still.
      constexpr int kLanes = 32;
      double lane[kLanes] = {};
      const int64_t stop = grad_norm_block_start(n, blocks, b + 1);
      int64_t i = grad_norm_block_start(n, blocks, b);
      for (; i + kLanes <= stop; i += kLanes)
        for (int k = 0; k < kLanes; ++k)
          lane[k] += static_cast<double>(grads[i + k]) * grads[i + k];
      for (; i < stop; ++i) lane[0] += static_cast<double>(grads[i]) * grads[i];
      double sum = 0.0;
      for (double l : lane) sum += l;
      partial[b] = sum;
    }
  });
}

double norm_of_partials(const std::vector<double>& partial) {
  double total = 0.0;
  for (double p : partial) total += p;
  return std::sqrt(total);
}

double global_grad_norm(const float* grads, int64_t n) {
  std::vector<double> partial(grad_norm_blocks(n), 0.0);
  grad_norm_partials(grads, n, 0, static_cast<int64_t>(partial.size()), partial.data());
  return norm_of_partials(partial);
}

void GradNorm::start(const float* grads, int64_t n) {
  grads_ = grads;
  n_ = n;
  blocks_ = grad_norm_blocks(n);
  partial_.assign(blocks_, 0.0);
  done_.assign(blocks_, 0);
}

void GradNorm::finished(int64_t begin, int64_t end) {
  ANETRAIN_CHECK(grads_ && 0 <= begin && begin <= end && end <= n_, "GradNorm: bad range");
  if (begin == end) return;
  // The blocks lying wholly inside [begin, end); a block it shares with a neighbour waits
  // for finish().
  int64_t first = begin * blocks_ / n_;
  while (grad_norm_block_start(n_, blocks_, first) < begin) ++first;
  int64_t last = first;  // one past the last block inside
  while (last < blocks_ && grad_norm_block_start(n_, blocks_, last + 1) <= end) ++last;
  if (last <= first) return;
  ProfileScope scope(
      "host grad norm in backward",
      MemoryBytes{4.0 * static_cast<double>(grad_norm_block_start(n_, blocks_, last) -
                                            grad_norm_block_start(n_, blocks_, first))});
  grad_norm_partials(grads_, n_, first, last, partial_.data());
  std::fill(done_.begin() + first, done_.begin() + last, 1);
}

int64_t GradNorm::blocks_summed() const { return std::count(done_.begin(), done_.end(), 1); }

double GradNorm::finish() {
  ANETRAIN_CHECK(grads_, "GradNorm::finish before start");
  int64_t left = 0;  // gradients not summed yet
  for (int64_t b = 0; b < blocks_; ++b)
    if (!done_[b])
      left += grad_norm_block_start(n_, blocks_, b + 1) - grad_norm_block_start(n_, blocks_, b);
  ProfileScope scope("host grad norm", MemoryBytes{4.0 * static_cast<double>(left)});
  for (int64_t b = 0; b < blocks_;) {
    if (done_[b]) {
      ++b;
      continue;
    }
    int64_t e = b;
    while (e < blocks_ && !done_[e]) ++e;
    grad_norm_partials(grads_, n_, b, e, partial_.data());
    b = e;
  }
  grads_ = nullptr;
  return norm_of_partials(partial_);
}

}  // namespace anetrain
