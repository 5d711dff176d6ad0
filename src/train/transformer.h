// The Llama-family model's forward and backward pass for one micro-batch, written as the
// sequence of fused kernels (kernels/kernels.h) run by a Backend, plus shared host work.
// Parameters and gradients are flat buffers in ParamLayout order (model/params.h).
//
//   x = embed(tokens)
//   for each block l:  h = x + attention_forward(x);  x = h + ffn_forward(h)
//   loss = classifier_loss(x)            (final RMSNorm, classifier, cross-entropy)
//   backward: classifier grads, then per block in reverse: ffn_backward, sdpa_backward1,
//   sdpa_backward2, qkv_backward, each followed by its weight gradients and RMSNorm backward.
#pragma once

#include <cstdint>
#include <functional>
#include <future>

#include "backends/backend.h"
#include "model/lora.h"
#include "model/params.h"
#include "train/activations.h"
#include "train/grad_norm.h"
#include "train/host_ops.h"

namespace anetrain {

// Called during the backward pass with each range [begin, end) of the gradient buffer once it
// is final, from the end of the layout towards its start, covering it all by the time
// forward_backward returns: data parallelism starts reducing a range while the layers below
// are still computing theirs (dist/grad_exchange.h).
using GradReady = std::function<void(int64_t begin, int64_t end)>;

class Transformer {
 public:
  // for_training = false allocates only what a forward pass needs (sampling).
  Transformer(const ModelConfig& config, Backend& backend, int64_t batch, int64_t seq,
              bool recompute, bool for_training = true);

  // Forward and backward of one micro-batch; inputs/targets are [B*S], index b*S + s.
  // Gradients, scaled by grad_scale (d total loss / d per-token loss), overwrite grads (the
  // first micro-batch of a step: no zeroing pass needed) or are added to them.
  // With `norm` (the step's last micro-batch, norm started on grads), each weight gradient is
  // handed to norm->finished() as soon as it is final, so its share of the clipping norm is
  // summed during backward (beside the kernels, where host work overlaps them). Returns the sum
  // of per-token losses.
  double forward_backward(const float* params, const int32_t* inputs, const int32_t* targets,
                          float grad_scale, float* grads, GradWrite write,
                          const GradReady& ready = nullptr, GradNorm* norm = nullptr);

  // Forward only. With targets, returns the loss sum; without, fills logits() and returns 0.
  double forward(const float* params, const int32_t* inputs, const int32_t* targets);

  // One block alone (block 0), as the seed's single-layer benchmark times it: forward from x
  // [D, T], then backward from dy [D, T] (the gradient of some loss on the block's output).
  // Writes only block 0's gradients, like forward_backward's `write` (and `norm`).
  void block_forward_backward(const float* params, const float* x, const float* dy, float* grads,
                              GradWrite write, GradNorm* norm = nullptr);

  // LoRA (model/lora.h): from now on every targeted projection is W X + scale B (A X) with
  // `adapters` laid out by `lora`, and forward_backward also writes the adapters' gradients
  // into adapter_grads (overwrite or accumulate, as the base gradients). Without
  // base_gradients the base is frozen: no base weight gradient is computed (the GEMMs for
  // them are skipped) and forward_backward's `grads` may be null. Both buffers must outlive
  // the Transformer's use of them.
  void use_adapters(const LoraLayout& lora, const float* adapters, float* adapter_grads,
                    bool base_gradients);

  // LoRA dropout: the seed of the next forward_backward's masks (lora_dropout_mask); forward()
  // never drops.
  void set_adapter_dropout_seed(uint64_t seed) { dropout_seed_ = seed; }

  const float* logits() const { return acts_.logits.data(); }  // [T, V], valid after forward
  const KernelDims& dims() const { return dims_; }
  const ParamLayout& layout() const { return layout_; }
  int64_t activation_bytes() const { return acts_.bytes(); }
  // LoRA's buffers beside the activations: each adapter's tap and scratch, dropout masks.
  int64_t adapter_buffer_bytes() const;

 private:
  void block_forward(int l, const float* params);
  double run_forward(const float* params, const int32_t* inputs, const int32_t* targets,
                     float grad_scale);
  void block_backward(int l, const float* params, float* grads, GradWrite write);
  // Runs host work now, or (backends that overlap) on a host thread; `slot` is joined first.
  void run_host(std::future<void>& slot, std::function<void()> work);
  // Appends work to the host work in flight in `slot` (after it, on a host thread) without
  // waiting for it, or runs it now (backends that do not overlap); joining `slot` joins both.
  void then_host(std::future<void>& slot, std::function<void()> work);
  static void join(std::future<void>& slot);
  static float* probs_or_null(FloatBuffer& v);
  void join_all();
  float* resid(int l);
  float* mid(int l);
  AttentionTaps& attention_taps(int l);
  FfnTaps& ffn_taps(int l);

  // The kernel argument for layer l's adapter of `target` ("wq"), inactive without one.
  // `on_host_thread`: for adapter_backward, which may run beside the kernels (then_host), so
  // its dropout mask goes to a buffer of its own.
  LoraAdapter adapter(int l, LoraTarget target, bool on_host_thread = false);
  int adapter_index(int l, LoraTarget target) const;  // into lora_->adapters(), -1 for none
  // The adapter path's share of an input gradient, for the ones the kernels do not add (q, k, v
  // into the attention's dxnorm; w1, w3 into the FFN's): dx += A^T (scale B^T dy), on the
  // spot, as the rmsnorm_backward after it reads dx.
  void adapter_input_grad(int l, LoraTarget target, const float* dy, float* dx);
  // An adapter's gradients (dA, dB) from its output's gradient dy and its input x. Host work
  // that follows block l's weight-gradient work (then_host): it reads only what that reads,
  // plus the adapter's own tap and scratch.
  void adapter_backward(int l, LoraTarget target, const float* dy, const float* x, GradWrite write);

  ModelConfig config_;
  Backend& backend_;
  // LoRA, when use_adapters was called: one tap and scratch buffer [r, T] per adapter.
  const LoraLayout* lora_ = nullptr;
  const float* adapters_ = nullptr;
  float* adapter_grads_ = nullptr;
  std::vector<FloatBuffer> lora_ax_, lora_scratch_;
  std::vector<int> adapter_index_;  // [layer * kLoraTargetCount + target] -> adapter, or -1
  // Dropout masks, one buffer per target kind [in, T] (regenerated per layer and use);
  // `dropping_` only inside forward_backward.
  std::vector<FloatBuffer> lora_drop_, lora_host_drop_;
  uint64_t dropout_seed_ = 0;
  bool dropping_ = false;
  GradNorm* norm_ = nullptr;  // forward_backward's `norm`, while it runs
  struct NormWhileRunning {
    NormWhileRunning(GradNorm*& member, GradNorm* norm) : member(member) { member = norm; }
    ~NormWhileRunning() { member = nullptr; }
    GradNorm*& member;
  };
  // After weight gradient [offset, offset + numel) is final; from any host-work thread.
  void gradient_final(int64_t offset, int64_t numel) const {
    if (norm_) norm_->finished(offset, offset + numel);
  }
  bool base_grads_ = true;  // false: a frozen base (LoRA), no base weight gradients
  float* base_grad(float* g, int64_t offset) const { return base_grads_ ? g + offset : nullptr; }
  ParamLayout layout_;
  KernelDims dims_;
  bool recompute_, for_training_;
  Activations acts_;
  // In-flight weight-gradient work: the FFN's, and the attention's (see block_backward).
  std::future<void> ffn_grads_, attention_grads_;
};

}  // namespace anetrain
