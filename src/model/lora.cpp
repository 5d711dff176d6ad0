#include "model/lora.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>

#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace anetrain {
namespace {

// splitmix64's finalizer: a bijective hash of a 64-bit counter.
uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Offset of target `name`'s weight in block `lp`, and its [out, in] shape.
struct TargetWeight {
  int64_t offset, out, in;
};
TargetWeight target_weight(const std::string& name, const LayerParams& lp, const ModelConfig& c) {
  const int64_t D = c.dim, F = c.hidden_dim, QD = c.q_dim(), KD = c.kv_dim();
  if (name == "wq") return {lp.wq, QD, D};
  if (name == "wk") return {lp.wk, KD, D};
  if (name == "wv") return {lp.wv, KD, D};
  if (name == "wo") return {lp.wo, D, QD};
  if (name == "w1") return {lp.w1, F, D};
  if (name == "w2") return {lp.w2, D, F};
  return {lp.w3, F, D};  // "w3"; names are checked before this is reached
}

std::string joined_targets() { return join_lora_targets(lora_target_names()); }

}  // namespace

std::string join_lora_targets(const std::vector<std::string>& targets) {
  std::string all;
  for (const std::string& t : targets) all += (all.empty() ? "" : ",") + t;
  return all;
}

const std::vector<std::string>& lora_target_names() {
  static const std::vector<std::string> names = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};
  return names;
}

std::vector<std::string> parse_lora_targets(const std::string& list) {
  std::vector<std::string> targets;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    const auto& known = lora_target_names();
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw UserError("--lora-targets: '" + name +
                      "' is not a weight LoRA can adapt: use some of " + joined_targets());
    if (std::find(targets.begin(), targets.end(), name) != targets.end())
      throw UserError("--lora-targets: '" + name + "' is given twice: name each weight once");
    targets.push_back(name);
  }
  if (targets.empty())
    throw UserError("--lora-targets is empty: name the weights to adapt, e.g. " + joined_targets());
  return targets;
}

void LoraConfig::validate(const ModelConfig& model) const {
  if (targets.empty())
    throw UserError("LoRA needs at least one target weight: use --lora-targets " +
                    joined_targets());
  parse_lora_targets(join_lora_targets(targets));  // unknown or repeated names
  int64_t smallest = INT64_MAX;
  const LayerParams none{};
  for (const std::string& t : targets) {
    const TargetWeight w = target_weight(t, none, model);
    smallest = std::min({smallest, w.out, w.in});
  }
  if (rank < 1 || rank > smallest)
    throw UserError("--lora-rank " + std::to_string(rank) + " is out of range: use 1 to " +
                    std::to_string(smallest) + " (the smallest dimension of a targeted weight)");
  if (!(alpha > 0) || !std::isfinite(alpha))
    throw UserError(
        "--lora-alpha must be a positive number (the update is scaled by alpha / rank)");
  if (!(dropout >= 0 && dropout < 1)) throw UserError("--lora-dropout must be in [0, 1)");
}

LoraLayout::LoraLayout(const ModelConfig& model, const LoraConfig& lora) : lora_(lora) {
  lora.validate(model);
  const ParamLayout base(model);
  std::vector<std::pair<std::string, std::vector<int64_t>>> tensors;
  int64_t next = 0;
  for (int l = 0; l < model.n_layers; ++l) {
    for (int kind = 0; kind < kLoraTargetCount; ++kind) {
      const std::string& name = lora_target_names()[kind];
      if (std::find(lora.targets.begin(), lora.targets.end(), name) == lora.targets.end()) continue;
      const TargetWeight w = target_weight(name, base.layer(l), model);
      const ParamInfo* info = nullptr;
      for (const ParamInfo& t : base.tensors())
        if (t.offset == w.offset) info = &t;
      ANETRAIN_CHECK(info != nullptr, "a LoRA target without its base tensor");
      const std::string prefix =
          info->name.substr(0, info->name.size() - std::string("weight").size());
      Adapter a{.layer = l,
                .target = name,
                .kind = static_cast<LoraTarget>(kind),
                .out = w.out,
                .in = w.in,
                .base = w.offset};
      a.a = next;
      next += lora.rank * w.in;
      a.b = next;
      next += w.out * lora.rank;
      tensors.push_back({prefix + "lora_A", {lora.rank, w.in}});
      tensors.push_back({prefix + "lora_B", {w.out, lora.rank}});
      adapters_.push_back(a);
    }
  }
  params_ = ParamLayout::of(tensors);
  ANETRAIN_CHECK(params_.total() == next, "LoRA layout offsets disagree");
}

void init_lora(const LoraLayout& layout, uint64_t seed, float* adapters) {
  Rng rng(seed);
  const int64_t r = layout.config().rank;
  for (const LoraLayout::Adapter& a : layout.adapters()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(a.in));
    for (int64_t i = 0; i < r * a.in; ++i)
      adapters[a.a + i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
    std::fill(adapters + a.b, adapters + a.b + a.out * r, 0.0f);
  }
}

void lora_dropout_mask(uint64_t seed, int layer, LoraTarget kind, float p, int64_t n, float* mask) {
  const uint64_t stream =
      mix64(seed ^ mix64((static_cast<uint64_t>(layer) << 8) | static_cast<uint64_t>(kind)));
  // Kept when the top 24 bits of the element's hash are at or above p * 2^24.
  const uint64_t cut = static_cast<uint64_t>(std::ceil(static_cast<double>(p) * (1 << 24)));
  const float kept = 1.0f / (1.0f - p);
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
          mask[i] = (mix64(stream + static_cast<uint64_t>(i)) >> 40) >= cut ? kept : 0.0f;
      },
      1 << 16);
}

void merge_lora(const LoraLayout& layout, const float* adapters, float* base_params) {
  // W[out, in] += scale B[out, r] A[r, in], row by row as r scaled rows of A added in turn: a
  // loop the compiler vectorizes, so merging (once per load) needs no GEMM library and the
  // file readers that merge stay free of one.
  const int64_t r = layout.config().rank;
  const float scale = layout.config().scale();
  for (const LoraLayout::Adapter& a : layout.adapters()) {
    const float* A = adapters + a.a;
    const float* B = adapters + a.b;
    float* W = base_params + a.base;
    parallel_for(
        a.out,
        [&](int64_t begin, int64_t end) {
          for (int64_t o = begin; o < end; ++o) {
            float* row = W + o * a.in;
            for (int64_t k = 0; k < r; ++k) {
              const float b = scale * B[o * r + k];
              const float* arow = A + k * a.in;
              for (int64_t i = 0; i < a.in; ++i) row[i] += b * arow[i];
            }
          }
        },
        16);
  }
}

}  // namespace anetrain
