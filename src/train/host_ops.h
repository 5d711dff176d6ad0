// Host work shared by every backend (the seed runs these on the CPU beside the ANE):
// embedding, residual adds and weight gradients. RMSNorm's backward, host work too, sits beside
// its forward in backends/cpu/rmsnorm.h.
// All activations are channel-first [C, T] as in kernels/kernels.h.
#pragma once

#include <cstdint>

#include "core/grad_write.h"

namespace anetrain {

// x[c, t] = table[tokens[t], c]; table is [V, D].
void embedding_forward(const int32_t* tokens, const float* table, int64_t D, int64_t T, float* x);
// dtable[tokens[t], c] += dx[c, t].
void embedding_backward(const int32_t* tokens, const float* dx, int64_t D, int64_t T,
                        float* dtable);

// x[0, n) = 0 on the whole pool (gradient buffers are tens of MB; one thread cannot fill
// them at memory speed).
void fill_zero(float* x, int64_t n);

// out = a + b, element-wise over n floats (out may alias a or b).
void add(const float* a, const float* b, int64_t n, float* out);

// dW[out, in] (+)= dY[out, T] * X[in, T]^T: the weight gradient of Y = W X.
void weight_grad(const float* dy, const float* x, int64_t out, int64_t in, int64_t T, float* dw,
                 GradWrite write);

// dW[v, c] (+)= sum_t dlogits[t, v] xnorm[c, t]: the classifier's gradient (logits are [T, V]).
void classifier_grad(const float* dlogits, const float* xnorm, int64_t V, int64_t D, int64_t T,
                     float* dw, GradWrite write);

}  // namespace anetrain
