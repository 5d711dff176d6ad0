// Row-wise pieces of causal attention on the CPU, for one tile of query rows at a time.
//
// Blocked causal attention: query rows are taken in tiles of kQueryTile. The tile holding rows
// [i0, i1) only ever sees keys [0, i1), so its score block is (i1 - i0) x i1 and the masked
// upper triangle outside the tile's own diagonal block is never computed. Over a sequence this
// does about half the S x S work of a full square (exactly (n+1)/2n of it for n tiles), and
// no S x S matrix outlives one head's tile.
#pragma once

#include <algorithm>
#include <cstdint>

namespace anetrain::cpu {

// 128 rows measured fastest on layer768 (32 and 64 were slower: the per-tile GEMMs, with
// k = head_dim already small, lose more to call overhead than the masked work they skip).
constexpr int64_t kQueryTile = 128;

// Calls fn(i0, i1) for the query tiles of a length-S sequence, first to last.
template <typename Fn>
void for_each_query_tile(int64_t S, Fn&& fn) {
  for (int64_t i0 = 0; i0 < S; i0 += kQueryTile) fn(i0, std::min(S, i0 + kQueryTile));
}

// In a tile's score block (row r is query i0 + r, ld columns apart, columns [0, i1)), each
// function below touches columns j <= i and writes 0 to the masked columns (i, i1).

// Forward softmax: scores -> probabilities; lse[r] = max + log(sum exp(score - max)).
void causal_softmax_rows(float* scores, int64_t ld, int64_t i0, int64_t i1, float* lse);

// Rebuilds probabilities from scores and the forward pass's log-sum-exp: P = exp(score - lse).
void causal_probs_from_lse(float* scores, int64_t ld, int64_t i0, int64_t i1, const float* lse);

// Softmax backward in place: dS = P * (dP - sum_j P dP) * scale.
void causal_softmax_backward_rows(const float* P, int64_t ldp, float* dP, int64_t ldd, int64_t i0,
                                  int64_t i1, float scale);

}  // namespace anetrain::cpu
