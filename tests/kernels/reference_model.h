// A scalar reference of the FORWARD computation of every fused kernel in kernels/kernels.h and
// of the host embedding, used by tests/kernels to check the backends' forward kernels and, in
// double precision, as the function whose centered finite differences the backward kernels
// are checked against.
//
// It is written from the contracts in kernels/kernels.h alone, not from any backend: plain
// loops, no GEMM library, no caching, nothing fused, so a shared misreading of the contract is
// the only way the reference and a backend can agree on a wrong answer. Templated on the
// scalar type (float or double) so the same code serves as an fp32 mirror and as the double
// oracle. Layout is the kernels' channel-first [C, T] with T = B*S (channel c of sequence b at
// position s lives at [c * T + b * S + s]); logits are token-major [T, V]; probabilities are
// [H, B, S, S] with row i the query position, as in SdpaBackward1Args.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/kernels.h"

namespace anetrain::ref {

template <typename Real>
using Buf = std::vector<Real>;

template <typename To, typename From>
Buf<To> cast(const Buf<From>& in) {
  Buf<To> out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = static_cast<To>(in[i]);
  return out;
}

// out[c, t] = x[c, t] * r[t] * w[c] with r[t] = 1 / sqrt(mean_c x[c, t]^2 + eps).
template <typename Real>
Buf<Real> rmsnorm(const Buf<Real>& x, const Buf<Real>& w, int64_t C, int64_t T, Real eps,
                  Buf<Real>* rms_inv = nullptr) {
  Buf<Real> out(C * T), r(T);
  for (int64_t t = 0; t < T; ++t) {
    Real sumsq = 0;
    for (int64_t c = 0; c < C; ++c) sumsq += x[c * T + t] * x[c * T + t];
    r[t] = Real(1) / std::sqrt(sumsq / static_cast<Real>(C) + eps);
  }
  for (int64_t c = 0; c < C; ++c)
    for (int64_t t = 0; t < T; ++t) out[c * T + t] = x[c * T + t] * r[t] * w[c];
  if (rms_inv) *rms_inv = r;
  return out;
}

// Y[o, t] = sum_i W[o, i] X[i, t]: a projection with Meta's [out, in] weights.
template <typename Real>
Buf<Real> project(const Buf<Real>& W, const Buf<Real>& X, int64_t out, int64_t in, int64_t T) {
  Buf<Real> Y(out * T, Real(0));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < in; ++i) {
      const Real w = W[o * in + i];
      for (int64_t t = 0; t < T; ++t) Y[o * T + t] += w * X[i * T + t];
    }
  return Y;
}

// llama2.c's RoPE, in place on x [heads*E, B*S]: within each head the interleaved pair of
// channels (2i, 2i+1) is rotated by angle s * theta^(-2i/E), s the position within its own
// sequence (so every sequence of the micro-batch starts again at angle 0).
template <typename Real>
void rope(Buf<Real>& x, int64_t heads, const KernelDims& d) {
  const int64_t E = d.E, T = d.T();
  const Real theta = static_cast<Real>(d.rope_theta);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < E / 2; ++i) {
      const Real freq = std::pow(theta, -static_cast<Real>(2 * i) / static_cast<Real>(E));
      Real* r0 = x.data() + (h * E + 2 * i) * T;
      Real* r1 = r0 + T;
      for (int64_t b = 0; b < d.B; ++b)
        for (int64_t s = 0; s < d.S; ++s) {
          const Real angle = static_cast<Real>(s) * freq;
          const Real c = std::cos(angle), sn = std::sin(angle);
          const int64_t t = b * d.S + s;
          const Real u = r0[t], v = r1[t];
          r0[t] = u * c - v * sn;
          r1[t] = u * sn + v * c;
        }
    }
}

template <typename Real>
struct SdpaResult {
  Buf<Real> attn;   // [H*E, T]
  Buf<Real> lse;    // [H, T] log-sum-exp of each scaled, masked score row
  Buf<Real> probs;  // [H, B, S, S], zero above the diagonal
};

// The kv head that query head h reads under GQA.
inline int64_t kv_head(const KernelDims& d, int64_t h) { return h / (d.H / d.G); }

// attn[h*E + e, b*S + i] = sum_{j <= i} P[h, b, i, j] v[g*E + e, b*S + j], g = kv_head(h).
// Entries of P above the diagonal are never read: the causal mask removes them from the
// function, which is what the gradient tests differentiate.
template <typename Real>
Buf<Real> attend(const Buf<Real>& probs, const Buf<Real>& v, const KernelDims& d) {
  const int64_t E = d.E, T = d.T(), S = d.S;
  Buf<Real> attn(d.QD() * T, Real(0));
  for (int64_t h = 0; h < d.H; ++h) {
    const int64_t g = kv_head(d, h);
    for (int64_t b = 0; b < d.B; ++b)
      for (int64_t i = 0; i < S; ++i) {
        const Real* p = probs.data() + ((h * d.B + b) * S + i) * S;
        for (int64_t e = 0; e < E; ++e) {
          Real sum = 0;
          for (int64_t j = 0; j <= i; ++j) sum += p[j] * v[(g * E + e) * T + b * S + j];
          attn[(h * E + e) * T + b * S + i] = sum;
        }
      }
  }
  return attn;
}

// Causal scaled dot-product attention with GQA on already-rotated q [H*E, T], k [G*E, T] and
// v [G*E, T]: P = softmax over j <= i of q_i . k_j / sqrt(E), then attend.
template <typename Real>
SdpaResult<Real> sdpa(const Buf<Real>& q, const Buf<Real>& k, const Buf<Real>& v,
                      const KernelDims& d) {
  const int64_t E = d.E, T = d.T(), S = d.S;
  const Real scale = Real(1) / std::sqrt(static_cast<Real>(E));
  SdpaResult<Real> r;
  r.lse.assign(d.H * T, Real(0));
  r.probs.assign(d.H * d.B * S * S, Real(0));
  Buf<Real> scores(S);
  for (int64_t h = 0; h < d.H; ++h) {
    const int64_t g = kv_head(d, h);
    for (int64_t b = 0; b < d.B; ++b)
      for (int64_t i = 0; i < S; ++i) {
        Real max = -std::numeric_limits<Real>::infinity();
        for (int64_t j = 0; j <= i; ++j) {
          Real dot = 0;
          for (int64_t e = 0; e < E; ++e)
            dot += q[(h * E + e) * T + b * S + i] * k[(g * E + e) * T + b * S + j];
          scores[j] = dot * scale;
          if (scores[j] > max) max = scores[j];
        }
        Real sum = 0;
        for (int64_t j = 0; j <= i; ++j) sum += std::exp(scores[j] - max);
        const Real lse = max + std::log(sum);
        r.lse[h * T + b * S + i] = lse;
        Real* p = r.probs.data() + ((h * d.B + b) * S + i) * S;
        for (int64_t j = 0; j <= i; ++j) p[j] = std::exp(scores[j] - lse);
      }
  }
  r.attn = attend(r.probs, v, d);
  return r;
}

template <typename Real>
struct AttentionResult {
  Buf<Real> y, xnorm, rms_inv, q, k, v, attn, lse, probs;
};

// attention_forward: RMSNorm -> Q, K, V -> RoPE on Q, K -> causal GQA SDPA -> Wo (no residual).
template <typename Real>
AttentionResult<Real> attention_forward(const KernelDims& d, const Buf<Real>& x,
                                        const Buf<Real>& norm_w, const Buf<Real>& wq,
                                        const Buf<Real>& wk, const Buf<Real>& wv,
                                        const Buf<Real>& wo) {
  const int64_t D = d.D, T = d.T();
  AttentionResult<Real> r;
  r.xnorm = rmsnorm(x, norm_w, D, T, static_cast<Real>(d.norm_eps), &r.rms_inv);
  r.q = project(wq, r.xnorm, d.QD(), D, T);
  r.k = project(wk, r.xnorm, d.KD(), D, T);
  r.v = project(wv, r.xnorm, d.KD(), D, T);
  rope(r.q, d.H, d);
  rope(r.k, d.G, d);
  SdpaResult<Real> s = sdpa(r.q, r.k, r.v, d);
  r.attn = std::move(s.attn);
  r.lse = std::move(s.lse);
  r.probs = std::move(s.probs);
  r.y = project(wo, r.attn, D, d.QD(), T);
  return r;
}

template <typename Real>
Real silu(Real x) {
  return x / (Real(1) + std::exp(-x));
}

// gate = silu(h1) * h3, element-wise.
template <typename Real>
Buf<Real> swiglu(const Buf<Real>& h1, const Buf<Real>& h3) {
  Buf<Real> gate(h1.size());
  for (size_t i = 0; i < h1.size(); ++i) gate[i] = silu(h1[i]) * h3[i];
  return gate;
}

template <typename Real>
struct FfnResult {
  Buf<Real> y, xnorm, rms_inv, h1, h3, gate;
};

// ffn_forward: RMSNorm -> W1, W3 -> silu(h1) * h3 -> W2 (no residual).
template <typename Real>
FfnResult<Real> ffn_forward(const KernelDims& d, const Buf<Real>& x, const Buf<Real>& norm_w,
                            const Buf<Real>& w1, const Buf<Real>& w3, const Buf<Real>& w2) {
  const int64_t D = d.D, F = d.F, T = d.T();
  FfnResult<Real> r;
  r.xnorm = rmsnorm(x, norm_w, D, T, static_cast<Real>(d.norm_eps), &r.rms_inv);
  r.h1 = project(w1, r.xnorm, F, D, T);
  r.h3 = project(w3, r.xnorm, F, D, T);
  r.gate = swiglu(r.h1, r.h3);
  r.y = project(w2, r.gate, D, F, T);
  return r;
}

// logits[t, v] = sum_c wcls[v, c] xnorm[c, t], token-major.
template <typename Real>
Buf<Real> classifier_logits(const Buf<Real>& xnorm, const Buf<Real>& wcls, int64_t D, int64_t V,
                            int64_t T) {
  Buf<Real> logits(T * V, Real(0));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t v = 0; v < V; ++v) {
      Real sum = 0;
      for (int64_t c = 0; c < D; ++c) sum += wcls[v * D + c] * xnorm[c * T + t];
      logits[t * V + v] = sum;
    }
  return logits;
}

// Sum over tokens of -log softmax(logits[t])[targets[t]].
template <typename Real>
Real cross_entropy_sum(const Buf<Real>& logits, const int32_t* targets, int64_t V, int64_t T) {
  Real total = 0;
  for (int64_t t = 0; t < T; ++t) {
    const Real* row = logits.data() + t * V;
    Real max = row[0];
    for (int64_t v = 1; v < V; ++v)
      if (row[v] > max) max = row[v];
    Real sum = 0;
    for (int64_t v = 0; v < V; ++v) sum += std::exp(row[v] - max);
    total += max + std::log(sum) - row[targets[t]];
  }
  return total;
}

template <typename Real>
struct ClassifierResult {
  Buf<Real> xnorm, rms_inv, logits;
  Real loss_sum = 0;  // only when targets are given
};

// classifier_loss's forward: final RMSNorm -> classifier -> summed cross-entropy.
template <typename Real>
ClassifierResult<Real> classifier_forward(const KernelDims& d, const Buf<Real>& x,
                                          const Buf<Real>& norm_w, const Buf<Real>& wcls,
                                          const int32_t* targets) {
  ClassifierResult<Real> r;
  r.xnorm = rmsnorm(x, norm_w, d.D, d.T(), static_cast<Real>(d.norm_eps), &r.rms_inv);
  r.logits = classifier_logits(r.xnorm, wcls, d.D, d.V, d.T());
  if (targets) r.loss_sum = cross_entropy_sum(r.logits, targets, d.V, d.T());
  return r;
}

// x[c, t] = table[tokens[t], c], table [V, D].
template <typename Real>
Buf<Real> embedding(const int32_t* tokens, const Buf<Real>& table, int64_t D, int64_t T) {
  Buf<Real> x(D * T);
  for (int64_t c = 0; c < D; ++c)
    for (int64_t t = 0; t < T; ++t) x[c * T + t] = table[tokens[t] * D + c];
  return x;
}

// <a, b>, the random projection that turns a tensor-valued function into a scalar loss.
template <typename Real>
Real inner(const Buf<Real>& a, const Buf<Real>& b) {
  Real sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace anetrain::ref
