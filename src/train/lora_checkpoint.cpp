#include "train/lora_checkpoint.h"

#include <bit>
#include <filesystem>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "model/weights.h"
#include "train/model_source.h"

namespace anetrain {

nlohmann::json lora_record_to_json(const LoraRecord& record) {
  const LoraConfig& c = record.config;
  return {{"rank", c.rank},
          {"alpha", c.alpha},
          {"targets", c.targets},
          {"dropout", c.dropout},
          {"base", {{"path", record.base_path}, {"sha256", record.base_sha256}}}};
}

LoraRecord lora_record_from_json(const nlohmann::json& j, const std::string& where,
                                 bool digest_required) {
  try {
    LoraRecord r;
    r.config.rank = j.at("rank").get<int>();
    r.config.alpha = j.at("alpha").get<float>();
    r.config.targets = j.at("targets").get<std::vector<std::string>>();
    r.config.dropout = j.at("dropout").get<float>();
    r.base_path = j.at("base").at("path").get<std::string>();
    r.base_sha256 = j.at("base").at("sha256").get<std::string>();
    const bool pending = r.base_sha256.empty() && !digest_required;
    const bool hex = r.base_sha256.size() == 64 &&
                     r.base_sha256.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!pending && !hex)
      throw UserError(where + ": lora.base.sha256 is not 64 lowercase hex digits (the file is " +
                      "damaged): restore the run directory, or train the adapters again");
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw UserError(where + ": malformed 'lora' entry (" + e.what() + ")");
  }
}

std::string params_sha256(const float* params, int64_t n) {
  static_assert(std::endian::native == std::endian::little, "digests are of little-endian fp32");
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(params),
                                     static_cast<size_t>(n) * sizeof(float)));
}

std::vector<float> read_lora_base(const LoraRecord& record, const std::string& base_path,
                                  const std::string& adapters_of) {
  const std::string path = base_path.empty() ? record.base_path : base_path;
  if (!std::filesystem::exists(path))
    throw UserError("the base model of the LoRA adapters in '" + adapters_of + "' ('" + path +
                    "') does not exist: give its new place with --base (merge), --checkpoint "
                    "(sample, eval) or --init (train --resume)");
  const ModelSource base = open_model_source(path);
  std::vector<float> params = read_model_params(base);
  const std::string digest = params_sha256(params.data(), static_cast<int64_t>(params.size()));
  if (digest != record.base_sha256)
    throw UserError("'" + path + "' is not the base model the LoRA adapters in '" + adapters_of +
                    "' were trained on (sha256 of its weights " + digest.substr(0, 12) +
                    "..., the adapters' base " + record.base_sha256.substr(0, 12) +
                    "...): give the original base model");
  return params;
}

void write_adapters(const std::string& path, const ParamLayout& layout, const float* adapters,
                    const LoraRecord& record, int64_t step) {
  SafetensorsWriter file;
  for (const ParamInfo& t : layout.tensors()) file.add_f32(t.name, t.shape, adapters + t.offset);
  file.set_metadata("format", "anetrain-lora");
  file.set_metadata("lora", lora_record_to_json(record).dump());
  file.set_metadata("step", std::to_string(step));
  file.write(path);
}

void read_adapters(const std::string& path, const ParamLayout& layout, float* adapters) {
  read_layout_tensors(SafetensorsFile::open(path), layout, "", adapters);
}

}  // namespace anetrain
