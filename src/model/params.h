// All parameters of a model live in one float allocation, carved into named tensors
// (llm.c's ParameterTensors idea). Gradients and the two AdamW moments use the same layout,
// so the optimizer and clipping are single loops over flat arrays.
//
// Names and shapes follow Meta's Llama checkpoints (row-major [out, in]):
//   tok_embeddings.weight            [V, D]
//   layers.N.attention_norm.weight   [D]
//   layers.N.attention.wq.weight     [H*E, D]    wk, wv: [G*E, D]    wo: [D, H*E]
//   layers.N.ffn_norm.weight         [D]
//   layers.N.feed_forward.w1.weight  [F, D]      w3: [F, D]          w2: [D, F]
//   norm.weight                      [D]
//   output.weight                    [V, D]      (absent when tied to tok_embeddings)
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"

namespace anetrain {

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // in floats, into the flat buffer
  int64_t numel = 0;
  bool is_norm = false;  // norm gains: initialised to 1, no weight decay by default
};

// Offsets of one layer's tensors in the flat buffer.
struct LayerParams {
  int64_t attention_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3;
};

class ParamLayout {
 public:
  explicit ParamLayout(const ModelConfig& config);
  ParamLayout() = default;  // no tensors
  // A layout of the given tensors (name, shape), back to back in that order: parameters that
  // are not a model's, such as LoRA adapters (model/lora.h). Its layer() and model offsets are
  // unset.
  static ParamLayout of(const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors);

  const std::vector<ParamInfo>& tensors() const { return tensors_; }
  int64_t total() const { return total_; }
  const LayerParams& layer(int l) const { return layers_[l]; }
  int64_t tok_embeddings() const { return tok_embeddings_; }
  int64_t final_norm() const { return final_norm_; }
  int64_t classifier() const { return classifier_; }  // == tok_embeddings() when tied
  const ParamInfo* find(const std::string& name) const;

 private:
  int64_t add(const std::string& name, std::vector<int64_t> shape, bool is_norm);
  std::vector<ParamInfo> tensors_;
  std::vector<LayerParams> layers_;
  int64_t tok_embeddings_ = 0, final_norm_ = 0, classifier_ = 0, total_ = 0;
};

// Fills params: norms 1, others N(0, std), residual output projections (wo, w2) scaled by
// 1/sqrt(2L) so the residual stream's variance does not grow with depth (GPT-2's rule).
void init_params(const ModelConfig& config, const ParamLayout& layout, float init_std,
                 uint64_t seed, float* params);

}  // namespace anetrain
