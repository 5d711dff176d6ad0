// What a LoRA run keeps (docs/FORMATS.md "LoRA adapters"): its checkpoint directory holds
// adapters.safetensors in place of model.safetensors, and state.json's "lora" entry records the
// adapters' config and the base model they adapt, by path and by the sha256 of its parameters
// as anetrain reads them (fp32 little-endian, ParamLayout order: the same digest whatever file
// format the base is stored in).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/lora.h"

namespace anetrain {

struct LoraRecord {
  LoraConfig config;
  std::string base_path;    // the base model as --init named it, made absolute
  std::string base_sha256;  // params_sha256 of the base's parameters
};

nlohmann::json lora_record_to_json(const LoraRecord& record);
// UserError naming `where` (a state.json path) for a missing or malformed entry. Without
// `digest_required` the base's sha256 may still be empty (a run that has not read its base).
LoraRecord lora_record_from_json(const nlohmann::json& j, const std::string& where,
                                 bool digest_required = true);

// sha256 of n floats as fp32 little-endian bytes, hex.
std::string params_sha256(const float* params, int64_t n);

// The base model's parameters: from `base_path` when given (a moved base), else from the
// record's path; a UserError if they are not the ones the adapters were trained on.
// `adapters_of` names the adapters' directory in messages.
std::vector<float> read_lora_base(const LoraRecord& record, const std::string& base_path,
                                  const std::string& adapters_of);

// adapters.safetensors: one F32 tensor per LoraLayout tensor ("layers.0.attention.wq.lora_A"),
// with the config and base digest as metadata, so the file alone says what it adapts.
// `layout` is a LoraLayout's params().
void write_adapters(const std::string& path, const ParamLayout& layout, const float* adapters,
                    const LoraRecord& record, int64_t step);
void read_adapters(const std::string& path, const ParamLayout& layout, float* adapters);

}  // namespace anetrain
