// Tests every backward kernel of the CPU backend, and the host ops that finish the gradients
// (train/host_ops.h), against centered finite differences of the double reference forward
// (reference_model.h). Each check turns a tensor-valued function f into the scalar
// L = <R, f(inputs)> with a random R, feeds R to the backward kernel as dy, and compares the
// kernel's gradient outputs with dL/d(input) by finite differences, coordinate by coordinate.
//
// In layers: first each kernel alone, at inputs (taps) made by the reference so a faulty
// forward kernel cannot move the point; then the attention and FFN blocks and the classifier
// head composed from the CPU kernels and host ops exactly as the trainer composes them, with
// the input gradient and every weight gradient checked against the reference block forward.
#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/rmsnorm.h"
#include "kernels/kernel_test_util.h"
#include "kernels/reference_model.h"
#include "train/host_ops.h"

namespace anetrain {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

using kernel_test::Case;
using kernel_test::close;
using kernel_test::fd_gradient;
using kernel_test::normal;
using kernel_test::plus;
using kernel_test::Sampled;
using kernel_test::to_double;
using kernel_test::to_float;
using kernel_test::Tolerance;
using ref::Buf;

// Tolerances: fp32 kernel output a against double finite differences b, passing when
// |a - b| <= atol + rtol * |b|. The differences themselves are good to ~1e-9 (see kFdStep), so
// these bound fp32 rounding in the kernels (and in their fp32 taps). Gradients here are O(1)
// (R ~ N(0, 1)) down to O(1e-2) (through 0.05-scale weights), and an element that is a sum of
// cancelling O(1) terms carries ~1e-6 absolute error however small it is, hence atol.
// The cases use at most 15% of these bounds (dq of the sharp case) and mostly under 5%; a
// wrong sign, index, scale or missing term misses them by orders of magnitude.
constexpr Tolerance kFfnBackwardTol{1e-5, 1e-3};      // dh1, dh3, dxnorm
constexpr Tolerance kSdpaBackward1Tol{1e-5, 1e-3};    // dattn, dv, dprobs
constexpr Tolerance kProbsTol{1e-6, 1e-4};            // recomputed P against the reference P
constexpr Tolerance kSdpaBackward2Tol{1e-5, 1e-3};    // dq, dk through softmax and RoPE
constexpr Tolerance kQkvBackwardTol{1e-5, 1e-3};      // dxnorm
constexpr Tolerance kClassifierTol{1e-6, 1e-3};       // dlogits, dxnorm: O(1/T) values
constexpr Tolerance kRmsNormBackwardTol{1e-5, 1e-3};  // dx, dw
constexpr Tolerance kWeightGradTol{1e-5, 1e-3};       // accumulate_*_grad, embedding_backward
constexpr Tolerance kBlockTol{1e-5, 1e-3};            // whole-block dx and weight gradients
constexpr double kRelLossTol = 1e-6;                  // classifier loss_sum (double sum)

class KernelGradient : public ::testing::TestWithParam<Case> {
 protected:
  const Case& c = GetParam();
  const KernelDims d = kernel_test::dims_of(c);
  const int64_t D = d.D, F = d.F, T = d.T(), V = d.V, QD = d.QD(), KD = d.KD(), H = d.H, G = d.G,
                S = d.S, B = d.B;
  const double eps = static_cast<double>(d.norm_eps);
  std::unique_ptr<Backend> backend = make_backend("cpu");
  Rng rng{0x6772616469656e74ull};
  kernel_test::Weights w = kernel_test::random_weights(d, c.qk_std, rng);
  // The weights in double, the point every finite difference is taken at.
  Buf<double> attn_norm = to_double(w.attn_norm), wq = to_double(w.wq), wk = to_double(w.wk),
              wv = to_double(w.wv), wo = to_double(w.wo), ffn_norm = to_double(w.ffn_norm),
              w1 = to_double(w.w1), w3 = to_double(w.w3), w2 = to_double(w.w2),
              final_norm = to_double(w.final_norm), wcls = to_double(w.wcls);
  // Block input (the residual stream) ~ N(0, 1); also used directly as a normed input, which
  // has the same scale.
  std::vector<float> x = kernel_test::normal(rng, d.T() * d.D, 1.0);

  std::vector<int64_t> coords(int64_t n) { return kernel_test::coordinates(n, rng); }
  std::string name(const std::string& tensor) const { return std::string(c.name) + " " + tensor; }
};

// ---------------------------------------------------------------------------------------------
// Each kernel alone.

TEST_P(KernelGradient, FfnBackward) {
  // L = <R, W2 (silu(h1) * h3)>, with h1 = W1 xnorm and h3 = W3 xnorm for dxnorm.
  const Buf<double> xn = to_double(x);
  const std::vector<float> h1f = to_float(ref::project(w1, xn, F, D, T));
  const std::vector<float> h3f = to_float(ref::project(w3, xn, F, D, T));
  const std::vector<float> R = normal(rng, D * T, 1.0);
  const Buf<double> Rd = to_double(R);
  std::vector<float> dxnorm(D * T), dh1(F * T), dh3(F * T);
  backend->ffn_backward(d, {.dy = R.data(),
                            .w1 = w.w1.data(),
                            .w3 = w.w3.data(),
                            .w2 = w.w2.data(),
                            .h1 = h1f.data(),
                            .h3 = h3f.data(),
                            .dxnorm = dxnorm.data(),
                            .dh1 = dh1.data(),
                            .dh3 = dh3.data()});

  Buf<double> h1 = to_double(h1f), h3 = to_double(h3f), xp = xn;
  auto of_h = [&] { return ref::inner(Rd, ref::project(w2, ref::swiglu(h1, h3), D, F, T)); };
  EXPECT_TRUE(close(name("ffn_backward dh1"), dh1.data(), fd_gradient(h1, coords(F * T), of_h), T,
                    kFfnBackwardTol));
  EXPECT_TRUE(close(name("ffn_backward dh3"), dh3.data(), fd_gradient(h3, coords(F * T), of_h), T,
                    kFfnBackwardTol));
  auto of_xn = [&] {
    const Buf<double> gate =
        ref::swiglu(ref::project(w1, xp, F, D, T), ref::project(w3, xp, F, D, T));
    return ref::inner(Rd, ref::project(w2, gate, D, F, T));
  };
  EXPECT_TRUE(close(name("ffn_backward dxnorm"), dxnorm.data(),
                    fd_gradient(xp, coords(D * T), of_xn), T, kFfnBackwardTol));
}

TEST_P(KernelGradient, SdpaBackward1) {
  // Taps from the reference forward, rounded to float as a forward kernel would store them;
  // the finite differences are taken at the rounded values.
  const auto r = ref::attention_forward(d, to_double(x), attn_norm, wq, wk, wv, wo);
  const std::vector<float> qf = to_float(r.q), kf = to_float(r.k), vf = to_float(r.v),
                           lsef = to_float(r.lse);
  const Buf<double> q = to_double(qf), k = to_double(kf);
  const std::vector<float> R = normal(rng, D * T, 1.0);
  const Buf<double> Rd = to_double(R);
  std::vector<float> dattn(QD * T), dv(KD * T), probs(H * B * S * S), dprobs(H * B * S * S);
  backend->sdpa_backward1(d, {.dy = R.data(),
                              .wo = w.wo.data(),
                              .q = qf.data(),
                              .k = kf.data(),
                              .v = vf.data(),
                              .lse = lsef.data(),
                              .dattn = dattn.data(),
                              .dv = dv.data(),
                              .probs = probs.data(),
                              .dprobs = dprobs.data()});

  // dattn = Wo^T dy: L = <R, Wo attn>.
  Buf<double> attn = r.attn;
  EXPECT_TRUE(close(name("sdpa_backward1 dattn"), dattn.data(),
                    fd_gradient(attn, coords(QD * T),
                                [&] { return ref::inner(Rd, ref::project(wo, attn, D, QD, T)); }),
                    T, kSdpaBackward1Tol));

  // dv: L = <R, Wo sdpa(q, k, v)>. Under GQA this sums over the heads sharing the kv head.
  Buf<double> v = to_double(vf);
  auto of_v = [&] {
    return ref::inner(Rd, ref::project(wo, ref::sdpa(q, k, v, d).attn, D, QD, T));
  };
  EXPECT_TRUE(close(name("sdpa_backward1 dv"), dv.data(), fd_gradient(v, coords(KD * T), of_v), T,
                    kSdpaBackward1Tol));

  // probs is P recomputed from q, k and lse: the reference's P, zeros above the diagonal.
  const auto s = ref::sdpa(q, k, v, d);
  EXPECT_TRUE(close(name("sdpa_backward1 probs"), probs, s.probs, S, kProbsTol));

  // dprobs = dL/dP for L = <R, Wo attend(P, v)>, on the causal entries j <= i (the others are
  // not inputs of the function).
  std::vector<int64_t> causal;
  for (int64_t hb = 0; hb < H * B; ++hb)
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j <= i; ++j) causal.push_back((hb * S + i) * S + j);
  Buf<double> P = s.probs;
  auto of_p = [&] { return ref::inner(Rd, ref::project(wo, ref::attend(P, v, d), D, QD, T)); };
  EXPECT_TRUE(close(name("sdpa_backward1 dprobs"), dprobs.data(),
                    fd_gradient(P, kernel_test::subsample(causal, rng), of_p), S,
                    kSdpaBackward1Tol));
}

TEST_P(KernelGradient, SdpaBackward2ComposedWithPart1GivesPreRopeGradients) {
  // L = <R, Wo sdpa(rope(qpre), rope(kpre), v)>: finite differences in the projections before
  // RoPE, while the kernels only ever see the rotated taps.
  const Buf<double> xn = to_double(x);
  Buf<double> qpre = ref::project(wq, xn, QD, D, T), kpre = ref::project(wk, xn, KD, D, T);
  const Buf<double> v = ref::project(wv, xn, KD, D, T);
  Buf<double> q = qpre, k = kpre;
  ref::rope(q, H, d);
  ref::rope(k, G, d);
  const std::vector<float> qf = to_float(q), kf = to_float(k), vf = to_float(v),
                           lsef = to_float(ref::sdpa(q, k, v, d).lse);
  const std::vector<float> R = normal(rng, D * T, 1.0);
  const Buf<double> Rd = to_double(R);
  std::vector<float> dattn(QD * T), dv(KD * T), probs(H * B * S * S), dprobs(H * B * S * S),
      dq(QD * T), dk(KD * T);
  backend->sdpa_backward1(d, {.dy = R.data(),
                              .wo = w.wo.data(),
                              .q = qf.data(),
                              .k = kf.data(),
                              .v = vf.data(),
                              .lse = lsef.data(),
                              .dattn = dattn.data(),
                              .dv = dv.data(),
                              .probs = probs.data(),
                              .dprobs = dprobs.data()});
  backend->sdpa_backward2(d, {.q = qf.data(),
                              .k = kf.data(),
                              .probs = probs.data(),
                              .dprobs = dprobs.data(),
                              .dq = dq.data(),
                              .dk = dk.data()});

  auto loss = [&] {
    Buf<double> qr = qpre, kr = kpre;
    ref::rope(qr, H, d);
    ref::rope(kr, G, d);
    return ref::inner(Rd, ref::project(wo, ref::sdpa(qr, kr, v, d).attn, D, QD, T));
  };
  EXPECT_TRUE(close(name("sdpa_backward2 dq (pre-RoPE)"), dq.data(),
                    fd_gradient(qpre, coords(QD * T), loss), T, kSdpaBackward2Tol));
  EXPECT_TRUE(close(name("sdpa_backward2 dk (pre-RoPE)"), dk.data(),
                    fd_gradient(kpre, coords(KD * T), loss), T, kSdpaBackward2Tol));
}

TEST_P(KernelGradient, QkvBackward) {
  // L = <Rq, Wq xn> + <Rk, Wk xn> + <Rv, Wv xn>; the kernel gets (Rq, Rk, Rv) as (dq, dk, dv).
  const std::vector<float> Rq = normal(rng, QD * T, 1.0), Rk = normal(rng, KD * T, 1.0),
                           Rv = normal(rng, KD * T, 1.0);
  std::vector<float> dxnorm(D * T);
  backend->qkv_backward(d, {.dq = Rq.data(),
                            .dk = Rk.data(),
                            .dv = Rv.data(),
                            .wq = w.wq.data(),
                            .wk = w.wk.data(),
                            .wv = w.wv.data(),
                            .dxnorm = dxnorm.data()});
  const Buf<double> Rqd = to_double(Rq), Rkd = to_double(Rk), Rvd = to_double(Rv);
  Buf<double> xn = to_double(x);
  auto loss = [&] {
    return ref::inner(Rqd, ref::project(wq, xn, QD, D, T)) +
           ref::inner(Rkd, ref::project(wk, xn, KD, D, T)) +
           ref::inner(Rvd, ref::project(wv, xn, KD, D, T));
  };
  EXPECT_TRUE(close(name("qkv_backward dxnorm"), dxnorm.data(),
                    fd_gradient(xn, coords(D * T), loss), T, kQkvBackwardTol));
}

TEST_P(KernelGradient, ClassifierLossMeanGradients) {
  // L = (1/T) sum_t CE(Wcls xnorm_t, target_t): grad_scale = 1/T makes the kernel's gradients
  // those of the mean loss. dlogits against FD in the logits, dxnorm against FD in xnorm.
  const std::vector<int32_t> targets = kernel_test::random_tokens(rng, T, V);
  std::vector<float> logits(T * V), xnorm(D * T), rms_inv(T), dxnorm(D * T);
  double loss_sum = 0;
  backend->classifier_loss(d, {.x = x.data(),
                               .norm_w = w.final_norm.data(),
                               .wcls = w.wcls.data(),
                               .targets = targets.data(),
                               .grad_scale = 1.0f / static_cast<float>(T),
                               .logits = logits.data(),
                               .xnorm = xnorm.data(),
                               .rms_inv = rms_inv.data(),
                               .dxnorm = dxnorm.data(),
                               .loss_sum = &loss_sum});

  // The point is the kernel's own xnorm tap: classifier_loss normalizes internally.
  Buf<double> xn = to_double(xnorm);
  Buf<double> lg = ref::classifier_logits(xn, wcls, D, V, T);
  const double Td = static_cast<double>(T);
  const double ref_loss = ref::cross_entropy_sum(lg, targets.data(), V, T);
  EXPECT_NEAR(loss_sum, ref_loss, kRelLossTol * ref_loss) << c.name;

  EXPECT_TRUE(
      close(name("classifier_loss dlogits"), logits.data(),
            fd_gradient(lg, coords(T * V),
                        [&] { return ref::cross_entropy_sum(lg, targets.data(), V, T) / Td; }),
            V, kClassifierTol));
  auto of_xn = [&] {
    return ref::cross_entropy_sum(ref::classifier_logits(xn, wcls, D, V, T), targets.data(), V, T) /
           Td;
  };
  EXPECT_TRUE(close(name("classifier_loss dxnorm"), dxnorm.data(),
                    fd_gradient(xn, coords(D * T), of_xn), T, kClassifierTol));
}

// ---------------------------------------------------------------------------------------------
// Host ops alone.

TEST_P(KernelGradient, HostRmsNormBackward) {
  // L = <R, rmsnorm(x, w)>. dw accumulates into a nonzero prior, or overwrites a buffer of NaNs
  // (which must never be read); dx adds dx_residual, both as a separate buffer and aliased with
  // dx (the contract allows both).
  const Buf<double> xd = to_double(x);
  Buf<double> rms_inv_d;
  ref::rmsnorm(xd, attn_norm, D, T, eps, &rms_inv_d);
  const std::vector<float> rms_inv = to_float(rms_inv_d);
  const std::vector<float> R = normal(rng, D * T, 1.0), residual = normal(rng, D * T, 1.0),
                           prior = normal(rng, D, 1.0);
  const Buf<double> Rd = to_double(R);

  std::vector<float> dx_plain(D * T), dx_res(D * T), dx_alias = residual;
  std::vector<float> dw_plain = prior, dw_res(D, kNaN), dw_alias(D, kNaN);
  cpu::rmsnorm_backward(R.data(), x.data(), w.attn_norm.data(), rms_inv.data(), nullptr, D, T,
                        dx_plain.data(), dw_plain.data(), GradWrite::kAccumulate);
  cpu::rmsnorm_backward(R.data(), x.data(), w.attn_norm.data(), rms_inv.data(), residual.data(), D,
                        T, dx_res.data(), dw_res.data(), GradWrite::kOverwrite);
  cpu::rmsnorm_backward(R.data(), x.data(), w.attn_norm.data(), rms_inv.data(), dx_alias.data(), D,
                        T, dx_alias.data(), dw_alias.data(), GradWrite::kOverwrite);

  Buf<double> xp = xd, wp = attn_norm;
  auto loss = [&] { return ref::inner(Rd, ref::rmsnorm(xp, wp, D, T, eps)); };
  const Sampled gx = fd_gradient(xp, coords(D * T), loss);
  const Sampled gw = fd_gradient(wp, coords(D), loss);
  EXPECT_TRUE(close(name("rmsnorm_backward dx"), dx_plain.data(), gx, T, kRmsNormBackwardTol));
  EXPECT_TRUE(close(name("rmsnorm_backward dx + residual"), dx_res.data(), plus(gx, residual), T,
                    kRmsNormBackwardTol));
  EXPECT_TRUE(close(name("rmsnorm_backward dx aliasing residual"), dx_alias.data(),
                    plus(gx, residual), T, kRmsNormBackwardTol));
  EXPECT_TRUE(close(name("rmsnorm_backward dw (accumulated)"), dw_plain.data(), plus(gw, prior), D,
                    kRmsNormBackwardTol));
  EXPECT_TRUE(close(name("rmsnorm_backward dw"), dw_res.data(), gw, D, kRmsNormBackwardTol));
  EXPECT_TRUE(close(name("rmsnorm_backward dw (dx aliasing residual)"), dw_alias.data(), gw, D,
                    kRmsNormBackwardTol));
}

TEST_P(KernelGradient, HostWeightGrad) {
  // L = <R, W X> for W [F, D] (out != in, so a transposed result cannot pass); dW (+)= R X^T,
  // accumulated into a prior or overwriting NaNs.
  const std::vector<float> X = normal(rng, D * T, 1.0), R = normal(rng, F * T, 1.0),
                           prior = normal(rng, F * D, 0.1);
  std::vector<float> accumulated = prior, overwritten(F * D, kNaN);
  weight_grad(R.data(), X.data(), F, D, T, accumulated.data(), GradWrite::kAccumulate);
  weight_grad(R.data(), X.data(), F, D, T, overwritten.data(), GradWrite::kOverwrite);
  const Buf<double> Xd = to_double(X), Rd = to_double(R);
  Buf<double> W = w1;
  auto loss = [&] { return ref::inner(Rd, ref::project(W, Xd, F, D, T)); };
  const Sampled gw = fd_gradient(W, coords(F * D), loss);
  EXPECT_TRUE(close(name("weight_grad dW (accumulated)"), accumulated.data(), plus(gw, prior), D,
                    kWeightGradTol));
  EXPECT_TRUE(
      close(name("weight_grad dW (overwritten)"), overwritten.data(), gw, D, kWeightGradTol));
}

TEST_P(KernelGradient, HostClassifierGrad) {
  // L = <R, logits(W)>, logits[t, v] = sum_c W[v, c] xnorm[c, t]; dW[v, c] (+)= sum_t R[t, v]
  // xnorm[c, t], accumulated into a prior or overwriting NaNs.
  const std::vector<float> xn = normal(rng, D * T, 1.0), R = normal(rng, T * V, 1.0),
                           prior = normal(rng, V * D, 0.1);
  std::vector<float> accumulated = prior, overwritten(V * D, kNaN);
  classifier_grad(R.data(), xn.data(), V, D, T, accumulated.data(), GradWrite::kAccumulate);
  classifier_grad(R.data(), xn.data(), V, D, T, overwritten.data(), GradWrite::kOverwrite);
  const Buf<double> xnd = to_double(xn), Rd = to_double(R);
  Buf<double> W = wcls;
  auto loss = [&] { return ref::inner(Rd, ref::classifier_logits(xnd, W, D, V, T)); };
  const Sampled gw = fd_gradient(W, coords(V * D), loss);
  EXPECT_TRUE(close(name("classifier_grad dW (accumulated)"), accumulated.data(), plus(gw, prior),
                    D, kWeightGradTol));
  EXPECT_TRUE(
      close(name("classifier_grad dW (overwritten)"), overwritten.data(), gw, D, kWeightGradTol));
}

TEST_P(KernelGradient, HostEmbeddingBackward) {
  // L = <R, embedding(tokens, table)>; repeated tokens (within a sequence and across the batch)
  // must sum, rows of unused tokens must keep their prior.
  std::vector<int32_t> tokens = kernel_test::random_tokens(rng, T, V);
  tokens[1] = tokens[0];
  tokens[T - 1] = tokens[0];
  const std::vector<float> table = normal(rng, V * D, 1.0), R = normal(rng, D * T, 1.0),
                           prior = normal(rng, V * D, 0.1);
  std::vector<float> dtable = prior;
  embedding_backward(tokens.data(), R.data(), D, T, dtable.data());
  const Buf<double> Rd = to_double(R);
  Buf<double> tab = to_double(table);
  auto loss = [&] { return ref::inner(Rd, ref::embedding(tokens.data(), tab, D, T)); };
  EXPECT_TRUE(close(name("embedding_backward dtable"), dtable.data(),
                    plus(fd_gradient(tab, coords(V * D), loss), prior), D, kWeightGradTol));
}

// ---------------------------------------------------------------------------------------------
// Whole blocks, composed from the kernels and host ops the way train/transformer.cpp does.

TEST_P(KernelGradient, AttentionBlockInputAndWeightGradients) {
  // L = <R, attention(x)> (no residual, so the block's own gradient is not drowned by R).
  std::vector<float> y(D * T), xnorm(D * T), rms_inv(T), q(QD * T), k(KD * T), v(KD * T),
      attn(QD * T), lse(H * T);
  backend->attention_forward(d, {.x = x.data(),
                                 .norm_w = w.attn_norm.data(),
                                 .wq = w.wq.data(),
                                 .wk = w.wk.data(),
                                 .wv = w.wv.data(),
                                 .wo = w.wo.data(),
                                 .y = y.data(),
                                 .xnorm = xnorm.data(),
                                 .rms_inv = rms_inv.data(),
                                 .q = q.data(),
                                 .k = k.data(),
                                 .v = v.data(),
                                 .attn = attn.data(),
                                 .lse = lse.data()});
  const std::vector<float> R = normal(rng, D * T, 1.0);
  std::vector<float> dattn(QD * T), dv(KD * T), probs(H * B * S * S), dprobs(H * B * S * S),
      dq(QD * T), dk(KD * T), dxnorm(D * T), dx(D * T), dnorm(D), dwq(QD * D), dwk(KD * D),
      dwv(KD * D), dwo(D * QD);
  backend->sdpa_backward1(d, {.dy = R.data(),
                              .wo = w.wo.data(),
                              .q = q.data(),
                              .k = k.data(),
                              .v = v.data(),
                              .lse = lse.data(),
                              .dattn = dattn.data(),
                              .dv = dv.data(),
                              .probs = probs.data(),
                              .dprobs = dprobs.data()});
  backend->sdpa_backward2(d, {.q = q.data(),
                              .k = k.data(),
                              .probs = probs.data(),
                              .dprobs = dprobs.data(),
                              .dq = dq.data(),
                              .dk = dk.data()});
  backend->qkv_backward(d, {.dq = dq.data(),
                            .dk = dk.data(),
                            .dv = dv.data(),
                            .wq = w.wq.data(),
                            .wk = w.wk.data(),
                            .wv = w.wv.data(),
                            .dxnorm = dxnorm.data()});
  cpu::rmsnorm_backward(dxnorm.data(), x.data(), w.attn_norm.data(), rms_inv.data(), nullptr, D, T,
                        dx.data(), dnorm.data(), GradWrite::kOverwrite);
  weight_grad(dq.data(), xnorm.data(), QD, D, T, dwq.data(), GradWrite::kOverwrite);
  weight_grad(dk.data(), xnorm.data(), KD, D, T, dwk.data(), GradWrite::kOverwrite);
  weight_grad(dv.data(), xnorm.data(), KD, D, T, dwv.data(), GradWrite::kOverwrite);
  weight_grad(R.data(), attn.data(), D, QD, T, dwo.data(), GradWrite::kOverwrite);

  const Buf<double> Rd = to_double(R);
  Buf<double> xp = to_double(x), np = attn_norm, qp = wq, kp = wk, vp = wv, op = wo;
  auto loss = [&] { return ref::inner(Rd, ref::attention_forward(d, xp, np, qp, kp, vp, op).y); };
  EXPECT_TRUE(close(name("attention block dx"), dx.data(), fd_gradient(xp, coords(D * T), loss), T,
                    kBlockTol));
  EXPECT_TRUE(close(name("attention block dnorm"), dnorm.data(), fd_gradient(np, coords(D), loss),
                    D, kBlockTol));
  EXPECT_TRUE(close(name("attention block dwq"), dwq.data(), fd_gradient(qp, coords(QD * D), loss),
                    D, kBlockTol));
  EXPECT_TRUE(close(name("attention block dwk"), dwk.data(), fd_gradient(kp, coords(KD * D), loss),
                    D, kBlockTol));
  EXPECT_TRUE(close(name("attention block dwv"), dwv.data(), fd_gradient(vp, coords(KD * D), loss),
                    D, kBlockTol));
  EXPECT_TRUE(close(name("attention block dwo"), dwo.data(), fd_gradient(op, coords(D * QD), loss),
                    QD, kBlockTol));
}

TEST_P(KernelGradient, FfnBlockInputAndWeightGradients) {
  // L = <R, ffn(x)> (no residual).
  std::vector<float> y(D * T), xnorm(D * T), rms_inv(T), h1(F * T), h3(F * T), gate(F * T);
  backend->ffn_forward(d, {.x = x.data(),
                           .norm_w = w.ffn_norm.data(),
                           .w1 = w.w1.data(),
                           .w3 = w.w3.data(),
                           .w2 = w.w2.data(),
                           .y = y.data(),
                           .xnorm = xnorm.data(),
                           .rms_inv = rms_inv.data(),
                           .h1 = h1.data(),
                           .h3 = h3.data(),
                           .gate = gate.data()});
  const std::vector<float> R = normal(rng, D * T, 1.0);
  std::vector<float> dxnorm(D * T), dh1(F * T), dh3(F * T), dx(D * T), dnorm(D), dw1(F * D),
      dw3(F * D), dw2(D * F);
  backend->ffn_backward(d, {.dy = R.data(),
                            .w1 = w.w1.data(),
                            .w3 = w.w3.data(),
                            .w2 = w.w2.data(),
                            .h1 = h1.data(),
                            .h3 = h3.data(),
                            .dxnorm = dxnorm.data(),
                            .dh1 = dh1.data(),
                            .dh3 = dh3.data()});
  cpu::rmsnorm_backward(dxnorm.data(), x.data(), w.ffn_norm.data(), rms_inv.data(), nullptr, D, T,
                        dx.data(), dnorm.data(), GradWrite::kOverwrite);
  weight_grad(R.data(), gate.data(), D, F, T, dw2.data(), GradWrite::kOverwrite);
  weight_grad(dh1.data(), xnorm.data(), F, D, T, dw1.data(), GradWrite::kOverwrite);
  weight_grad(dh3.data(), xnorm.data(), F, D, T, dw3.data(), GradWrite::kOverwrite);

  const Buf<double> Rd = to_double(R);
  Buf<double> xp = to_double(x), np = ffn_norm, p1 = w1, p3 = w3, p2 = w2;
  auto loss = [&] { return ref::inner(Rd, ref::ffn_forward(d, xp, np, p1, p3, p2).y); };
  EXPECT_TRUE(
      close(name("ffn block dx"), dx.data(), fd_gradient(xp, coords(D * T), loss), T, kBlockTol));
  EXPECT_TRUE(
      close(name("ffn block dnorm"), dnorm.data(), fd_gradient(np, coords(D), loss), D, kBlockTol));
  EXPECT_TRUE(
      close(name("ffn block dw1"), dw1.data(), fd_gradient(p1, coords(F * D), loss), D, kBlockTol));
  EXPECT_TRUE(
      close(name("ffn block dw3"), dw3.data(), fd_gradient(p3, coords(F * D), loss), D, kBlockTol));
  EXPECT_TRUE(
      close(name("ffn block dw2"), dw2.data(), fd_gradient(p2, coords(D * F), loss), F, kBlockTol));
}

TEST_P(KernelGradient, ClassifierHeadInputAndWeightGradients) {
  // L = mean_t CE(Wcls rmsnorm(x)_t, target_t): classifier_loss, then the host's final-norm
  // backward and classifier weight gradient.
  const std::vector<int32_t> targets = kernel_test::random_tokens(rng, T, V);
  std::vector<float> logits(T * V), xnorm(D * T), rms_inv(T), dxnorm(D * T), dx(D * T), dnorm(D),
      dwcls(V * D);
  double loss_sum = 0;
  backend->classifier_loss(d, {.x = x.data(),
                               .norm_w = w.final_norm.data(),
                               .wcls = w.wcls.data(),
                               .targets = targets.data(),
                               .grad_scale = 1.0f / static_cast<float>(T),
                               .logits = logits.data(),
                               .xnorm = xnorm.data(),
                               .rms_inv = rms_inv.data(),
                               .dxnorm = dxnorm.data(),
                               .loss_sum = &loss_sum});
  cpu::rmsnorm_backward(dxnorm.data(), x.data(), w.final_norm.data(), rms_inv.data(), nullptr, D, T,
                        dx.data(), dnorm.data(), GradWrite::kOverwrite);
  classifier_grad(logits.data(), xnorm.data(), V, D, T, dwcls.data(), GradWrite::kOverwrite);

  Buf<double> xp = to_double(x), np = final_norm, cp = wcls;
  auto loss = [&] {
    return ref::classifier_forward(d, xp, np, cp, targets.data()).loss_sum / static_cast<double>(T);
  };
  EXPECT_TRUE(close(name("classifier head dx"), dx.data(), fd_gradient(xp, coords(D * T), loss), T,
                    kClassifierTol));
  EXPECT_TRUE(close(name("classifier head dnorm"), dnorm.data(), fd_gradient(np, coords(D), loss),
                    D, kClassifierTol));
  EXPECT_TRUE(close(name("classifier head dwcls"), dwcls.data(),
                    fd_gradient(cp, coords(V * D), loss), D, kClassifierTol));
}

INSTANTIATE_TEST_SUITE_P(, KernelGradient, ::testing::ValuesIn(kernel_test::kernel_cases()),
                         kernel_test::case_name);

}  // namespace
}  // namespace anetrain
