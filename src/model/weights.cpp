#include "model/weights.h"

#include <filesystem>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/weight_codec.h"

namespace anetrain {

// Each defined in the format's own file.
const WeightCodec& anetrain_codec();  // weights_anetrain.cpp
const WeightCodec& gguf_codec();      // weights_gguf.cpp

namespace {

struct Registered {
  WeightFormat format;
  const char* name;
  const WeightCodec& (*codec)();
};

// Every format, in the order detect_weight_format() tries them.
constexpr Registered kFormats[] = {
    {WeightFormat::kAnetrain, "anetrain", anetrain_codec},
    {WeightFormat::kGguf, "gguf", gguf_codec},
};

const Registered& registered(WeightFormat format) {
  for (const Registered& r : kFormats)
    if (r.format == format) return r;
  check_failed("registered(format)", __FILE__, __LINE__, "a weight format without a codec");
}

}  // namespace

std::string weight_format_name(WeightFormat format) { return registered(format).name; }

WeightFormat detect_weight_format(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw UserError("'" + path + "' is not a weights file (no such file)");
  for (const Registered& r : kFormats)
    if (r.codec().recognizes(path)) return r.format;
  throw UserError("'" + path + "' is in no weights format anetrain reads (safetensors)");
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
