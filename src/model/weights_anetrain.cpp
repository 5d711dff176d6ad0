// WeightFormat::kAnetrain: safetensors, one F32 tensor per parameter under Meta's Llama names,
// metadata "format" = "anetrain", "config" = the run config as JSON, "step" (docs/FORMATS.md).
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_input.h"
#include "io/safetensors.h"
#include "model/weight_codec.h"

namespace anetrain {
namespace {

class AnetrainCodec final : public WeightCodec {
 public:
  // Any safetensors file: an 8-byte header length, then the header's '{'.
  bool recognizes(const std::string& path) const override {
    char start[9] = {};
    std::ifstream in(path, std::ios::binary);
    return in.read(start, sizeof start) && start[8] == '{';
  }

  WeightsMetadata read_metadata(const std::string& path) const override {
    const SafetensorsFile file = SafetensorsFile::open(path);
    const auto& meta = file.metadata();
    WeightsMetadata out;
    try {
      if (auto it = meta.find("config"); it != meta.end()) {
        out.config =
            config_from_json(parse_json(it->second, "'" + path + "': its metadata 'config'"));
        out.config->model.validate();
      }
      if (auto it = meta.find("step"); it != meta.end()) out.step = std::stoll(it->second);
    } catch (const nlohmann::json::exception& e) {
      throw UserError("'" + path + "': its metadata 'config' is not valid JSON: " + e.what());
    } catch (const std::logic_error&) {  // std::stoll
      throw UserError("'" + path + "': its metadata 'step' is not a number");
    }
    return out;
  }

  void read(const std::string& path, const ParamLayout& layout, float* params) const override {
    read_layout_tensors(SafetensorsFile::open(path), layout, "", params);
  }

  void write(const std::string& path, const ParamLayout& layout, const float* params,
             const WeightsMetadata& metadata) const override {
    SafetensorsWriter writer;
    for (const ParamInfo& t : layout.tensors()) writer.add_f32(t.name, t.shape, params + t.offset);
    writer.set_metadata("format", "anetrain");
    if (metadata.config) writer.set_metadata("config", config_to_json(*metadata.config).dump());
    if (metadata.step >= 0) writer.set_metadata("step", std::to_string(metadata.step));
    writer.write(path);
  }
};

}  // namespace

const WeightCodec& anetrain_codec() {
  static const AnetrainCodec codec;
  return codec;
}

}  // namespace anetrain
