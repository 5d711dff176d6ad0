// LoRA adapters (Hu et al., "Low-Rank Adaptation"): for each target weight W [out, in] of every
// block, A [rank, in] and B [out, rank], trained while W stays frozen; the effective weight is
// W + (alpha / rank) B A. A starts Kaiming-uniform (bound 1 / sqrt(in), as PEFT's
// kaiming_uniform_(a = sqrt(5)) gives), B at zero, so training starts from the base model.
//
// The adapters live in one flat buffer described by LoraLayout::params(), a ParamLayout like a
// model's, so the optimizer, clipping and the safetensors writer treat them as parameters.
// Tensor names extend the base weight's: "layers.N.attention.wq.lora_A" and ".lora_B".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/params.h"

namespace anetrain {

// The weights an adapter can target, by their short names in --lora-targets.
const std::vector<std::string>& lora_target_names();  // wq, wk, wv, wo, w1, w2, w3
// Target names as --lora-targets takes them: "wq,wv".
std::string join_lora_targets(const std::vector<std::string>& targets);
// The same weights as indices into lora_target_names(), for lookups per kernel call.
enum class LoraTarget : int { wq, wk, wv, wo, w1, w2, w3 };
constexpr int kLoraTargetCount = 7;

struct LoraConfig {
  int rank = 8;
  float alpha = 16;  // the update is scaled by alpha / rank
  std::vector<std::string> targets = lora_target_names();
  float dropout = 0;  // on each adapter's input, training only

  float scale() const { return alpha / static_cast<float>(rank); }
  bool operator==(const LoraConfig&) const = default;
  // UserError naming the value and the valid range: rank in [1, the smallest dimension of a
  // targeted weight], alpha > 0 and finite, dropout in [0, 1), targets known and not repeated.
  void validate(const ModelConfig& model) const;
};

// "wq,wv" into target names; UserError for an empty list or an unknown or repeated name.
std::vector<std::string> parse_lora_targets(const std::string& list);

class LoraLayout {
 public:
  // One adapter pair per block and target, blocks in order, targets in lora_target_names()
  // order within a block. Validates `lora` against `model`.
  LoraLayout(const ModelConfig& model, const LoraConfig& lora);

  struct Adapter {
    int layer = 0;
    std::string target;                // "wq"
    LoraTarget kind = LoraTarget::wq;  // the same, as an index into lora_target_names()
    int64_t out = 0, in = 0;
    int64_t a = 0, b = 0;  // offsets of A [rank, in] and B [out, rank] in the adapter buffer
    int64_t base = 0;      // offset of W [out, in] in the model's ParamLayout
  };
  const std::vector<Adapter>& adapters() const { return adapters_; }
  const ParamLayout& params() const { return params_; }
  const LoraConfig& config() const { return lora_; }

 private:
  LoraConfig lora_;
  std::vector<Adapter> adapters_;
  ParamLayout params_;
};

// Fills a fresh adapter buffer: every A Kaiming-uniform from `seed`, every B zero.
void init_lora(const LoraLayout& layout, uint64_t seed, float* adapters);

// The dropout mask [n] of the adapter of `kind` in block `layer` for the micro-batch whose
// seed is `seed`: each element 0 with probability p, else 1 / (1 - p). Counter-based (each
// element a hash of seed, layer, kind and index), so the backward pass, recompute and a resumed
// run regenerate exactly the mask the forward pass used.
void lora_dropout_mask(uint64_t seed, int layer, LoraTarget kind, float p, int64_t n, float* mask);

// W += scale B A for every adapter, in fp32 whatever the GEMM precision: the merged model
// computes what base + adapters compute.
void merge_lora(const LoraLayout& layout, const float* adapters, float* base_params);

}  // namespace anetrain
