// The LoRA adapter's path beside a frozen weight, as two thin GEMMs each way (model/lora.h):
// for Y = W X with X [in, T] channel-first, the adapter adds scale * B (A X), A [r, in],
// B [out, r], without ever forming W + scale B A. Backward gives the adapters' gradients and
// adds the adapter path's share to the input gradient; W gets no gradient.
#pragma once

#include <cstdint>

#include "core/grad_write.h"
#include "kernels/kernels.h"

namespace anetrain {

struct LoraWeights {
  const float* a;  // [r, in]
  const float* b;  // [out, r]
  int64_t r, in, out;
  float scale;  // alpha / r
};

// ax[r, T] = A X (kept for the backward pass); y[out, T] += scale * B ax.
void lora_forward(const LoraWeights& w, const float* x, int64_t T, float* ax, float* y);

// From dy [out, T] (the gradient of Y), the input X and ax from lora_forward:
//   dB (+)= scale * dY ax^T            [out, r]
//   g      = scale * B^T dY             [r, T]   (scratch, r x T floats)
//   dA (+)= g X^T                       [r, in]
//   dX    += A^T g                      [in, T]  (the adapter path's share; dx may be null)
// With a dropout mask `drop` [in, T] (kernels.h LoraAdapter), X is the input before the mask:
// dA uses drop * X and the share added to dX is drop * A^T g.
void lora_backward(const LoraWeights& w, const float* dy, const float* x, const float* ax,
                   int64_t T, float* g, float* da, float* db, float* dx, GradWrite write,
                   const float* drop = nullptr);

// The kernels' form (kernels.h LoraAdapter) beside a weight [out, in]: when the adapter is
// active, y += scale B (A x) writing its tap ax; and dx += A^T (scale B^T dy) through its
// scratch. Nothing when it is inactive.
void lora_forward(const LoraAdapter& adapter, int64_t in, int64_t out, const float* x, int64_t T,
                  float* y);
void lora_input_grad(const LoraAdapter& adapter, int64_t in, int64_t out, const float* dy,
                     int64_t T, float* dx);

}  // namespace anetrain
