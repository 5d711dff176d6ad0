#include "model/params.h"

#include <cmath>

#include "core/rng.h"

namespace anetrain {

int64_t ParamLayout::add(const std::string& name, std::vector<int64_t> shape, bool is_norm) {
  ParamInfo info;
  info.name = name;
  info.shape = std::move(shape);
  info.numel = 1;
  for (int64_t d : info.shape) info.numel *= d;
  info.offset = total_;
  info.is_norm = is_norm;
  total_ += info.numel;
  tensors_.push_back(info);
  return info.offset;
}

ParamLayout::ParamLayout(const ModelConfig& c) {
  const int64_t D = c.dim, F = c.hidden_dim, V = c.vocab_size, QD = c.q_dim(), KD = c.kv_dim();
  tok_embeddings_ = add("tok_embeddings.weight", {V, D}, false);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    LayerParams lp;
    lp.attention_norm = add(p + "attention_norm.weight", {D}, true);
    lp.wq = add(p + "attention.wq.weight", {QD, D}, false);
    lp.wk = add(p + "attention.wk.weight", {KD, D}, false);
    lp.wv = add(p + "attention.wv.weight", {KD, D}, false);
    lp.wo = add(p + "attention.wo.weight", {D, QD}, false);
    lp.ffn_norm = add(p + "ffn_norm.weight", {D}, true);
    lp.w1 = add(p + "feed_forward.w1.weight", {F, D}, false);
    lp.w2 = add(p + "feed_forward.w2.weight", {D, F}, false);
    lp.w3 = add(p + "feed_forward.w3.weight", {F, D}, false);
    layers_.push_back(lp);
  }
  final_norm_ = add("norm.weight", {D}, true);
  classifier_ = c.tied_embeddings ? tok_embeddings_ : add("output.weight", {V, D}, false);
}

ParamLayout ParamLayout::of(
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors) {
  ParamLayout layout;
  for (const auto& [name, shape] : tensors) layout.add(name, shape, false);
  return layout;
}

const ParamInfo* ParamLayout::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

void init_params(const ModelConfig& config, const ParamLayout& layout, float init_std,
                 uint64_t seed, float* params) {
  Rng rng(seed);
  const double residual_scale = 1.0 / std::sqrt(2.0 * config.n_layers);
  for (const ParamInfo& t : layout.tensors()) {
    float* p = params + t.offset;
    if (t.is_norm) {
      for (int64_t i = 0; i < t.numel; ++i) p[i] = 1.0f;
      continue;
    }
    bool residual_out =
        t.name.ends_with("attention.wo.weight") || t.name.ends_with("feed_forward.w2.weight");
    double std = init_std * (residual_out ? residual_scale : 1.0);
    for (int64_t i = 0; i < t.numel; ++i) p[i] = static_cast<float>(rng.normal() * std);
  }
}

}  // namespace anetrain
