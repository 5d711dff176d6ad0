#include "model/weights.h"

#include <filesystem>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/weight_codec.h"

namespace anetrain {

// Each defined in the format's own file.
const WeightCodec& anetrain_codec();     // weights_anetrain.cpp
const WeightCodec& llama2c_codec();      // weights_llama2c.cpp
const WeightCodec& llama2c_v1_codec();   // weights_llama2c.cpp
const WeightCodec& huggingface_codec();  // weights_hf.cpp
const WeightCodec& gguf_codec();         // weights_gguf.cpp

namespace {

struct Registered {
  WeightFormat format;
  const char* name;
  const WeightCodec& (*codec)();
};

// Every format, in the order detect_weight_format() tries them.
constexpr Registered kFormats[] = {
    {WeightFormat::kAnetrain, "anetrain", anetrain_codec},
    {WeightFormat::kLlama2cV1, "llama2c-v1", llama2c_v1_codec},
    {WeightFormat::kLlama2c, "llama2c", llama2c_codec},
    {WeightFormat::kHuggingFace, "hf", huggingface_codec},
    {WeightFormat::kGguf, "gguf", gguf_codec},
};

const Registered& registered(WeightFormat format) {
  for (const Registered& r : kFormats)
    if (r.format == format) return r;
  check_failed("registered(format)", __FILE__, __LINE__, "a weight format without a codec");
}

}  // namespace

std::string weight_format_name(WeightFormat format) { return registered(format).name; }

std::vector<std::string> weight_format_names() {
  std::vector<std::string> names;
  for (const Registered& r : kFormats) names.push_back(r.name);
  return names;
}

WeightFormat weight_format_named(const std::string& name) {
  std::string known;
  for (const Registered& r : kFormats) {
    if (r.name == name) return r.format;
    known += (known.empty() ? "" : ", ") + std::string(r.name);
  }
  throw UserError("weight format '" + name + "' is unknown: use one of " + known);
}

WeightFormat detect_weight_format(const std::string& path) {
  // Files, and directories (a Hugging Face model): each codec recognizes its own.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw UserError("'" + path + "' is not a weights file (no such file or directory)");
  if (std::optional<WeightFormat> format = weight_format_of(path)) return *format;
  std::string names;
  for (const Registered& r : kFormats) names += (names.empty() ? "" : ", ") + std::string(r.name);
  throw UserError("'" + path + "' is in no weights format anetrain reads (" + names + ")");
}

std::optional<WeightFormat> weight_format_of(const std::string& path) {
  for (const Registered& r : kFormats)
    if (r.codec().recognizes(path)) return r.format;
  return std::nullopt;
}

WeightsMetadata read_weights_metadata(WeightFormat format, const std::string& path) {
  return registered(format).codec().read_metadata(path);
}

void read_weights(WeightFormat format, const std::string& path, const ParamLayout& layout,
                  float* params) {
  registered(format).codec().read(path, layout, params);
}

void write_weights(WeightFormat format, const std::string& path, const ParamLayout& layout,
                   const float* params, const WeightsMetadata& metadata) {
  registered(format).codec().write(path, layout, params, metadata);
}

void read_layout_tensors(const SafetensorsFile& file, const ParamLayout& layout,
                         const std::string& prefix, float* out) {
  for (const ParamInfo& t : layout.tensors()) {
    const std::string name = prefix + t.name;
    if (!file.has(name))
      throw UserError("'" + file.path() + "' has no tensor '" + name +
                      "': it was written for a different model config");
    if (file.shape(name) != t.shape)
      throw UserError("'" + file.path() + "': tensor '" + name +
                      "' has a different shape than the model config expects");
    file.read_f32(name, out + t.offset, t.numel);
  }
}

}  // namespace anetrain
